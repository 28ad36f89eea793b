"""Analysis of one file's pieces: what the structure asserts (an X12/HL7 element or FHIR identifier whose meaning
fixes a value's type), a per-file memo of short values, and batched recognizer passes over field values.

Batching: a structured file holds thousands of short field values, and a recognizer pass has a fixed cost per
call. Values without an asserted type, under field names the recognizers cannot tell apart (one
``findings.field_signature``: the same context word sets occur in them), are joined with ``PAD`` (a NUL) and
analysed in one pass; each finding is mapped back to its value. No recognizer reads across the NUL: it is neither a word
character, a digit, a separator nor whitespace, so no pattern matches through it and every character check treats
it as the start or end of a text, and context windows (``findings.window``) stop at it. A batch therefore gives the
findings of one pass per value (``tests/test_discovery_batching.py`` compares them). Name fields (where a whole value
is read as one name) and values holding NUL or changing length when lower-cased are analysed one by one.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator
from datetime import date

from claimvault.discovery.extract_base import MAX_VALUE, Piece
from claimvault.discovery.findings import Finding, field_key, field_signature
from claimvault.discovery.names import is_name_field
from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.recognizers import analyze, redact, resolve_overlaps
from claimvault.discovery.validators import aba_routing_valid, card_valid, dea_valid, mbi_valid, npi_valid, ssn_valid

ASSERTED_CONFIDENCE = 0.85  # a value whose X12/HL7 element or FHIR identifier meaning fixes its type
PAD = "\x00"
MEMO_MAX_TEXT = 64  # pieces up to this long are memoised per file (field values: codes, qualifiers, ids, names)
MEMO_MAX_ENTRIES = 4096
BATCH_MAX_TEXT = 1024  # longer values (free-text notes) are analysed one by one
BATCH_CHARS = 1 << 16  # characters of values held before a batch is analysed

_DOB_DIGITS = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\d{2,6}(?:\.\d+)?)?(?:[+-]\d{4})?")
_DOB_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DOB_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _dob_valid(value: str) -> bool:
    """YYYYMMDD (HL7/X12, a time may follow), YYYY-MM-DD (FHIR) or MM/DD/YYYY, a real date in 1850-2100."""
    match = _DOB_DIGITS.fullmatch(value) or _DOB_ISO.fullmatch(value)
    if match:
        year, month, day = (int(g) for g in match.groups())
    elif slashed := _DOB_SLASHED.fullmatch(value):
        month, day, year = (int(g) for g in slashed.groups())
    else:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return 1850 <= year <= 2100


_PHONE_PUNCT = re.compile(r"[\s().+-]")


def _phone_valid(value: str) -> bool:
    digits = _PHONE_PUNCT.sub("", value)
    if not digits.isdigit() or len(digits) not in (10, 11) or (len(digits) == 11 and digits[0] != "1"):
        return False
    return digits[-10] not in "01" and digits[-7] not in "01"


def _matches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda v: compiled.fullmatch(v) is not None


_NAME = re.compile(r"[^\W\d_]+(?:[ '\u2019.,-]{1,2}[^\W\d_]+)*\.?")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,31}")
_TWO_LETTERS = re.compile(r"[^\W\d_]{2}")


def _id_valid(value: str) -> bool:
    return _ID.fullmatch(value) is not None and any(ch.isdigit() for ch in value)


# What a value must look like for the type its structure asserts; checksum types must pass their validator.
ASSERTED_CHECKS: dict[str, tuple[Callable[[str], bool], bool]] = {  # type -> (check, checksum-validated)
    "US_SSN": (ssn_valid, True),
    "US_NPI": (npi_valid, True),
    "MEDICARE_MBI": (mbi_valid, True),
    "DEA_NUMBER": (dea_valid, True),
    "ABA_ROUTING": (aba_routing_valid, True),
    "CREDIT_CARD": (card_valid, True),
    "DATE_OF_BIRTH": (_dob_valid, False),
    "PHONE": (_phone_valid, False),
    "EMAIL": (_matches(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,24}"), False),
    "ZIP_CODE": (_matches(r"\d{5}(?:-?\d{4})?"), False),
    "PERSON": (lambda v: _NAME.fullmatch(v) is not None and sum(ch.isalpha() for ch in v) >= 2, False),
    "STREET_ADDRESS": (lambda v: len(v) >= 4 and _TWO_LETTERS.search(v) is not None, False),
    "MRN": (_id_valid, False),
    "MEMBER_ID": (_id_valid, False),
    "ICD10_CM": (_matches(r"[A-TV-Z]\d[0-9AB](?:\.?[0-9A-TV-Z]{1,4})?"), False),
    "PROCEDURE_CODE": (_matches(r"\d{4}[0-9FTU]|[A-V]\d{4}"), False),
}  # fmt: skip
_ANY_VALUE: tuple[Callable[[str], bool], bool] = (lambda v: any(ch.isalnum() for ch in v), False)


@functools.lru_cache(maxsize=1024)
def _structure_rule(context: str | None) -> str:
    return re.sub(r"\s+", "_", f"structure.{context or 'field'}")[:80]


def asserted_finding(piece: Piece) -> Finding | None:
    """The finding a piece's asserted type gives over its trimmed value, or None when the value does not fit the
    type (empty, blank, too long, wrong shape, or failing the type's checksum)."""
    if piece.asserted_type is None:
        return None
    value = piece.text.strip()
    if not value or len(value) > MAX_VALUE:
        return None
    check, validated = ASSERTED_CHECKS.get(piece.asserted_type, _ANY_VALUE)
    if not check(value):
        return None
    lead = len(piece.text) - len(piece.text.lstrip())
    rule = _structure_rule(piece.context)
    return Finding(piece.asserted_type, lead, lead + len(value), ASSERTED_CONFIDENCE, rule, redact(value), validated)


# Asserted types the recognizers could not make more specific: a field the structure fixes as one of these, whose
# whole value fits it, is reported without a recognizer pass (the hot path in X12, HL7 and FHIR). MRN and
# MEMBER_ID are not here: a member id field may hold an MBI, which the recognizers validate and must win.
FINAL_ASSERTED = frozenset({"PERSON", "DATE_OF_BIRTH", "ZIP_CODE", "STREET_ADDRESS", "PHONE", "EMAIL", "ICD10_CM",
                            "PROCEDURE_CODE"})  # fmt: skip

MemoKey = tuple[str, str | None, str | None]  # (text, context, asserted type)


def _single(piece: Piece, profile: ScanProfile) -> list[Finding]:
    """Findings of one piece on its own, relative to it (``owned`` not applied)."""
    asserted = asserted_finding(piece)
    if asserted is not None and (asserted.validated or asserted.type in FINAL_ASSERTED):
        return [asserted]
    if not piece.text.strip():
        return []
    found = analyze(piece.text, context=piece.context, profile=profile)
    if asserted is not None:
        found = resolve_overlaps([*found, asserted])
    return found


def _batchable(piece: Piece) -> bool:
    text = piece.text
    return (
        piece.asserted_type is None
        and piece.owned is None
        and len(text) <= BATCH_MAX_TEXT
        and PAD not in text
        and not _name_context(piece.context)
        and (text.isascii() or len(text.lower()) == len(text))
    )


@functools.lru_cache(maxsize=4096)
def _name_context(context: str | None) -> bool:
    return is_name_field(field_key(context))


def _signature(context: str | None) -> int:
    return field_signature(field_key(context))


def analyze_batch(texts: list[str], context: str | None, profile: ScanProfile) -> list[list[Finding]]:
    """Findings of each of ``texts`` (values of one field), from one recognizer pass over them joined by ``PAD``;
    the same findings as ``analyze`` on each text alone."""
    if len(texts) == 1:
        return [analyze(texts[0], context=context, profile=profile) if texts[0].strip() else []]
    starts: list[int] = []
    pos = 0
    for text in texts:
        starts.append(pos)
        pos += len(text) + len(PAD)
    out: list[list[Finding]] = [[] for _ in texts]
    for f in analyze(PAD.join(texts), context=context, profile=profile):
        i = bisect.bisect_right(starts, f.start) - 1
        f.start -= starts[i]  # a fresh finding of this pass: moved into its value's coordinates
        f.end -= starts[i]
        out[i].append(f)
    return out


class PieceAnalyzer:
    """Findings for the pieces of one file, in batches: ``add`` pieces, ``drain`` (piece, findings) pairs once
    a batch is due, and ``flush`` at the end of the file (or when it turns out unreadable). Findings are relative
    to their piece, ``owned`` applied."""

    def __init__(self, profile: ScanProfile) -> None:
        self.profile = profile
        self.memo: dict[MemoKey, list[Finding]] = {}
        self.ready: list[tuple[Piece, list[Finding]]] = []
        # field signature -> (a context with it, text -> pieces): fields alike to the recognizers share a pass
        self.waiting: dict[int, tuple[str | None, dict[str, list[Piece]]]] = {}
        self.waiting_chars = 0

    def add(self, piece: Piece) -> None:
        text = piece.text
        short = len(text) <= MEMO_MAX_TEXT
        if short:
            found = self.memo.get((text, piece.context, piece.asserted_type))
            if found is not None:
                self.ready.append((piece, _owned(piece, found)))
                return
        if _batchable(piece):
            group = self.waiting.get(signature := _signature(piece.context))
            if group is None:
                group = self.waiting[signature] = (piece.context, {})
            same = group[1].setdefault(text, [])
            same.append(piece)
            if len(same) == 1:
                self.waiting_chars += len(text) + len(PAD)
            if self.waiting_chars >= BATCH_CHARS:
                self._run_batches()
            return
        found = _single(piece, self.profile)
        if short:
            self._remember((text, piece.context, piece.asserted_type), found)
        self.ready.append((piece, _owned(piece, found)))

    def drain(self) -> Iterator[tuple[Piece, list[Finding]]]:
        ready, self.ready = self.ready, []
        return iter(ready)

    def flush(self) -> Iterator[tuple[Piece, list[Finding]]]:
        self._run_batches()
        return self.drain()

    def _run_batches(self) -> None:
        waiting, self.waiting, self.waiting_chars = self.waiting, {}, 0
        for context, by_text in waiting.values():
            texts = list(by_text)
            for text, found in zip(texts, analyze_batch(texts, context, self.profile), strict=True):
                for piece in by_text[text]:
                    if len(text) <= MEMO_MAX_TEXT:
                        self._remember((text, piece.context, None), found)
                    self.ready.append((piece, found))

    def _remember(self, key: MemoKey, found: list[Finding]) -> None:
        if len(self.memo) >= MEMO_MAX_ENTRIES:
            self.memo.clear()
        self.memo[key] = found


def _owned(piece: Piece, found: list[Finding]) -> list[Finding]:
    if piece.owned is None or not found:
        return found
    lo, hi = piece.owned
    return [f for f in found if lo <= f.start < hi]
