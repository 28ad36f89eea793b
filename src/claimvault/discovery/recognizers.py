"""The detection engine: ``analyze(text, context=...)`` and the government and financial identifiers.

One pass of a precompiled scanner finds numeric tokens (a digit run with ``-./`` or single-space separators, letters
attached before it: ``AB1234563``, ``E11.9``, ``1EG4-TE5-MK73``); each token is dispatched by its shape to the
recognizers that can use it, instead of running every pattern over the whole text. A few literal-anchored scans
(``@`` for e-mail, ``(`` for phones, ``:`` for IPv6, birth words for dates of birth) and one scan of capitalised
words for person names complete it. Modules: this one (US_SSN, US_NPI, MEDICARE_MBI, DEA_NUMBER, ABA_ROUTING,
BANK_ACCOUNT, CREDIT_CARD and the dispatch), ``recognizers_health`` (MRN, MEMBER_ID, ICD10_CM, PROCEDURE_CODE),
``recognizers_contact`` (PHONE, EMAIL, IP_ADDRESS, DATE_OF_BIRTH, STREET_ADDRESS, ZIP_CODE) and ``names`` (PERSON).

A candidate must pass its validator; context words just before it (or the field name a structure-aware extractor
passes as ``context``) raise its confidence. Forms ambiguous without context (a bare 9-digit number as an SSN or
routing number, a bare 10-digit number as an NPI or phone, a space-separated SSN, a bank account, a member id, a
ZIP code, a procedure code, a date as a date of birth) are reported only with context. Where findings overlap, a
checksum-validated type outranks a context-only one, then the higher score, then the longer span. Findings carry
a redacted preview only; the full value never leaves this module.
"""

from __future__ import annotations

import functools
import re

from claimvault.discovery import names, recognizers_contact, recognizers_health
from claimvault.discovery.findings import (
    Finding,
    Words,
    context_has,
    field_key,
    finding,
    has_any,
    near_score,
    redact,
    resolve_overlaps,
    window,
)
from claimvault.discovery.profile import DEFAULT_PROFILE, ScanProfile
from claimvault.discovery.validators import aba_routing_valid, card_valid, dea_valid, mbi_valid, npi_valid, ssn_valid

__all__ = ["REPORT_THRESHOLD", "RULES", "Finding", "analyze", "redact", "resolve_overlaps"]

REPORT_THRESHOLD = 0.5

SSN_CONTEXT = Words("ssn", "social security", "soc sec", "ss#", "ss #", "social sec")
NPI_CONTEXT = Words("npi", "national provider", "provider id", "rendering", "billing provider", "referring")
MBI_CONTEXT = Words("mbi", "medicare", "beneficiary")
DEA_CONTEXT = Words("dea", "prescriber", "registration")
ROUTING_CONTEXT = Words("routing", "aba", "rtn", "transit")
BANK_CONTEXT = Words("account number", "account no", "account #", "account num", "acct", "bank account", "dda",
                "checking", "savings", "deposit account", "bank acc")  # fmt: skip
CARD_CONTEXT = Words("card", "visa", "mastercard", "amex", "credit", "debit", "pan")
_BANK_WORD = Words("bank")
_NOT_BANK = Words("patient account", "claim")
_ANY_CONTEXT = Words(
    *SSN_CONTEXT.words,
    *NPI_CONTEXT.words,
    *ROUTING_CONTEXT.words,
    *BANK_CONTEXT.words,
    *_BANK_WORD.words,
    *CARD_CONTEXT.words,
    *recognizers_contact.PHONE_CONTEXT.words,
    *recognizers_contact.ZIP_CONTEXT.words,
    *recognizers_health.MRN_CONTEXT.words,
    *recognizers_health.MEMBER_CONTEXT.words,
    *recognizers_health.PROC_CONTEXT.words,
)

