"""Discovery services over the PHI gate: the organization's scan profile (MRN templates), the scan of an uploaded
file (kept nowhere; one audit event with its level, score and counts per type), and the compliance view of the
blob-store scan runs and their per-blob results.

Every function authorizes through the gate (tenant and permission) and audits what it does. Nothing here ever
holds a found value: results carry types, spans, scores, rules and redacted previews (uploads, returned to the
caller only) or counts per type (everything stored or audited). The uploaded file's name is not audited or stored:
file names often hold patient names or record numbers.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.discovery.classification import LEVEL_ORDER, Level
from claimvault.discovery.models import DiscoveryBlobResult, DiscoveryProfile, DiscoveryScanRun
from claimvault.discovery.profile import InvalidMrnFormat, ScanProfile
from claimvault.discovery.scanner import FileResult, scan_bytes
from claimvault.errors import NotFound, ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow
from claimvault.storage.blobs.models import Blob

UPLOAD_ENTITY = "discovery_upload"  # audit entity type of an upload scan (no row: the file is not kept)


# Views --------------------------------------------------------------------------------------------------------------
class ProfileOut(BaseModel):
    mrn_formats: list[str]
    updated_at: datetime | None
    updated_by: str | None


class UploadScanOut(BaseModel):
    level: str
    score: int
    counts: dict[str, int]
    files: list[dict[str, Any]]  # the scanner's JSON per file (zip: per member): previews only, never values


class RunOut(BaseModel):
    id: uuid.UUID
    mode: str
    status: str
    engine_version: str
    started_at: datetime
    finished_at: datetime | None
    blobs_total: int
    blobs_scanned: int
    blobs_skipped: int
    blobs_unreadable: int
    blobs_failed: int
    level_counts: dict[str, int]
    created_by: str


class BlobResultOut(BaseModel):
    blob_id: uuid.UUID
    kind: str | None
    content_type: str | None
    status: str
    reason: str | None
    level: str
    score: int
    counts: dict[str, int]
    members: int
    scanned_at: datetime


class RunDetailOut(BaseModel):
    run: RunOut
    results: list[BlobResultOut]


# Summaries ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanSummary:
    """One file (or archive) in numbers: what is audited and stored, never values."""

    status: str  # scanned | unreadable
    reason: str | None
    level: Level
    score: int
    type_counts: dict[str, int]
    members: int
    unreadable: int


def summarize(results: Sequence[FileResult]) -> ScanSummary:
    """The highest level and score over the files (zip members), findings counted per type."""
    counts: Counter[str] = Counter(f.type for r in results for f in r.findings)
    level = max((r.level for r in results), key=lambda lv: LEVEL_ORDER.index(lv), default=Level.public)
    unreadable = [r for r in results if r.status != "scanned"]
    if results and len(unreadable) == len(results):
        status, reason = "unreadable", unreadable[0].reason
    elif unreadable:
        status, reason = "scanned", f"{len(unreadable)} of {len(results)} archive members unreadable"
    else:
        status, reason = "scanned", None
    return ScanSummary(
        status=status,
        reason=(reason or None) and str(reason)[:200],
        level=level,
        score=max((r.score for r in results), default=0),
        type_counts=dict(sorted(counts.items())),
        members=len(results),
        unreadable=len(unreadable),
    )


# The profile --------------------------------------------------------------------------------------------------------
def actor_label(gate: PHIGate) -> str:
    ctx = gate.ctx
    if ctx.actor_type == "system":
        return f"system:{getattr(ctx, 'command', 'job')}"[:64]
    return f"user:{ctx.actor_id}"


def load_scan_profile(session: Session) -> ScanProfile:
    """The session's organization's profile (the default when none is set). For callers already authorized."""
    row = session.scalar(select(DiscoveryProfile))
    return ScanProfile(mrn_formats=tuple(row.mrn_formats)) if row is not None else ScanProfile()


def profile_digest(profile: ScanProfile) -> str:
    """A digest of what the profile changes in detection: results made under another profile are rescanned."""
    return hashlib.sha256(json.dumps(list(profile.mrn_formats)).encode()).hexdigest()


def _profile_out(row: DiscoveryProfile | None) -> ProfileOut:
    if row is None:
        return ProfileOut(mrn_formats=[], updated_at=None, updated_by=None)
    return ProfileOut(mrn_formats=list(row.mrn_formats), updated_at=row.updated_at, updated_by=row.updated_by)


def get_profile(*, gate: PHIGate) -> ProfileOut:
    gate.authorize(Permission.DISCOVERY_CONFIGURE, entity_type=DiscoveryProfile.__tablename__)
    return _profile_out(gate.session.scalar(select(DiscoveryProfile)))


def set_profile(*, gate: PHIGate, mrn_formats: Sequence[str]) -> ProfileOut:
    """Replace the MRN templates (validated as the scanner will use them; duplicates dropped); audited."""
    gate.authorize(Permission.DISCOVERY_CONFIGURE, entity_type=DiscoveryProfile.__tablename__)
    formats = list(dict.fromkeys(mrn_formats))
    try:
        ScanProfile(mrn_formats=tuple(formats))
    except InvalidMrnFormat as exc:  # the message names the rule broken, never the template
        raise ValidationFailed(exc.message, code=exc.code) from None
    org_id = gate.ctx.organization_id
    assert org_id is not None  # the gate refuses a context without an organization
    row = gate.session.scalar(select(DiscoveryProfile))
    if row is None:
        row = DiscoveryProfile(organization_id=org_id, mrn_formats=formats, updated_by=actor_label(gate))
        gate.session.add(row)
    else:
        row.mrn_formats, row.updated_at, row.updated_by = formats, utcnow(), actor_label(gate)
    gate.session.flush()
    event = build_event(
        gate.ctx,
        action="update",
        permission=Permission.DISCOVERY_CONFIGURE.value,
        entity_type=DiscoveryProfile.__tablename__,
        entity_id=row.id,
        fields=["mrn_formats"],
        detail={"mrn_formats": len(formats)},
    )
    record(gate.session, event)
    return _profile_out(row)


# Upload scans -------------------------------------------------------------------------------------------------------
def scan_upload(*, gate: PHIGate, name: str, data: bytes) -> UploadScanOut:
    """Scan ``data`` in memory with the organization's profile and forget it. One audit event names the level,
    score, counts per type, the number of files and of bytes: not the file name, no value, no preview."""
    gate.authorize(Permission.DISCOVERY_SCAN, entity_type=UPLOAD_ENTITY)
    results = scan_bytes(name, data, profile=load_scan_profile(gate.session))
    summary = summarize(results)
    event = build_event(
        gate.ctx,
        action="scan",
        permission=Permission.DISCOVERY_SCAN.value,
        entity_type=UPLOAD_ENTITY,
        detail={
            "level": str(summary.level),
            "score": summary.score,
            "counts": summary.type_counts,
            "files": summary.members,
            "unreadable": summary.unreadable,
            "bytes": len(data),
        },
    )
    record(gate.session, event)
    return UploadScanOut(
        level=str(summary.level),
        score=summary.score,
        counts=summary.type_counts,
        files=[r.to_json() for r in results],
    )


# Blob-store scan runs (written by blob_scan, read by the compliance view) ------------------------------------------
def _run_out(run: DiscoveryScanRun) -> RunOut:
    return RunOut(
        id=run.id,
        mode=run.mode,
        status=run.status,
        engine_version=run.engine_version,
        started_at=run.started_at,
        finished_at=run.finished_at,
        blobs_total=run.blobs_total,
        blobs_scanned=run.blobs_scanned,
        blobs_skipped=run.blobs_skipped,
        blobs_unreadable=run.blobs_unreadable,
        blobs_failed=run.blobs_failed,
        level_counts=dict(run.level_counts or {}),
        created_by=run.created_by,
    )


def list_runs(*, gate: PHIGate, limit: int = 50) -> list[RunOut]:
    """The organization's blob-store scan runs, newest first; the query is audited."""
    gate.authorize(Permission.DISCOVERY_READ, entity_type=DiscoveryScanRun.__tablename__)
    stmt = select(DiscoveryScanRun).order_by(DiscoveryScanRun.started_at.desc(), DiscoveryScanRun.id.desc())
    runs = list(gate.session.scalars(stmt.limit(limit)))
    record(
        gate.session,
        build_event(
            gate.ctx,
            action="list",
            permission=Permission.DISCOVERY_READ.value,
            entity_type=DiscoveryScanRun.__tablename__,
            detail={"count": len(runs)},
        ),
    )
    return [_run_out(run) for run in runs]


