"""Health record and coding recognizers: MRN, MEMBER_ID, ICD10_CM and PROCEDURE_CODE.

- ``MRN``: the organization's own templates (``ScanProfile.mrn_formats``, compiled by ``profile.mrn_template_regex``)
  anywhere, more confident with context; any other id-shaped token only with context (``MRN``, ``medical record``,
  ``chart``...).
- ``MEMBER_ID``: an id-shaped token with member/subscriber/policy/insurance context.
- ``ICD10_CM``: a code of the ICD-10-CM code set (the ``simple_icd_10_cm`` package, loaded once on first use),
  with or without its dot; the dotted form stands on its own, the undotted one needs diagnosis context.
- ``PROCEDURE_CODE``: CPT (5 digits), CPT Category II/III (4 digits and F/T) and HCPCS Level II (a letter and 4
  digits), only with procedure context. Only shapes are checked: no CPT descriptor ships with ClaimVault.
"""

from __future__ import annotations

import functools
import re

from claimvault.discovery.findings import Finding, Words, context_has, finding, near_score, window
from claimvault.discovery.profile import ScanProfile, mrn_template_regex
from claimvault.discovery.validators import icd10_valid

RULES: dict[str, str] = {
    "mrn.profile": "MRN: one of the organization's MRN templates (ScanProfile.mrn_formats)",
    "mrn.context": "MRN: an id-shaped token with medical-record context",
    "member_id.context": "MEMBER_ID: an id-shaped token with member/subscriber/policy context",
    "icd10cm.codeset": "ICD10_CM: a code of the ICD-10-CM code set (dotted, or undotted with diagnosis context)",
    "procedure.cpt_hcpcs": "PROCEDURE_CODE: CPT, CPT II/III or HCPCS Level II shape with procedure context",
}

MRN_CONTEXT = Words("mrn", "medical record", "med rec", "medrec", "chart", "record number", "record no", "patient id",
               "patient identifier", "pid 3", "pid-3", "pid.3")  # fmt: skip
MEMBER_CONTEXT = Words("member", "subscriber", "policy", "insurance id", "insured id", "insured's id", "medicaid",
                  "health plan id", "plan id", "beneficiary id", "enrollee", "insurance number", "mi*",
                  "in1 36", "in1-36", "in1.36")  # fmt: skip
NOT_MEMBER = Words("ssn", "social security", "npi", "routing", "phone", "tax id", "group")
DX_CONTEXT = Words("icd", "diagnos", "dx", "diag", "hi*", "hi0", "abk", "abf", "condition", "problem", "dg1", "z code")
PROC_CONTEXT = Words("cpt", "hcpcs", "hcpc", "procedure", "proc code", "proc", "px", "sv1", "sv2", "sv3", "ft1",
                "service code", "hc:", "pr1")  # fmt: skip

_CODING_SYSTEMS = frozenset(("I10", "I9", "I9C", "I10C", "I9CDX", "I10P"))
_ID = re.compile(r"[A-Z0-9][A-Z0-9-]{4,19}")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_ICD = re.compile(r"[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4}|[0-9A-Z]{1,4})?")
_CPT = re.compile(r"(\d{5})(?:-[0-9A-Z]{2})*")
_CPT_II = re.compile(r"\d{4}[FT]")
_HCPCS = re.compile(r"[A-CEGHJ-MP-V]\d{4}")


def _last(win: str, fk: str, words: Words) -> int:
    """Where the nearest of ``words`` sits before the candidate (larger is nearer; the field counts as nearest)."""
    if words.in_field(fk):
        return 1 << 20
    return words.nearest(win)


def _clause(win: str) -> str:
    """The part of a context window in the candidate's own sentence, line or cell: a generic id takes its type
    only from words there ("Member ID X1. Left voicemail at 555-0134": the phone is no member id)."""
    cut = max(win.rfind(". "), win.rfind("\n"), win.rfind("\r"), win.rfind("\t"), win.rfind("; "), win.rfind("|"))
    return win[cut + 1 :]


