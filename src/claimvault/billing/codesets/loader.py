"""Loading a code-set file into a new version, in one transaction: the file is hashed first (the same file of
the same kind loaded again returns the version it made, adding nothing), then read and inserted in batches. A
malformed record raises ``CodeSetFileError`` naming its line, and the transaction rolls back: nothing is loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from claimvault.billing.codesets.formats import KINDS, CodeSetFileError, Kind
from claimvault.billing.codesets.models import (
    CodeSetVersion,
    CptCode,
    HcpcsCode,
    Icd10cmCode,
    MueLimitRow,
    NcciPtpEdit,
)
from claimvault.billing.codesets.ncci import parse_mue, parse_ptp
from claimvault.billing.codesets.parsers import Row, parse_cpt, parse_hcpcs, parse_icd10cm_order
from claimvault.billing.codesets.versions import VersionInfo, default_label, from_row
from claimvault.errors import ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext
from claimvault.storage.database import Database

BATCH = 5000
Parser = Callable[[Iterable[str]], Iterator[tuple[int, Row]]]
_TARGETS: dict[Kind, tuple[type[Any], Parser]] = {
    "hcpcs": (HcpcsCode, parse_hcpcs),
    "cpt": (CptCode, parse_cpt),
    "icd10cm": (Icd10cmCode, parse_icd10cm_order),
    "ncci_ptp": (NcciPtpEdit, parse_ptp),
    "mue": (MueLimitRow, parse_mue),
}
Progress = Callable[[int, int], None]  # (lines read, lines in the file)


@dataclass(frozen=True)
class LoadResult:
    version: VersionInfo
    created: bool  # False when this very file (same SHA-256) was already loaded as this kind


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and line count of ``path``."""
    digest, lines = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def load_code_set(
    *,
    db: Database,
    kind: Kind,
    path: Path,
    effective_from: date,
    effective_to: date | None = None,
    label: str | None = None,
    ctx: AccessContext | None = None,
    progress: Progress | None = None,
) -> LoadResult:
    """Load ``path`` as a new ``kind`` version in force from ``effective_from`` (to ``effective_to``, inclusive,
    when given). With ``ctx`` the load is recorded in the audit trail as ``codeset.load``."""
    if kind not in KINDS:
        raise ValidationFailed("unknown code-set kind")
    if effective_to is not None and effective_to < effective_from:
        raise ValidationFailed("the end of a version's dates comes before its start")
    if label is not None and not 0 < len(label.strip()) <= 80:
        raise ValidationFailed("a version label has 1 to 80 characters")
    if not path.is_file():
        raise ValidationFailed("the code-set file does not exist or is not a file")
    sha256, total_lines = file_digest(path)
    with db.session(tenant_id=None) as session:
        existing = session.scalar(
            select(CodeSetVersion).where(CodeSetVersion.kind == kind, CodeSetVersion.source_sha256 == sha256)
        )
        if existing is not None:
            return LoadResult(from_row(existing), created=False)
        version = CodeSetVersion(
            kind=kind,
            label=(label or default_label(kind, effective_from)).strip(),
            effective_from=effective_from,
            effective_to=effective_to,
            source_name=path.name[:255],
            source_sha256=sha256,
            row_count=0,
        )
        session.add(version)
        session.flush()
        model, parser = _TARGETS[kind]
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            version.row_count = _insert_all(
                session, model, version, parser(fh), total_lines=total_lines, progress=progress
            )
        if version.row_count == 0:
            raise CodeSetFileError("the file holds no codes")
        if ctx is not None:
            detail = {"kind": kind, "sha256": sha256, "rows": version.row_count}
            record(
                session,
                build_event(
                    ctx, action="codeset.load", entity_type="code_set_version", entity_id=version.id, detail=detail
                ),
            )
        session.flush()
        return LoadResult(from_row(version), created=True)


def _insert_all(
    session: Session,
    model: type[Any],
    version: CodeSetVersion,
    rows: Iterator[tuple[int, Row]],
    *,
    total_lines: int,
    progress: Progress | None,
) -> int:
    count, batch, last_line = 0, [], 0
    for number, row in rows:
        row["version_id"] = version.id
        batch.append(row)
        last_line = number
        if len(batch) >= BATCH:
            count += _flush_batch(session, model, batch, last_line)
            batch = []
            if progress is not None:
                progress(number, total_lines)
    if batch:
        count += _flush_batch(session, model, batch, last_line)
    if progress is not None:
        progress(total_lines, total_lines)
    return count


def _flush_batch(session: Session, model: type[Any], batch: list[Row], last: int) -> int:
    try:
        with session.begin_nested():
            session.execute(insert(model.__table__), batch)
    except IntegrityError:
        # Within-file duplicates the readers do not track (PTP files run to millions of edits): the database's
        # key finds them. Its message quotes values, so it is replaced.
        raise CodeSetFileError(f"a record repeats an earlier one (same key), within lines 1-{last}") from None
    return len(batch)
