"""Tables of sensitive-data discovery inside ClaimVault: each organization's scan profile and the results of
scans of its own blob store.

- ``discovery_profiles``: one per organization, its medical-record-number templates (``profile.ScanProfile``).
- ``discovery_scan_runs``: one per run of ``claimvault scan-blobs`` (mode, engine version, start, end, counts).
- ``discovery_blob_results``: one per blob scanned in a run: level, score, counts per entity type, status and
  reason. Never a value, a preview of a value, a file name or a zip member name: only ids, codes and counts.

Uploaded files scanned through the API leave no row here (only their audit event).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

RUN_MODES = ("incremental", "full")
RUN_STATUSES = ("running", "completed", "failed")
RESULT_STATUSES = ("scanned", "unreadable", "failed")  # failed: the blob could not be decrypted (integrity)


class DiscoveryProfile(IdMixin, TenantScoped, Base):
    __tablename__ = "discovery_profiles"
    __table_args__ = (Index("uq_discovery_profiles_org", "organization_id", unique=True),)

    mrn_formats: Mapped[list[str]] = mapped_column(JSON, default=list)  # templates such as MRN-9999999
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class DiscoveryScanRun(IdMixin, TenantScoped, Base):
    __tablename__ = "discovery_scan_runs"
    __table_args__ = (Index("ix_discovery_scan_runs_org_started", "organization_id", "started_at"),)

    mode: Mapped[str] = mapped_column(String(16))  # one of RUN_MODES
    status: Mapped[str] = mapped_column(String(16), default="running")  # one of RUN_STATUSES
    engine_version: Mapped[str] = mapped_column(String(32))
    profile_digest: Mapped[str] = mapped_column(String(64))  # digest of the MRN templates in force
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    blobs_total: Mapped[int] = mapped_column(Integer, default=0)  # live blobs of the organization
    blobs_scanned: Mapped[int] = mapped_column(Integer, default=0)
    blobs_skipped: Mapped[int] = mapped_column(Integer, default=0)  # already scanned by this engine and profile
    blobs_unreadable: Mapped[int] = mapped_column(Integer, default=0)
    blobs_failed: Mapped[int] = mapped_column(Integer, default=0)
    level_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # level -> blobs at that level
    created_by: Mapped[str] = mapped_column(String(64))


class DiscoveryBlobResult(IdMixin, TenantScoped, Base):
    __tablename__ = "discovery_blob_results"
    __table_args__ = (
        Index("ix_discovery_blob_results_org_run", "organization_id", "run_id"),
        Index("ix_discovery_blob_results_org_blob", "organization_id", "blob_id"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("discovery_scan_runs.id"))
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))
    engine_version: Mapped[str] = mapped_column(String(32))
    profile_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # one of RESULT_STATUSES
    reason: Mapped[str | None] = mapped_column(String(200), default=None)  # written by the scanner, never content
    level: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    type_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # entity type -> findings
    members: Mapped[int] = mapped_column(Integer, default=1)  # files in it (zip members), 1 for a plain file
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow)
