"""Code-set versions as the rest of the code sees them, and the one rule for choosing among them: the version in
force on a date is the one covering it (``effective_from`` <= date <= ``effective_to``, open-ended when no end)
with the latest ``effective_from``, ties going to the file loaded last, and a loaded file before a built-in one.
A date no version covers has no version: callers say so instead of guessing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.billing.codesets.formats import KIND_NAMES, Kind
from claimvault.billing.codesets.models import CodeSetVersion


@dataclass(frozen=True)
class VersionInfo:
    kind: Kind
    label: str
    effective_from: date
    effective_to: date | None
    source_name: str
    row_count: int
    id: uuid.UUID | None = None  # None for a built-in version (not stored in the database)
    source_sha256: str | None = None
    loaded_at: datetime | None = None

    @property
    def builtin(self) -> bool:
        return self.id is None

    def covers(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


def default_label(kind: Kind, effective_from: date) -> str:
    return f"{KIND_NAMES[kind]} {effective_from.isoformat()}"


def from_row(row: CodeSetVersion) -> VersionInfo:
    return VersionInfo(
        kind=row.kind,  # type: ignore[arg-type]
        label=row.label,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        source_name=row.source_name,
        row_count=row.row_count,
        id=row.id,
        source_sha256=row.source_sha256,
        loaded_at=row.loaded_at,
    )


def _precedence(version: VersionInfo) -> tuple[date, int, datetime]:
    loaded = version.loaded_at or datetime.min
    return (version.effective_from, 0 if version.builtin else 1, loaded.replace(tzinfo=None))


def ordered(versions: Iterable[VersionInfo]) -> list[VersionInfo]:
    """Highest precedence first."""
    return sorted(versions, key=_precedence, reverse=True)


def in_force(versions: Sequence[VersionInfo], on: date) -> VersionInfo | None:
    """The version in force on ``on`` among ``versions`` (already ``ordered``), or None."""
    return next((v for v in versions if v.covers(on)), None)


def stored_versions(session: Session, kind: Kind | None = None) -> list[VersionInfo]:
    query = select(CodeSetVersion)
    if kind is not None:
        query = query.where(CodeSetVersion.kind == kind)
    return [from_row(row) for row in session.scalars(query)]


def list_versions(session: Session) -> list[VersionInfo]:
    """Every version, built-in ones included, by kind then newest first."""
    from claimvault.billing.codesets.icd10cm import builtin_icd10cm_version

    everything = [*stored_versions(session), builtin_icd10cm_version()]
    return sorted(ordered(everything), key=lambda v: v.kind)