def _id_contexts(text: str, s: int, e: int, tok: str, win: str, fk: str, out: list[Finding]) -> None:
    if not _ID.fullmatch(tok) or len(tok) - len(tok.translate(_NO_DIGITS)) < 4:
        return
    win = _clause(win)
    if context_has(win, fk, MRN_CONTEXT):
        out.append(finding("MRN", text, s, e, near_score(0.85, win, fk, MRN_CONTEXT), "mrn.context"))
    if context_has(win, fk, MEMBER_CONTEXT) and not context_has(win, fk, NOT_MEMBER):
        score = near_score(0.85, win, fk, MEMBER_CONTEXT)
        out.append(finding("MEMBER_ID", text, s, e, score, "member_id.context"))


def digit_token(text: str, s: int, e: int, tok: str, win: str, fk: str, out: list[Finding]) -> None:
    """CPT codes, MRNs and member ids among all-digit tokens."""
    m = _CPT.fullmatch(tok)
    if m is not None and context_has(win, fk, PROC_CONTEXT):
        score = near_score(0.85, win, fk, PROC_CONTEXT)
        out.append(finding("PROCEDURE_CODE", text, s, s + 5, score, "procedure.cpt_hcpcs"))
        return
    _id_contexts(text, s, e, tok, win, fk, out)


def alnum_token(text: str, s: int, e: int, tok: str, win: str, fk: str, out: list[Finding]) -> None:
    """ICD-10-CM codes, HCPCS and CPT II/III codes, MRNs and member ids among tokens with letters."""
    if tok in _CODING_SYSTEMS and s and text[s - 1] == "^":
        return  # HL7 CWE: the coding system name (DG1-3 "E11.9^Type 2 diabetes^I10"), not a diagnosis
    if _ICD.fullmatch(tok) and icd10_valid(tok):
        dx = context_has(win, fk, DX_CONTEXT)
        proc = _HCPCS.fullmatch(tok) is not None and context_has(win, fk, PROC_CONTEXT)
        if proc and (not dx or _last(win, fk, PROC_CONTEXT) > _last(win, fk, DX_CONTEXT)):
            out.append(finding("PROCEDURE_CODE", text, s, e, 0.85, "procedure.cpt_hcpcs"))
            return
        score = (0.95 if dx else 0.7) if "." in tok else (0.9 if dx else 0.4)
        out.append(finding("ICD10_CM", text, s, e, score, "icd10cm.codeset", validated=True))
        return
    if (_HCPCS.fullmatch(tok) or _CPT_II.fullmatch(tok)) and context_has(win, fk, PROC_CONTEXT):
        out.append(finding("PROCEDURE_CODE", text, s, e, 0.85, "procedure.cpt_hcpcs"))
        return
    _id_contexts(text, s, e, tok, win, fk, out)


@functools.lru_cache(maxsize=64)
def _profile_regex(formats: tuple[str, ...]) -> re.Pattern[str] | None:
    if not formats:
        return None
    return re.compile("|".join(f"(?:{mrn_template_regex(t)})" for t in sorted(formats, key=len, reverse=True)))


def scan_profile(text: str, fk: str, profile: ScanProfile, out: list[Finding]) -> None:
    """The organization's MRN templates, wherever they occur as a whole token."""
    pattern = _profile_regex(profile.mrn_formats)
    if pattern is None:
        return
    n = len(text)
    for m in pattern.finditer(text):
        s, e = m.span()
        if (s and (text[s - 1].isalnum() or text[s - 1] in "_-")) or (e < n and (text[e].isalnum() or text[e] == "_")):
            continue
        win = window(text, s)
        score = 0.95 if context_has(win, fk, MRN_CONTEXT) else 0.8
        out.append(finding("MRN", text, s, e, score, "mrn.profile"))