# A numeric token: digits (letters may follow), groups joined by - . / or a single space before more digits.
# A numeric token, found by the regex engine alone: a digit with letters just before it (E11.9, AB1234563,
# 1EG4-TE5-MK73 after its first digit) joined by - and ., or 5 characters and more of digits and letters joined
# by -, a single space before digits, or a dot before a 3-4 digit group (415.555.0134). Short numbers, prices
# (1,250.00) and slashed dates never reach Python. The same scan yields IPv4 addresses and house numbers (1-4
# digits before a capitalised word).
_REST_ALNUM = r"(?:[0-9A-Za-z]|[\-.](?=[0-9A-Za-z]))"
_REST = r"(?:[0-9A-Za-z]|-(?=[0-9A-Za-z])|\.(?=[0-9]{3,4}(?![0-9]))| (?=[0-9]+(?![0-9A-Za-z])))"
_TOKEN = re.compile(
    rf"[0-9](?<![0-9.][0-9])(?:(?<=[A-Za-z][0-9]){_REST_ALNUM}*|(?P<ip>[0-9]{{0,2}}\.[0-9]{{1,3}}\.[0-9]{{1,3}}\.[0-9]{{1,3}})"
    rf"|{_REST}{{4,}}|(?P<house>[0-9]{{0,3}})(?= [A-Z0-9]))"
)
_BAD_BEFORE = frozenset("_.@-$/\\")
_NO_SEPARATORS = str.maketrans("", "", "-./ ")  # a token after one of these is part of a word, path, amount or address
_SSN_DASHED = re.compile(r"\d{3}-\d{2}-\d{4}")
_SSN_SPACED = re.compile(r"\d{3}( ?)\d{2}\1\d{4}")
_NPI = re.compile(r"[12]\d{9}")
_NINE = re.compile(r"\d{9}")
_CARD = re.compile(r"\d{4}(?:[ -]?\d{2,4}){2,4}(?:[ -]?\d{1,3})?")
_BANK = re.compile(r"\d{6,17}")
_MBI = re.compile(r"[1-9][A-Z][0-9A-Z]\d-?[A-Z][0-9A-Z]\d-?[A-Z]{2}\d{2}")
_DEA = re.compile(r"[A-Z][A-Z9]\d{7}")

RULES: dict[str, str] = {
    "ssn.dashed": "US_SSN: AAA-GG-SSSS passing the SSA never-issued checks",
    "ssn.spaced_or_bare": "US_SSN: spaced or bare 9 digits, SSA checks, only with SSN context",
    "npi.luhn_80840": "US_NPI: 10 digits, Luhn over 80840 + NPI; bare forms need NPI context",
    "mbi.positions": "MEDICARE_MBI: 11 characters, each from the set its position allows",
    "dea.checksum": "DEA_NUMBER: registrant letters and the DEA check digit",
    "aba.checksum": "ABA_ROUTING: Federal Reserve prefix and ABA checksum, only with routing context",
    "bank.context": "BANK_ACCOUNT: 6-17 digits with account context",
    "card.luhn_iin": "CREDIT_CARD: IIN range, length and Luhn",
    **recognizers_health.RULES,
    **recognizers_contact.RULES,
    **names.RULES,
}


def analyze(
    text: str,
    *,
    context: str | None = None,
    threshold: float = REPORT_THRESHOLD,
    profile: ScanProfile = DEFAULT_PROFILE,
) -> list[Finding]:
    """Findings in ``text`` (``context``: a field name, column header or JSON key the value came from;
    ``profile``: the organization's own identifier formats, such as its MRN templates)."""
    fk = field_key(context)
    out: list[Finding] = []
    n = len(text)
    eager = threshold < 0.5 or _field_cues(fk)
    for m in _TOKEN.finditer(text):
        s, e = m.span()
        kind = m.lastgroup
        if kind is not None:
            if kind == "house":
                recognizers_contact.house_number(text, s, e, fk, out)
            elif _bounded(text, s, e, n) and not (e < n and text[e] in ".:"):
                recognizers_contact.ipv4(text, s, e, fk, out)
            continue
        prev = text[s - 1] if s else " "
        if prev.isalpha() and prev.isascii():  # letters before the digits: E11.9, AB1234563, J1234
            ls = s - 1
            while ls > 0 and text[ls - 1].isascii() and text[ls - 1].isalpha():
                ls -= 1
            if _bounded(text, ls, e, n):
                _alnum_token(text, ls, e, fk, out)
            continue
        if not _bounded(text, s, e, n):
            continue
        tok = m.group()
        if tok.isdigit() or tok.translate(_NO_SEPARATORS).isdigit():
            _digit_token(text, s, e, fk, out, eager)
        else:
            _alnum_token(text, s, e, fk, out)
    recognizers_contact.scan_text(text, fk, out)
    recognizers_health.scan_profile(text, fk, profile, out)
    names.scan_names(text, context, out)
    if len(out) <= 1:
        return [f for f in out if f.score >= threshold]
    return resolve_overlaps([f for f in out if f.score >= threshold])


