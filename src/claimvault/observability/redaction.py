"""Redaction of PHI-shaped values (SSN, card, MBI, birth dates, email, protected fields) from log records."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, Final

from claimvault.errors import ClaimVaultError

REDACTED: Final = "[REDACTED]"
UNFORMATTABLE: Final = "[REDACTED:UNFORMATTABLE]"

# Attributes every LogRecord has (plus ones the stdlib/uvicorn add); anything else on a record is an `extra=`.
STANDARD_RECORD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
# Set on a record once it has been redacted, so a second pass (filter, then formatter) is a no-op.
REDACTED_MARK: Final = "_claimvault_redacted"

_MAX_DEPTH: Final = 4
_MAX_ITEMS: Final = 100

_YEAR = r"(?:18|19|20)\d{2}"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MM = r"(?:0[1-9]|1[0-2])"
_DD = r"(?:0[1-9]|[12]\d|3[01])"
# MBI letters exclude S, L, O, I, B, Z.
_MBI_L = r"[AC-HJKMNP-RT-Y]"
_MBI_AN = r"[0-9AC-HJKMNP-RT-Y]"
# A context word, then a short gap without digits (and without "@", so an email is never swallowed by it).
_GAP = r"[^\d@]{0,15}?"

# Pass 1: every shape except payment cards, in one scan. Alternatives are tried left to right per position.
_PASS1 = re.compile(
    r"(?P<email>(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    rf"|(?P<mbi>(?<![0-9A-Za-z])(?i:[1-9]{_MBI_L}{_MBI_AN}\d-?{_MBI_L}{_MBI_AN}\d-?{_MBI_L}{_MBI_L}\d\d)"
    r"(?![0-9A-Za-z]))"
    r"|(?P<ssn>\d{3}[- ]\d{2}[- ]\d{4})"
    rf"|(?i:ssn|social){_GAP}(?P<ssn9>\d{{9}})(?!\d)"
    rf"|(?P<ymd>(?<!\d){_YEAR}(?P<s1>[-/]){_MONTH}(?P=s1){_DAY}(?!\d))"
    rf"|(?P<mdy>(?<!\d){_MONTH}(?P<s2>[-/]){_DAY}(?P=s2){_YEAR}(?!\d))"
    rf"|(?i:dob|birth|born){_GAP}(?P<dob8>{_YEAR}{_MM}{_DD}|{_MM}{_DD}{_YEAR})(?!\d)"
)
_PASS1_TRIGGER = re.compile(r"[\d@]")
_PASS1_LABELS: Final = {
    "email": "[REDACTED:EMAIL]",
    "mbi": "[REDACTED:MBI]",
    "ssn": "[REDACTED:SSN]",
    "ssn9": "[REDACTED:SSN]",
    "ymd": "[REDACTED:DOB]",
    "mdy": "[REDACTED:DOB]",
    "dob8": "[REDACTED:DOB]",
}
# Groups whose match carries a context prefix that is kept; only the group itself is replaced.
_CONTEXT_GROUPS: Final = ("ssn9", "dob8")

# Pass 2: UUIDs are matched first and kept; then runs of digit groups joined by single spaces/dashes, which
# are redacted where 13-19 consecutive digits pass Luhn. Possessive quantifiers keep the scan linear.
_PASS2 = re.compile(
    r"(?P<uuid>(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"(?![0-9A-Za-z]))"
    r"|(?P<run>(?<![0-9A-Za-z])\d++(?![A-Za-z])(?:[ -]\d++(?![A-Za-z]))*+)"
)
_DIGIT_RUN_13 = re.compile(r"\d(?:[ -]?\d){12}")
_SEPARATOR = re.compile(r"([ -])")
_CARD = "[REDACTED:CARD]"


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    # Issuer numbers start with 2-9; a leading 0/1 is a counter or epoch timestamp, not a card.
    return 13 <= len(digits) <= 19 and digits[0] not in "01" and luhn_valid(digits)


def _redact_run(run: str) -> str:
    parts = _SEPARATOR.split(run)
    groups, seps = parts[0::2], parts[1::2]
    out: list[str] = []
    i, n = 0, len(groups)
    while i < n:
        end, digits = 0, ""
        for j in range(i, n):
            digits += groups[j]
            if len(digits) > 19:
                break
            if _is_card(digits):
                end = j + 1  # keep the longest valid span starting at i
        if end:
            out.append(_CARD)
        else:
            end = i + 1
            out.append(groups[i])
        if end < n:
            out.append(seps[end - 1])
        i = end
    return "".join(out)


class Redactor:
    """Replaces identifier-shaped values in text with typed placeholders such as ``[REDACTED:SSN]``.

    ``protected_field_names`` (case-insensitive) additionally have their values redacted wherever they appear
    as ``name=value``, ``name: value``, ``"name": "value"`` and similar, and as ``extra=`` keys.
    """

    def __init__(self, protected_field_names: Iterable[str] = ()) -> None:
        names = sorted({n.strip().lower() for n in protected_field_names if n.strip()}, key=len, reverse=True)
        self.protected_field_names: frozenset[str] = frozenset(names)
        self._field_re: re.Pattern[str] | None = None
        self._key_re: re.Pattern[str] | None = None
        if names:
            alternation = "|".join(re.escape(n) for n in names)
            self._field_re = re.compile(
                rf"(?<![A-Za-z0-9])(?i:{alternation})(?:\\?[\"'])?\s*[:=]\s*"
                r"(?P<val>\"[^\"\\]*(?:\\.[^\"\\]*)*\"?|'[^'\\]*(?:\\.[^'\\]*)*'?"
                r"|\\\"[^\"]*\"?|\\'[^']*'?|\[[^\]]*\]?|\{[^}]*\}?|[^,\s\]\)\}]+)"
            )
            self._key_re = re.compile(rf"(?:.*[^A-Za-z0-9])?(?:{alternation})", re.IGNORECASE | re.DOTALL)

    def redact(self, text: str) -> str:
        """Return ``text`` with every recognised identifier replaced by a placeholder."""
        if _PASS1_TRIGGER.search(text):
            text = _PASS1.sub(_replace_pass1, text)
            if _DIGIT_RUN_13.search(text):
                text = _PASS2.sub(_replace_pass2, text)
        if self._field_re is not None:
            text = self._field_re.sub(_replace_field, text)
        return text

    def is_protected_key(self, key: str) -> bool:
        """True when ``key`` is (or ends in) a protected field name, e.g. ``family_name``/``patient.ssn``."""
        return self._key_re is not None and self._key_re.fullmatch(key) is not None

    def redact_value(self, value: Any, _depth: int = 0) -> Any:
        """Redact a structured value (an ``extra=``), returning something JSON-serializable."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, int | float):
            text = str(value)
            redacted = self.redact(text)
            return value if redacted == text else redacted
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, BaseException):
            return safe_exception_text(value, self)
        if _depth >= _MAX_DEPTH:
            return self.redact(str(value))
        if isinstance(value, Mapping):
            result: dict[str, Any] = {}
            for count, (key, item) in enumerate(value.items()):
                if count >= _MAX_ITEMS:
                    break
                name = self.redact(str(key))
                result[name] = REDACTED if self.is_protected_key(str(key)) else self.redact_value(item, _depth + 1)
            return result
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item, _depth + 1) for item in islice(value, _MAX_ITEMS)]
        return self.redact(str(value))


