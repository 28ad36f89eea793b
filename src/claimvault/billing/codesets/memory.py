"""An in-memory ``CodeLookup``: small, explicit code-set versions held in Python objects, so the scrubber's rules
can be tested (and demonstrated) without the database-backed code-set store. Same answers, same statuses: a
version answers for the dates it covers; ``no_version`` when none does; ``not_loaded`` when no procedure file of
that code's kind (CPT or HCPCS Level II) is held at all."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from claimvault.billing.codesets.interfaces import CodeCheck, MUELimit, PTPEdit

Kind = Literal["icd10cm", "cpt", "hcpcs"]

# ICD-10-CM without the dot: a letter, a digit, an alphanumeric, then up to four alphanumerics.
_ICD10CM = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")
# CPT: five digits, or four digits and F (Category II), T (III), U (PLA) or M (MAAA). HCPCS II: a letter, 4 digits.
_CPT = re.compile(r"[0-9]{4}[0-9FTUM]")
_HCPCS = re.compile(r"[A-Z][0-9]{4}")


def procedure_kind(code: str) -> Kind | None:
    """``cpt`` or ``hcpcs`` by format, or None when the code has neither format."""
    if _CPT.fullmatch(code):
        return "cpt"
    if _HCPCS.fullmatch(code):
        return "hcpcs"
    return None


@dataclass(frozen=True)
class CodeSetVersion:
    """One loaded version of one code set, in force from ``effective_from`` to ``effective_to`` (inclusive; None
    means still in force). ``codes`` are valid and billable; ``headers`` exist but are not billable."""

    kind: Kind
    name: str
    effective_from: date
    codes: frozenset[str]
    headers: frozenset[str] = frozenset()
    effective_to: date | None = None

    def covers(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


@dataclass(frozen=True)
class DatedPTP:
    edit: PTPEdit
    effective_from: date
    effective_to: date | None = None


@dataclass(frozen=True)
class DatedMUE:
    limit: MUELimit
    effective_from: date
    effective_to: date | None = None


def _in_force(start: date, end: date | None, on: date) -> bool:
    return start <= on and (end is None or on <= end)


@dataclass(frozen=True)
class InMemoryCodeLookup:
    """A ``CodeLookup`` over the versions, edits and limits given. Codes are compared as stored (upper case,
    without dots)."""

    versions: tuple[CodeSetVersion, ...] = ()
    ptp: tuple[DatedPTP, ...] = ()
    mue_limits: tuple[DatedMUE, ...] = field(default=())

    def _check(self, kind: Kind, code: str, on: date) -> CodeCheck:
        for version in self.versions:
            if version.kind == kind and version.covers(on):
                if code in version.codes:
                    return CodeCheck("valid", version.name)
                if code in version.headers:
                    return CodeCheck("not_billable", version.name)
                return CodeCheck("invalid", version.name)
        return CodeCheck("no_version")

    def diagnosis(self, code: str, on: date) -> CodeCheck:
        if not _ICD10CM.fullmatch(code):
            return CodeCheck("invalid")
        return self._check("icd10cm", code, on)

    def procedure(self, code: str, on: date) -> CodeCheck:
        kind = procedure_kind(code)
        if kind is None:
            return CodeCheck("invalid")
        if not any(v.kind == kind for v in self.versions):
            return CodeCheck("not_loaded")
        return self._check(kind, code, on)

    def ptp_edits(self, codes: frozenset[str], on: date) -> list[PTPEdit]:
        return [
            p.edit
            for p in self.ptp
            if p.edit.column1 in codes and p.edit.column2 in codes and _in_force(p.effective_from, p.effective_to, on)
        ]

    def mue(self, code: str, on: date) -> MUELimit | None:
        for m in self.mue_limits:
            if m.limit.code == code and _in_force(m.effective_from, m.effective_to, on):
                return m.limit
        return None


def open_version(
    kind: Kind, name: str, start: date, codes: Iterable[str], headers: Iterable[str] = ()
) -> CodeSetVersion:
    """A convenience constructor for one open-ended version."""
    return CodeSetVersion(
        kind=kind, name=name, effective_from=start, codes=frozenset(codes), headers=frozenset(headers)
    )
