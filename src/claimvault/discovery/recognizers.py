"""Pattern recognizers for the checksum-validated identifiers and the common contact types.

``analyze(text, context=...)`` returns findings (type, character span, confidence, the rule that fired, a redacted
preview); the full value never leaves this module. A candidate must pass its validator; context words near it
(or the field name a structure-aware extractor passes as ``context``) raise its confidence. Forms that are
ambiguous without context (a bare 9-digit number as an SSN or routing number, a bare 10-digit number as an NPI,
a space-separated SSN) are reported only with context. Where findings overlap, a checksum-validated type outranks
a context-only one, then the higher score, then the longer span.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from claimvault.discovery.validators import aba_routing_valid, card_valid, dea_valid, mbi_valid, npi_valid, ssn_valid

REPORT_THRESHOLD = 0.5
CONTEXT_WINDOW = 48  # characters before a candidate searched for context words


@dataclass(frozen=True)
class Finding:
    type: str
    start: int
    end: int
    score: float
    rule: str
    preview: str
    validated: bool = False  # a checksum or structure validator accepted it


@dataclass(frozen=True)
class Recognizer:
    type: str
    rule: str
    pattern: re.Pattern[str]
    validate: Callable[[str], bool]
    score: float  # confidence without context
    with_context: float  # confidence with a context word nearby (or in the field name)
    context: tuple[str, ...] = ()
    validated: bool = True


def redact(value: str, keep: int = 2) -> str:
    """Mask every letter and digit but the last ``keep``; separators stay, so the shape is visible."""
    alnum = [i for i, ch in enumerate(value) if ch.isalnum()]
    shown = set(alnum[-keep:]) if keep else set()
    return "".join(ch if (i in shown or not ch.isalnum()) else "*" for i, ch in enumerate(value))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_B = r"(?<![\w.@-])"  # not inside a word, number, address or e-mail
_E = r"(?![\w@]|[-.]\w)"

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "US_SSN", "ssn.dashed", re.compile(_B + r"\d{3}-\d{2}-\d{4}" + _E), ssn_valid, 0.85, 0.95,
        ("ssn", "social security", "soc sec", "ss#", "ss #"),
    ),
    Recognizer(
        "US_SSN", "ssn.spaced_or_bare", re.compile(_B + r"\d{3}( ?)\d{2}\1\d{4}" + _E), ssn_valid, 0.3, 0.9,
        ("ssn", "social security", "soc sec", "ss#", "ss #"),
    ),
    Recognizer(
        "US_NPI", "npi.luhn_80840", re.compile(_B + r"[12]\d{9}" + _E), npi_valid, 0.4, 0.95,
        ("npi", "national provider", "provider id", "rendering", "billing provider", "referring"),
    ),
    Recognizer(
        "MEDICARE_MBI", "mbi.positions",
        re.compile(_B + r"[1-9][A-Z][0-9A-Z]\d-?[A-Z][0-9A-Z]\d-?[A-Z]{2}\d{2}" + _E), mbi_valid, 0.85, 0.97,
        ("mbi", "medicare", "beneficiary"),
    ),
    Recognizer(
        "DEA_NUMBER", "dea.checksum", re.compile(_B + r"[A-Z][A-Z9]\d{7}" + _E), dea_valid, 0.75, 0.95,
        ("dea", "prescriber", "registration"),
    ),
    Recognizer(
        "ABA_ROUTING", "aba.checksum", re.compile(_B + r"\d{9}" + _E), aba_routing_valid, 0.3, 0.9,
        ("routing", "aba", "rtn", "transit", "bank"),
    ),
    Recognizer(
        "CREDIT_CARD", "card.luhn_iin",
        re.compile(_B + r"\d{4}(?:[ -]?\d{2,4}){2,4}(?:[ -]?\d{1,3})?" + _E), card_valid, 0.9, 0.98,
        ("card", "visa", "mastercard", "amex", "credit", "debit", "pan"),
    ),
    Recognizer(
        "EMAIL", "email.rfc5322_simplified",
        re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])"),
        lambda v: ".." not in v, 0.9, 0.95, ("email", "e-mail", "mail"), validated=False,
    ),
    Recognizer(
        "PHONE", "phone.nanp",
        re.compile(_B + r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}" + _E),
        lambda v: re.sub(r"\D", "", v)[-10:-9] not in "01" and re.sub(r"\D", "", v)[-7:-6] not in "01",
        0.7, 0.92, ("phone", "tel", "cell", "mobile", "fax", "contact"), validated=False,
    ),
    Recognizer(
        "IP_ADDRESS", "ip.v4_v6",
        re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"),
        _is_ip, 0.75, 0.9, ("ip", "address", "host", "client"), validated=False,
    ),
)  # fmt: skip


def _has_context(text: str, start: int, words: Iterable[str], field: str) -> bool:
    window = text[max(0, start - CONTEXT_WINDOW) : start].lower()
    return any(w in window or w in field for w in words)


def analyze(text: str, *, context: str | None = None, threshold: float = REPORT_THRESHOLD) -> list[Finding]:
    """Findings in ``text`` (``context``: a field name, column header or JSON key the value came from)."""
    field = (context or "").lower().replace("_", " ")
    candidates: list[Finding] = []
    for rec in RECOGNIZERS:
        for match in rec.pattern.finditer(text):
            value = match.group(0)
            if not rec.validate(value):
                continue
            score = rec.with_context if _has_context(text, match.start(), rec.context, field) else rec.score
            if score < threshold:
                continue
            candidates.append(
                Finding(rec.type, match.start(), match.end(), score, rec.rule, redact(value), rec.validated)
            )
    return resolve_overlaps(candidates)


def resolve_overlaps(candidates: list[Finding]) -> list[Finding]:
    """Keep the best of overlapping findings: validated first, then higher score, then the longer span."""
    chosen: list[Finding] = []
    for f in sorted(candidates, key=lambda f: (not f.validated, -f.score, -(f.end - f.start), f.start)):
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: (f.start, f.end))