def _replace_pass1(match: re.Match[str]) -> str:
    # lastgroup is the outermost group of the matching alternative (nested separator groups close first).
    name = match.lastgroup or ""
    label = _PASS1_LABELS.get(name, REDACTED)
    if name in _CONTEXT_GROUPS:
        return match.group(0)[: match.start(name) - match.start()] + label
    return label


def _replace_pass2(match: re.Match[str]) -> str:
    if match.lastgroup == "uuid":
        return match.group(0)
    return _redact_run(match.group(0))


def _replace_field(match: re.Match[str]) -> str:
    value = match.group("val")
    cut = match.start("val") - match.start()
    first = value[0]
    placeholder = f"{first}{REDACTED}{first}" if first in "\"'" else REDACTED
    return match.group(0)[:cut] + placeholder


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class (bare name for builtins)."""
    module = getattr(cls, "__module__", None)
    if module in (None, "builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def safe_exception_text(exc: BaseException, redactor: Redactor) -> str:
    """Text for an exception used as a log argument: our own message, otherwise only the class name."""
    if isinstance(exc, ClaimVaultError):
        return redactor.redact(str(getattr(exc, "message", "")))
    return f"<{qualified_name(type(exc))}>"


def _safe_arg(arg: Any, redactor: Redactor) -> Any:
    if isinstance(arg, BaseException):
        return safe_exception_text(arg, redactor)
    return arg


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Merge args into the message and redact it and every ``extra=`` in place. Never raises; idempotent."""
    if getattr(record, REDACTED_MARK, False):
        return
    try:
        args = record.args
        message = str(record.msg)
        if isinstance(args, tuple) and args:
            message = message % tuple(_safe_arg(a, redactor) for a in args)
        elif isinstance(args, Mapping) and args:
            message = message % {k: _safe_arg(v, redactor) for k, v in args.items()}
        record.msg = redactor.redact(message)
    except Exception:  # noqa: BLE001 - logging must never raise; the message is dropped instead
        record.msg = UNFORMATTABLE
    record.args = None
    attrs = record.__dict__
    for key in [k for k in attrs if k not in STANDARD_RECORD_ATTRS and not k.startswith("_")]:
        try:
            attrs[key] = REDACTED if redactor.is_protected_key(key) else redactor.redact_value(attrs[key])
        except Exception:  # noqa: BLE001 - as above
            attrs[key] = UNFORMATTABLE
    attrs[REDACTED_MARK] = True


class RedactionFilter(logging.Filter):
    """Handler filter: redacts the final message and extras; drops sub-WARNING ``sqlalchemy.engine`` records.

    SQL echo logs statements and bound parameters at INFO, so those records never reach the output even when
    ``echo=True`` lowers that logger's level.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and record.name.startswith("sqlalchemy.engine"):
            return False
        redact_record(record, self.redactor)
        return True