@functools.lru_cache(maxsize=4096)
def _field_cues(fk: str) -> bool:
    """Whether a field name holds a context word of some context-only recognizer (cached: few distinct names)."""
    return _ANY_CONTEXT.pattern.search(fk) is not None


def _bounded(text: str, s: int, e: int, n: int) -> bool:
    """Whether ``text[s:e]`` stands on its own (not inside a word, number, path, amount or e-mail address)."""
    before = text[s - 1] if s else " "
    after = text[e] if e < n else " "
    return not (before in _BAD_BEFORE or before.isalnum() or after.isalnum() or after in "@_")


def _digit_token(text: str, s: int, e: int, fk: str, out: list[Finding], eager: bool) -> None:
    tok = text[s:e]
    # Most numbers (amounts, counts, line numbers) have no context word near them: one search rules them out.
    win = window(text, s)
    cued = eager or _ANY_CONTEXT.pattern.search(win) is not None
    start = len(out)

    def ctx(words: Words) -> bool:
        return cued and context_has(win, fk, words)

    if "-" in tok and _SSN_DASHED.fullmatch(tok):
        if ssn_valid(tok):
            out.append(finding("US_SSN", text, s, e, 0.95 if ctx(SSN_CONTEXT) else 0.85, "ssn.dashed", validated=True))
    elif cued and _SSN_SPACED.fullmatch(tok) and ssn_valid(tok):
        out.append(
            finding("US_SSN", text, s, e, 0.9 if ctx(SSN_CONTEXT) else 0.3, "ssn.spaced_or_bare", validated=True)
        )
    if cued:
        if _NPI.fullmatch(tok) and npi_valid(tok):
            score = 0.95 if ctx(NPI_CONTEXT) else 0.4
            out.append(finding("US_NPI", text, s, e, score, "npi.luhn_80840", validated=True))
        bank = ctx(BANK_CONTEXT)
        if _NINE.fullmatch(tok) and aba_routing_valid(tok):
            routing = ctx(ROUTING_CONTEXT) or (not bank and ctx(_BANK_WORD))
            out.append(finding("ABA_ROUTING", text, s, e, 0.9 if routing else 0.3, "aba.checksum", validated=True))
        if bank and _BANK.fullmatch(tok) and not has_any(win[-24:], _NOT_BANK):
            out.append(finding("BANK_ACCOUNT", text, s, e, near_score(0.85, win, fk, BANK_CONTEXT), "bank.context"))
        recognizers_health.digit_token(text, s, e, tok, win, fk, out)
    if len(tok) >= 13 and _CARD.fullmatch(tok) and card_valid(tok):
        score = 0.98 if ctx(CARD_CONTEXT) else 0.9
        out.append(finding("CREDIT_CARD", text, s, e, score, "card.luhn_iin", validated=True))
    recognizers_contact.digit_token(text, s, e, tok, win, fk, out, cued)
    if len(out) == start and " " in tok:  # no shape fits the spaced group: each part on its own
        pos = s
        for part in tok.split(" "):
            if len(part) >= 5:
                _digit_token(text, pos, pos + len(part), fk, out, eager)
            pos += len(part) + 1


def _alnum_token(text: str, s: int, e: int, fk: str, out: list[Finding]) -> None:
    tok = text[s:e]
    win = window(text, s)
    if _MBI.fullmatch(tok) and mbi_valid(tok):
        score = 0.97 if context_has(win, fk, MBI_CONTEXT) else 0.85
        out.append(finding("MEDICARE_MBI", text, s, e, score, "mbi.positions", validated=True))
        return
    if _DEA.fullmatch(tok) and dea_valid(tok):
        score = 0.95 if context_has(win, fk, DEA_CONTEXT) else 0.75
        out.append(finding("DEA_NUMBER", text, s, e, score, "dea.checksum", validated=True))
        return
    recognizers_health.alnum_token(text, s, e, tok, win, fk, out)
