"""``DatabaseCodeLookup``: the ``CodeLookup`` the scrubber uses in production, over the versioned code-set tables
and the built-in ICD-10-CM release.

Construct one per unit of work with the session it should read through: ``DatabaseCodeLookup(session)``. The
reference tables are platform-level, so any session works (with or without an organization). The instance
caches what it reads (the version list once, then each code, MUE limit and PTP column-1 code once per version),
so scrubbing many claims costs a handful of queries; make a new instance to see versions loaded since.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.billing.codesets.formats import (
    ICD10CM_RE,
    PROCEDURE_RE,
    Kind,
    normalize_diagnosis,
    normalize_procedure,
    procedure_kind,
)
from claimvault.billing.codesets.icd10cm import builtin_icd10cm_version, builtin_status
from claimvault.billing.codesets.interfaces import CodeCheck, MUELimit, PTPEdit, Status
from claimvault.billing.codesets.models import CptCode, HcpcsCode, Icd10cmCode, MueLimitRow, NcciPtpEdit
from claimvault.billing.codesets.versions import VersionInfo, in_force, ordered, stored_versions

_QUERY_CHUNK = 500  # codes per IN (...) list


class DatabaseCodeLookup:
    def __init__(self, session: Session, *, builtin_icd10cm: bool = True) -> None:
        self._session = session
        self._builtin_icd10cm = builtin_icd10cm
        self._versions: dict[str, list[VersionInfo]] | None = None
        self._codes: dict[tuple[uuid.UUID, str], Status] = {}
        self._hcpcs: dict[tuple[uuid.UUID, str], HcpcsCode | None] = {}
        self._mue: dict[tuple[uuid.UUID, str], MUELimit | None] = {}
        self._ptp: dict[tuple[uuid.UUID, str], list[NcciPtpEdit]] = {}

    # Versions ---------------------------------------------------------------------------------------------------
    def versions(self, kind: Kind) -> list[VersionInfo]:
        """Versions of ``kind``, highest precedence first (the built-in ICD-10-CM release included)."""
        if self._versions is None:
            grouped: dict[str, list[VersionInfo]] = {}
            everything = stored_versions(self._session)
            if self._builtin_icd10cm:
                everything.append(builtin_icd10cm_version())
            for version in ordered(everything):
                grouped.setdefault(version.kind, []).append(version)
            self._versions = grouped
        return self._versions.get(kind, [])

    def version_on(self, kind: Kind, on: date) -> VersionInfo | None:
        return in_force(self.versions(kind), on)

    # CodeLookup -------------------------------------------------------------------------------------------------
    def diagnosis(self, code: str, on: date) -> CodeCheck:
        version = self.version_on("icd10cm", on)
        if version is None:
            return CodeCheck("no_version")
        normalized = normalize_diagnosis(code)
        if not ICD10CM_RE.match(normalized):
            return CodeCheck("invalid", version.label)
        if version.id is None:
            return CodeCheck(builtin_status(normalized), version.label)
        key = (version.id, normalized)
        if key not in self._codes:
            billable = self._session.scalar(
                select(Icd10cmCode.billable).where(Icd10cmCode.version_id == version.id, Icd10cmCode.code == normalized)
            )
            self._codes[key] = "invalid" if billable is None else "valid" if billable else "not_billable"
        return CodeCheck(self._codes[key], version.label)

    def procedure(self, code: str, on: date) -> CodeCheck:
        normalized = normalize_procedure(code)
        kind = procedure_kind(normalized)
        if kind is None:
            return CodeCheck("invalid")
        if not self.versions(kind):
            return CodeCheck("not_loaded")
        version = self.version_on(kind, on)
        if version is None:
            return CodeCheck("no_version")
        assert version.id is not None
        if kind == "cpt":
            key = (version.id, normalized)
            if key not in self._codes:
                found = self._session.scalar(
                    select(CptCode.code).where(CptCode.version_id == version.id, CptCode.code == normalized)
                )
                self._codes[key] = "valid" if found else "invalid"
            return CodeCheck(self._codes[key], version.label)
        row = self._hcpcs_row(version.id, normalized)
        if row is None:
            return CodeCheck("invalid", version.label)
        if row.added_on is not None and on < row.added_on:
            return CodeCheck("invalid", version.label)  # not yet added on that date
        if row.terminated_on is not None and on > row.terminated_on:
            return CodeCheck("invalid", version.label)  # terminated before that date
        return CodeCheck("valid", version.label)

    def ptp_edits(self, codes: frozenset[str], on: date) -> list[PTPEdit]:
        version = self.version_on("ncci_ptp", on)
        if version is None or version.id is None:
            return []
        wanted = {normalize_procedure(c) for c in codes}
        wanted = {c for c in wanted if PROCEDURE_RE.match(c)}
        self._load_ptp(version.id, wanted)
        found = [
            PTPEdit(edit.column1, edit.column2, modifier_allowed=edit.modifier_indicator == "1", version=version.label)
            for column1 in sorted(wanted)
            for edit in self._ptp[(version.id, column1)]
            if edit.column2 in wanted
            and edit.column2 != column1
            and edit.modifier_indicator != "9"  # deleted retroactively: never in force
            and edit.effective_on <= on
            and (edit.deleted_on is None or on < edit.deleted_on)  # not in force on or after the deletion date
        ]
        return sorted(set(found), key=lambda e: (e.column1, e.column2))

    def mue(self, code: str, on: date) -> MUELimit | None:
        version = self.version_on("mue", on)
        if version is None or version.id is None:
            return None
        normalized = normalize_procedure(code)
        key = (version.id, normalized)
        if key not in self._mue:
            row = self._session.scalar(
                select(MueLimitRow).where(MueLimitRow.version_id == version.id, MueLimitRow.code == normalized)
            )
            self._mue[key] = (
                None if row is None else MUELimit(normalized, row.max_units, row.adjudication_indicator, version.label)
            )
        return self._mue[key]

    # Caches -----------------------------------------------------------------------------------------------------
    def _hcpcs_row(self, version_id: uuid.UUID, code: str) -> HcpcsCode | None:
        key = (version_id, code)
        if key not in self._hcpcs:
            self._hcpcs[key] = self._session.scalar(
                select(HcpcsCode).where(HcpcsCode.version_id == version_id, HcpcsCode.code == code)
            )
        return self._hcpcs[key]

    def _load_ptp(self, version_id: uuid.UUID, codes: set[str]) -> None:
        missing = sorted(c for c in codes if (version_id, c) not in self._ptp)
        for start in range(0, len(missing), _QUERY_CHUNK):
            chunk = missing[start : start + _QUERY_CHUNK]
            for code in chunk:
                self._ptp[(version_id, code)] = []
            rows = self._session.scalars(
                select(NcciPtpEdit).where(NcciPtpEdit.version_id == version_id, NcciPtpEdit.column1.in_(chunk))
            )
            for row in rows:
                self._ptp[(version_id, row.column1)].append(row)