def get_run(*, gate: PHIGate, run_id: uuid.UUID, limit: int = 500, offset: int = 0) -> RunDetailOut:
    """One run and its per-blob results (highest score first); another organization's run is not found."""
    gate.authorize(Permission.DISCOVERY_READ, entity_type=DiscoveryScanRun.__tablename__, entity_id=run_id)
    run = gate.session.get(DiscoveryScanRun, run_id)  # tenant-scoped: another organization's run is not found
    if run is None:
        raise NotFound("No such scan run.")
    stmt = (
        select(DiscoveryBlobResult, Blob.kind, Blob.content_type)
        .join(Blob, Blob.id == DiscoveryBlobResult.blob_id, isouter=True)
        .where(DiscoveryBlobResult.run_id == run_id)
        .order_by(DiscoveryBlobResult.score.desc(), DiscoveryBlobResult.blob_id)
        .limit(limit)
        .offset(offset)
    )
    results = [
        BlobResultOut(
            blob_id=r.blob_id,
            kind=kind,
            content_type=content_type,
            status=r.status,
            reason=r.reason,
            level=r.level,
            score=r.score,
            counts=dict(r.type_counts or {}),
            members=r.members,
            scanned_at=r.scanned_at,
        )
        for r, kind, content_type in gate.session.execute(stmt)
    ]
    record(
        gate.session,
        build_event(
            gate.ctx,
            action="read",
            permission=Permission.DISCOVERY_READ.value,
            entity_type=DiscoveryScanRun.__tablename__,
            entity_id=run_id,
            detail={"results": len(results)},
        ),
    )
    return RunDetailOut(run=_run_out(run), results=results)


def level_tally(levels: Iterable[str]) -> dict[str, int]:
    counts = Counter(levels)
    return {str(level): counts[str(level)] for level in reversed(LEVEL_ORDER) if counts[str(level)]}
