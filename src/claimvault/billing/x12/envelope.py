"""The X12 envelope around a transaction: trading partners (ISA/GS identities, submitter and receiver), control
numbers handed out per partner and never reused, delimiters, and the rules that keep submitted text from
colliding with them (free text is cleaned, identifiers and codes that would collide are refused).

Errors raised here name the field, never its value.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from claimvault.errors import ValidationFailed

ISA_ID_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})
MAX_INTERCHANGE_NUMBER = 999_999_999  # ISA13: 9 digits
MAX_GROUP_NUMBER = 999_999_999  # GS06: 1-9 digits
MAX_TRANSACTION_NUMBER = 999_999_999  # ST02: 4-9 characters


class X12ContentError(ValidationFailed):
    """A value cannot be carried in the file as given. ``field`` is a dotted path; the value is never quoted."""

    code = "x12_content"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ControlNumbersExhausted(ValidationFailed):
    code = "x12_control_numbers_exhausted"


@dataclass(frozen=True)
class Delimiters:
    """Element, component, repetition and segment separators (ISA carries the first three and ends with the
    fourth)."""

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"

    def __post_init__(self) -> None:
        chars = (self.element, self.component, self.repetition, self.segment)
        if any(len(c) != 1 or c.isalnum() or c.isspace() for c in chars) or len(set(chars)) != 4:
            raise X12ContentError("delimiters", "must be four distinct single non-alphanumeric characters")

    @property
    def reserved(self) -> frozenset[str]:
        return frozenset((self.element, self.component, self.repetition, self.segment))


DEFAULT_DELIMITERS = Delimiters()

# The X12 5010 extended character set, minus what we never emit (control characters).
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"&'()*+,-./:;?=%@[]_{}\\|<>#$^~")
_SPACES = re.compile(r"\s+")


def clean_text(value: str, *, max_len: int, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Free text (names, addresses, cities) made safe for an element: accents folded to ASCII, upper case,
    delimiters and characters outside the X12 extended set replaced by a space, spaces collapsed, cut to
    ``max_len``. May return an empty string; callers that need a value check for it."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii").upper()
    reserved = delimiters.reserved
    kept = "".join(ch if ch in _ALLOWED and ch not in reserved else " " for ch in folded)
    return _SPACES.sub(" ", kept).strip()[:max_len].rstrip()


def identifier(
    value: str | None,
    *,
    field: str,
    max_len: int,
    min_len: int = 1,
    pattern: str | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> str:
    """An identifier or code carried as is. Refused (``X12ContentError`` naming ``field``) when missing, too
    short or long, not matching ``pattern``, or containing a delimiter or a character outside the X12 extended
    set: changing an identifier would silently bill the wrong thing."""
    if value is None or not value.strip():
        raise X12ContentError(field, "is required")
    text = value.strip()
    if any(ch in delimiters.reserved for ch in text):
        raise X12ContentError(field, "contains an X12 delimiter")
    if any(ch not in _ALLOWED for ch in text):
        raise X12ContentError(field, "contains a character outside the X12 character set")
    if not min_len <= len(text) <= max_len:
        raise X12ContentError(field, f"must be {min_len} to {max_len} characters")
    if pattern is not None and not re.fullmatch(pattern, text):
        raise X12ContentError(field, "has the wrong format")
    return text


@dataclass(frozen=True)
class TradingPartner:
    """Who we exchange files with: the clearinghouse or payer receiving the 837P, and who we are to them.

    ``key`` identifies the partner for control numbers (one sequence of each kind per key)."""

    key: str
    isa_sender_qualifier: str
    isa_sender_id: str
    isa_receiver_qualifier: str
    isa_receiver_id: str
    gs_sender_code: str
    gs_receiver_code: str
    submitter_name: str
    submitter_id: str
    submitter_contact_name: str
    submitter_contact_phone: str  # 10 digits
    receiver_name: str
    receiver_id: str
    usage: Literal["P", "T"] = "T"
    acknowledgment_requested: bool = False  # ISA14 (TA1)
    delimiters: Delimiters = DEFAULT_DELIMITERS

    def __post_init__(self) -> None:
        d = self.delimiters
        if not self.key:
            raise X12ContentError("partner.key", "is required")
        for name in ("isa_sender_id", "isa_receiver_id", "gs_sender_code", "gs_receiver_code", "submitter_id",
                     "receiver_id"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, str) or value != value.strip():
                raise X12ContentError(f"partner.{name}", "must not start or end with spaces")
        for name in ("isa_sender_qualifier", "isa_receiver_qualifier"):
            if getattr(self, name) not in ISA_ID_QUALIFIERS:
                raise X12ContentError(f"partner.{name}", "is not an ISA identification qualifier")
        for name in ("isa_sender_id", "isa_receiver_id"):
            identifier(getattr(self, name), field=f"partner.{name}", max_len=15, delimiters=d)
        for name in ("gs_sender_code", "gs_receiver_code"):
            identifier(getattr(self, name), field=f"partner.{name}", min_len=2, max_len=15, delimiters=d)
        for name in ("submitter_id", "receiver_id"):
            identifier(getattr(self, name), field=f"partner.{name}", min_len=2, max_len=80, delimiters=d)
        for name in ("submitter_name", "receiver_name", "submitter_contact_name"):
            if not clean_text(getattr(self, name), max_len=60, delimiters=d):
                raise X12ContentError(f"partner.{name}", "is required")
        identifier(self.submitter_contact_phone, field="partner.submitter_contact_phone", max_len=10,
                   pattern=r"[0-9]{10}", delimiters=d)  # fmt: skip
        if self.usage not in ("P", "T"):
            raise X12ContentError("partner.usage", "must be P or T")

    def __repr__(self) -> str:
        return f"TradingPartner(key={self.key!r}, usage={self.usage!r})"


class ControlNumbers(Protocol):
    """Hands out ISA13, GS06 and ST02 numbers, one increasing sequence of each kind per partner. A number once
    handed out is never handed out again for that partner, even if the file it was meant for is never sent.
    Implementations raise ``ControlNumbersExhausted`` rather than wrap around."""

    def next_interchange(self, *, partner: str) -> int: ...

    def next_group(self, *, partner: str) -> int: ...

    def next_transaction(self, *, partner: str) -> int: ...


class InMemoryControlNumbers:
    """Process-local counters for tests and benchmarks (the service uses the database-backed sequences)."""

    def __init__(self, *, start: int = 1) -> None:
        if start < 1:
            raise ValueError("start must be positive")
        self._start = start
        self._last: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _next(self, kind: str, partner: str, maximum: int) -> int:
        with self._lock:
            number = self._last.get((kind, partner), self._start - 1) + 1
            if number > maximum:
                raise ControlNumbersExhausted(f"{kind} control numbers are exhausted for this partner")
            self._last[(kind, partner)] = number
            return number

    def next_interchange(self, *, partner: str) -> int:
        return self._next("interchange", partner, MAX_INTERCHANGE_NUMBER)

    def next_group(self, *, partner: str) -> int:
        return self._next("group", partner, MAX_GROUP_NUMBER)

    def next_transaction(self, *, partner: str) -> int:
        return self._next("transaction", partner, MAX_TRANSACTION_NUMBER)


def d8(day: date) -> str:
    """A date as CCYYMMDD (date format qualifier D8)."""
    return day.strftime("%Y%m%d")


class SegmentList:
    """Collects the segments of one transaction set; trailing empty elements and components are dropped."""

    def __init__(self, delimiters: Delimiters) -> None:
        self.d = delimiters
        self.items: list[str] = []

    def add(self, *elements: str | None) -> None:
        values = [e or "" for e in elements]
        while values and not values[-1]:
            values.pop()
        self.items.append(self.d.element.join(values) + self.d.segment)

    def composite(self, *components: str | None) -> str:
        values = [c or "" for c in components]
        while values and not values[-1]:
            values.pop()
        return self.d.component.join(values)


class ValueRules:
    """Values as a writer puts them in a file for these delimiters: free text cleaned, identifiers checked."""

    def __init__(self, delimiters: Delimiters) -> None:
        self.d = delimiters

    def text(self, value: str | None, *, field: str, max_len: int, required: bool = True) -> str:
        cleaned = clean_text(value or "", max_len=max_len, delimiters=self.d)
        if required and not cleaned:
            raise X12ContentError(field, "is required")
        return cleaned

    def ident(
        self, value: str | None, *, field: str, max_len: int, min_len: int = 1, pattern: str | None = None
    ) -> str:
        return identifier(value, field=field, max_len=max_len, min_len=min_len, pattern=pattern, delimiters=self.d)

    def npi(self, value: str | None, *, field: str) -> str:
        return self.ident(value, field=field, max_len=10, pattern=r"[12][0-9]{9}")
