"""Scans of ClaimVault's own blob store, for the compliance views: each live stored file of one organization is
decrypted through the PHI gate (permission ``discovery:scan_store``, held by no role: a system context naming the
command; every decryption is audited as a blob read), scanned in memory with ``scan_bytes`` and the
organization's profile, and summarized into ``discovery_blob_results`` (level, score, counts per type, status and
reason; never a value, a preview or a member name).

Incremental by default: a blob that already has a result from this ``ENGINE_VERSION`` under the same profile is
skipped (a changed profile or a new engine version rescans everything; a blob that failed its integrity check is
retried); ``full=True`` rescans every blob. Work is committed batch by batch, so an interrupted run keeps what it
did (its run stays ``running``) and the next incremental run carries on from there.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import select

from claimvault.discovery.models import DiscoveryBlobResult, DiscoveryScanRun
from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.scanner import scan_bytes
from claimvault.discovery.service import actor_label, level_tally, load_scan_profile, profile_digest, summarize
from claimvault.errors import NotFound
from claimvault.security.audit import build_event, record
from claimvault.security.crypto.blobs import BlobIntegrityError, BlobStore
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow
from claimvault.storage.blobs.models import Blob

ENGINE_VERSION = "discovery-1"  # raise when detection changes: every blob is then rescanned once
PERMISSION = Permission.DISCOVERY_SCAN_STORE
BATCH_SIZE = 20  # blobs per transaction
# Blobs carry a content type, never a file name: the scanner gets a made-up name with a matching suffix.
SUFFIXES = {
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/json": ".json",
    "application/fhir+json": ".json",
    "text/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "text/plain": ".txt",
    "application/edi-x12": ".x12",
    "application/x12": ".x12",
    "application/hl7-v2": ".hl7",
    "x-application/hl7-v2+er7": ".hl7",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}

Gates = Callable[[], AbstractContextManager[PHIGate]]
Progress = Callable[[int, int], None]


@dataclass
class BlobScanReport:
    run_id: uuid.UUID
    total: int = 0
    scanned: int = 0
    skipped: int = 0
    unreadable: int = 0
    failed: int = 0
    levels: Counter[str] = field(default_factory=Counter)

    @property
    def level_counts(self) -> dict[str, int]:
        return level_tally(self.levels.elements())


@dataclass(frozen=True)
class _Plan:
    run_id: uuid.UUID
    todo: list[uuid.UUID]
    profile: ScanProfile
    digest: str
    total: int
    skipped: int


def scan_name(blob_id: uuid.UUID, content_type: str) -> str:
    return f"blob-{blob_id}{SUFFIXES.get(content_type.split(';')[0].strip().lower(), '')}"


def _start(gate: PHIGate, *, full: bool) -> _Plan:
    gate.authorize(PERMISSION, entity_type=DiscoveryScanRun.__tablename__)
    org_id = gate.ctx.organization_id
    assert org_id is not None  # the gate refuses a context without an organization
    profile = load_scan_profile(gate.session)
    digest = profile_digest(profile)
    live = list(gate.session.scalars(select(Blob.id).where(Blob.deleted_at.is_(None)).order_by(Blob.id)))
    done: set[uuid.UUID] = set()
    if not full:
        done = set(
            gate.session.scalars(
                select(DiscoveryBlobResult.blob_id).where(
                    DiscoveryBlobResult.engine_version == ENGINE_VERSION,
                    DiscoveryBlobResult.profile_digest == digest,
                    DiscoveryBlobResult.status != "failed",
                )
            )
        )
    todo = [b for b in live if b not in done]
    run = DiscoveryScanRun(
        organization_id=org_id,
        mode="full" if full else "incremental",
        engine_version=ENGINE_VERSION,
        profile_digest=digest,
        blobs_total=len(live),
        blobs_skipped=len(live) - len(todo),
        level_counts={},
        created_by=actor_label(gate),
    )
    gate.session.add(run)
    gate.session.flush()
    record(
        gate.session,
        build_event(
            gate.ctx,
            action="create",
            permission=PERMISSION.value,
            entity_type=DiscoveryScanRun.__tablename__,
            entity_id=run.id,
            detail={"mode": run.mode, "engine_version": ENGINE_VERSION, "blobs": len(live), "to_scan": len(todo)},
        ),
    )
    return _Plan(run.id, todo, profile, digest, total=len(live), skipped=len(live) - len(todo))


def _scan_one(gate: PHIGate, blobs: BlobStore, plan: _Plan, blob_id: uuid.UUID, report: BlobScanReport) -> None:
    org_id = gate.ctx.organization_id
    assert org_id is not None
    result = DiscoveryBlobResult(
        organization_id=org_id,
        run_id=plan.run_id,
        blob_id=blob_id,
        engine_version=ENGINE_VERSION,
        profile_digest=plan.digest,
    )
    try:
        ref, data = blobs.read_file(gate=gate, blob_id=blob_id, permission=PERMISSION)
    except NotFound:
        return  # deleted since the run started: nothing to report
    except BlobIntegrityError as exc:
        result.status, result.reason, result.level, result.score, result.type_counts = (
            "failed",
            exc.message[:200],
            "public",
            0,
            {},
        )
        report.failed += 1
    else:
        summary = summarize(scan_bytes(scan_name(blob_id, ref.content_type), data, profile=plan.profile))
        del data
        result.status, result.reason, result.level, result.score = (
            summary.status,
            summary.reason,
            str(summary.level),
            summary.score,
        )
        result.type_counts, result.members = summary.type_counts, summary.members
        if summary.status == "unreadable":
            report.unreadable += 1
        else:
            report.scanned += 1
        report.levels[str(summary.level)] += 1
    gate.session.add(result)


def _finish(gate: PHIGate, report: BlobScanReport) -> None:
    gate.authorize(PERMISSION, entity_type=DiscoveryScanRun.__tablename__, entity_id=report.run_id)
    run = gate.session.get(DiscoveryScanRun, report.run_id)
    if run is None:
        raise NotFound("No such scan run.")
    run.status, run.finished_at = "completed", utcnow()
    run.blobs_scanned, run.blobs_unreadable, run.blobs_failed = report.scanned, report.unreadable, report.failed
    run.level_counts = report.level_counts
    gate.session.flush()
    record(
        gate.session,
        build_event(
            gate.ctx,
            action="update",
            permission=PERMISSION.value,
            entity_type=DiscoveryScanRun.__tablename__,
            entity_id=run.id,
            fields=["blobs_failed", "blobs_scanned", "blobs_unreadable", "finished_at", "level_counts", "status"],
            detail={
                "scanned": report.scanned,
                "skipped": report.skipped,
                "unreadable": report.unreadable,
                "failed": report.failed,
                "levels": report.level_counts,
            },
        ),
    )


def _batches(items: list[uuid.UUID], size: int) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def scan_blob_store(
    *, gates: Gates, blobs: BlobStore, full: bool = False, progress: Progress | None = None
) -> BlobScanReport:
    """One run over the organization of the gates' context. ``gates`` opens a fresh gate (one transaction) each
    call: the run row first, then one per batch of blobs, then the closing counts. ``progress(done, total)``."""
    with gates() as gate:
        plan = _start(gate, full=full)
    report = BlobScanReport(plan.run_id, total=plan.total, skipped=plan.skipped)
    done = 0
    if progress is not None:
        progress(done, len(plan.todo))
    for batch in _batches(plan.todo, BATCH_SIZE):
        with gates() as gate:
            for blob_id in batch:
                _scan_one(gate, blobs, plan, blob_id, report)
                done += 1
                if progress is not None:
                    progress(done, len(plan.todo))
    with gates() as gate:
        _finish(gate, report)
    return report
