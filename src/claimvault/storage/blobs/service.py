"""Storage-side blob operations: object names, metadata references and the orphan sweep.

Write order is object first, then the metadata row (in the caller's transaction). A crash or rollback between the
two leaves an orphan object, never a row without its object; ``sweep_orphans`` removes orphans once they are
older than a grace period (so an object whose row is still being committed is left alone). Orphans are
ciphertext under the organization's key and name nothing, so until swept they reveal nothing.
Reading and writing content goes through the PHI gate (``claimvault.security.crypto.blobs.BlobStore``).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from claimvault.storage.base import utcnow
from claimvault.storage.blobs.backends import BlobBackend
from claimvault.storage.blobs.models import Blob
from claimvault.storage.database import Database

ORPHAN_GRACE = timedelta(hours=1)
_NAME = re.compile(r"^([0-9a-f]{32})/([0-9a-f]{12})-[0-9a-f]{32}$")


@dataclass(frozen=True)
class BlobRef:
    """What callers keep of a stored file: its id and metadata (never its content or storage name)."""

    id: uuid.UUID
    kind: str
    content_type: str
    size: int
    patient_id: uuid.UUID | None
    created_at: datetime


def blob_ref(row: Blob) -> BlobRef:
    return BlobRef(
        id=row.id,
        kind=row.kind,
        content_type=row.content_type,
        size=row.size,
        patient_id=row.patient_id,
        created_at=row.created_at,
    )


def new_storage_key(organization_id: uuid.UUID, *, now: datetime | None = None) -> str:
    """A fresh random object name: ``<org id>/<creation ms, hex>-<128 random bits>``. Never derived from content
    or file names; the organization prefix and the time let the sweep work per tenant and spare fresh objects."""
    ms = int((now or utcnow()).timestamp() * 1000)
    return f"{organization_id.hex}/{ms:012x}-{secrets.token_hex(16)}"


def storage_key_created_at(key: str) -> datetime | None:
    match = _NAME.fullmatch(key)
    return None if match is None else datetime.fromtimestamp(int(match.group(2), 16) / 1000, tz=UTC)


def sweep_orphans(
    *,
    db: Database,
    backend: BlobBackend,
    organization_id: uuid.UUID,
    grace: timedelta = ORPHAN_GRACE,
    now: datetime | None = None,
) -> list[str]:
    """Delete the organization's stored objects older than ``grace`` that no live metadata row names.

    That covers objects whose row never committed and objects of deleted blobs whose removal after the commit was
    interrupted (their rows stay as tombstones). Returns the removed object names (opaque, safe to log).
    """
    cutoff = (now or utcnow()) - grace
    prefix = organization_id.hex + "/"
    candidates = [
        key
        for key in backend.iter_keys(prefix)
        if (created := storage_key_created_at(key)) is not None and created <= cutoff
    ]
    if not candidates:
        return []
    known: set[str] = set()
    with db.session(tenant_id=organization_id) as session:
        for start in range(0, len(candidates), 500):
            batch = candidates[start : start + 500]
            stmt = select(Blob.storage_key).where(Blob.storage_key.in_(batch), Blob.deleted_at.is_(None))
            known.update(session.scalars(stmt))
    removed = [key for key in candidates if key not in known]
    for key in removed:
        backend.delete(key)
    return removed
