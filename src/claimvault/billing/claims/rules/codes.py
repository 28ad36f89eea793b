"""Code rules: ICD-10-CM billable on the date of service (through ``CodeLookup``), diagnosis count and pointers,
procedure code format and validity, modifiers, NCCI procedure-to-procedure pairs and medically unlikely edits,
and the CMS place-of-service code set. Each check yields ``Issue``s that name fields, never codes or values."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.claims.rules.context import Issue, ScrubContext

MAX_DIAGNOSES = 12  # 837P HI segment: 12 diagnosis codes
MAX_POINTERS = 4  # 837P SV107: 4 diagnosis code pointers
MAX_MODIFIERS = 4  # 837P SV101-3..6

# CMS Place of Service code set (two digits; codes not listed are unassigned).
PLACE_OF_SERVICE_CODES = frozenset(
    {
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
        "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "31",
        "32", "33", "34", "41", "42", "49", "50", "51", "52", "53", "54", "55", "56", "57",
        "58", "60", "61", "62", "65", "66", "71", "72", "81", "99",
    }
)  # fmt: skip

# NCCI Policy Manual, chapter I: modifiers that may bypass a PTP edit whose modifier indicator is 1 -- anatomic
# (E1-E4, FA, F1-F9, LC, LD, LM, LT, RC, RI, RT, TA, T1-T9), global surgery (24, 25, 57, 58, 78, 79) and other
# (27, 59, 91, XE, XP, XS, XU). Accepted on either line of the pair; a bypass is a warning (the coder confirms
# the clinical circumstances), never an error. Indicator 0 pairs are never bypassed.
NCCI_BYPASS_MODIFIERS = frozenset(
    {"E1", "E2", "E3", "E4", "FA", "LC", "LD", "LM", "LT", "RC", "RI", "RT", "TA"}
    | {f"F{i}" for i in range(1, 10)}
    | {f"T{i}" for i in range(1, 10)}
    | {"24", "25", "57", "58", "78", "79", "27", "59", "91", "XE", "XP", "XS", "XU"}
)

# CPT: five digits, or four digits and F (Category II), T (III), U (PLA) or M (MAAA); HCPCS II: a letter, 4 digits.
_PROCEDURE = re.compile(r"[0-9]{4}[0-9FTUM]|[A-Z][0-9]{4}")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")


def _dates_of_diagnoses(claim: ClaimDocument) -> dict[int, set[date]]:
    """Each diagnosis index -> the service dates of the lines pointing at it (the earliest service date of the
    claim for a diagnosis no line points at)."""
    dates: dict[int, set[date]] = defaultdict(set)
    for line in claim.lines:
        for pointer in line.diagnosis_pointers:
            if 1 <= pointer <= len(claim.diagnoses):
                dates[pointer - 1].add(line.service_date)
    if claim.lines:
        earliest = min(line.service_date for line in claim.lines)
        for i in range(len(claim.diagnoses)):
            dates.setdefault(i, {earliest})
    return dates


def _diagnosis_statuses(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[tuple[int, str]]:
    """(diagnosis index, worst status over its dates of service) for every diagnosis not valid on all its dates."""
    order = {"invalid": 0, "not_billable": 1, "no_version": 2}
    for i, dates in sorted(_dates_of_diagnoses(claim).items()):
        code = claim.diagnoses[i].code.strip().upper().replace(".", "")
        statuses = {ctx.codes.diagnosis(code, on).status for on in sorted(dates)} - {"valid"}
        if statuses:
            yield i, min(statuses, key=lambda s: order.get(s, -1))


def check_diagnosis_billable(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for i, status in _diagnosis_statuses(claim, ctx):
        if status == "not_billable":
            yield Issue(f"diagnoses[{i}].code", "The diagnosis code is a category, not billable: code it further.")
        elif status != "no_version":
            yield Issue(f"diagnoses[{i}].code", "The diagnosis code is not valid ICD-10-CM on the date of service.")


def check_diagnosis_version(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for i, status in _diagnosis_statuses(claim, ctx):
        if status == "no_version":
            yield Issue(f"diagnoses[{i}].code", "No loaded ICD-10-CM version covers the date of service.")


def check_diagnosis_count(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if len(claim.diagnoses) > MAX_DIAGNOSES:
        yield Issue("diagnoses", f"A claim carries at most {MAX_DIAGNOSES} diagnoses.")


def check_diagnosis_pointers(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, line in enumerate(claim.lines):
        path = f"lines[{n}].diagnosis_pointers"
        pointers = line.diagnosis_pointers
        if not pointers:
            yield Issue(path, "Each service line needs at least one diagnosis pointer.")
        if len(pointers) > MAX_POINTERS:
            yield Issue(path, f"A service line carries at most {MAX_POINTERS} diagnosis pointers.")
        if len(set(pointers)) != len(pointers):
            yield Issue(path, "A diagnosis pointer is repeated on the line.")
        for k, pointer in enumerate(pointers):
            if not 1 <= pointer <= MAX_DIAGNOSES:
                yield Issue(f"{path}[{k}]", f"A diagnosis pointer must be between 1 and {MAX_DIAGNOSES}.")
            elif pointer > len(claim.diagnoses):
                yield Issue(f"{path}[{k}]", "The diagnosis pointer points past the claim's diagnoses.")


def _code(value: str) -> str:
    return value.strip().upper()


def check_procedure_format(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, line in enumerate(claim.lines):
        if not _PROCEDURE.fullmatch(_code(line.procedure_code)):
            yield Issue(f"lines[{n}].procedure_code", "The procedure code is neither a CPT nor a HCPCS code format.")


def _procedure_statuses(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(claim.lines):
        code = _code(line.procedure_code)
        if _PROCEDURE.fullmatch(code):  # a bad format is its own finding
            yield n, ctx.codes.procedure(code, line.service_date).status


def check_procedure_valid(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, status in _procedure_statuses(claim, ctx):
        if status in ("invalid", "not_billable"):
            yield Issue(f"lines[{n}].procedure_code", "The procedure code is not valid on the date of service.")


def check_procedure_version(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, status in _procedure_statuses(claim, ctx):
        if status == "no_version":
            yield Issue(f"lines[{n}].procedure_code", "No loaded procedure code file covers the date of service.")


def check_modifiers(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, line in enumerate(claim.lines):
        path = f"lines[{n}].modifiers"
        if len(line.modifiers) > MAX_MODIFIERS:
            yield Issue(path, f"A service line carries at most {MAX_MODIFIERS} modifiers.")
        if len({_code(m) for m in line.modifiers}) != len(line.modifiers):
            yield Issue(path, "A modifier is repeated on the line.")
        for k, modifier in enumerate(line.modifiers):
            if not _MODIFIER.fullmatch(modifier):
                yield Issue(f"{path}[{k}]", "A modifier is two upper-case letters or digits.")


def _ptp_pairs(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[tuple[int, bool]]:
    """(index of the column-2 line, bypassed) for every NCCI PTP pair on one date of service; ``bypassed`` when
    the edit allows a modifier and one line of the pair carries a bypass modifier."""
    by_date: dict[date, list[int]] = defaultdict(list)
    for n, line in enumerate(claim.lines):
        by_date[line.service_date].append(n)
    for on, indexes in sorted(by_date.items()):
        codes = frozenset(_code(claim.lines[n].procedure_code) for n in indexes)
        if len(codes) < 2:
            continue
        for edit in ctx.codes.ptp_edits(codes, on):
            firsts = [n for n in indexes if _code(claim.lines[n].procedure_code) == edit.column1]
            seconds = [n for n in indexes if _code(claim.lines[n].procedure_code) == edit.column2]
            if not firsts:
                continue
            first_bypass = any(_bypass(claim, n) for n in firsts)
            for n in seconds:
                yield n, edit.modifier_allowed and (first_bypass or _bypass(claim, n))


def _bypass(claim: ClaimDocument, n: int) -> bool:
    return any(_code(m) in NCCI_BYPASS_MODIFIERS for m in claim.lines[n].modifiers)


def check_ncci_ptp(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, bypassed in _ptp_pairs(claim, ctx):
        if not bypassed:
            yield Issue(
                f"lines[{n}].procedure_code",
                "The procedure is an NCCI column-two code of another procedure on the same date of service.",
            )


def check_ncci_bypass(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, bypassed in _ptp_pairs(claim, ctx):
        if bypassed:
            yield Issue(f"lines[{n}].modifiers", "An NCCI procedure pair is bypassed by a modifier.")


def check_mue(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    per_day: dict[tuple[str, date], list[int]] = defaultdict(list)
    for n, line in enumerate(claim.lines):
        code = _code(line.procedure_code)
        limit = ctx.codes.mue(code, line.service_date)
        if limit is None:
            continue
        if limit.adjudication_indicator == "1":
            if line.units > limit.max_units:
                yield Issue(f"lines[{n}].units", "The units exceed the line's medically unlikely edit (MUE).")
        else:
            per_day[(code, line.service_date)].append(n)
    for (code, on), indexes in sorted(per_day.items()):
        limit = ctx.codes.mue(code, on)
        total = sum((claim.lines[n].units for n in indexes), Decimal(0))
        if limit is not None and total > limit.max_units:
            yield Issue(
                f"lines[{indexes[-1]}].units",
                "The units of this procedure on this date of service exceed its medically unlikely edit (MUE).",
            )


def check_place_of_service(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if claim.place_of_service.strip() and claim.place_of_service not in PLACE_OF_SERVICE_CODES:
        yield Issue("place_of_service", "The place of service is not a CMS place-of-service code.")
    for n, line in enumerate(claim.lines):
        if line.place_of_service is not None and line.place_of_service not in PLACE_OF_SERVICE_CODES:
            yield Issue(f"lines[{n}].place_of_service", "The place of service is not a CMS place-of-service code.")
