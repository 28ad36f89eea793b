"""X12 files of an organization: released 837P interchanges and received acknowledgements. The listing shows
envelope numbers and counts; the content (PHI) is an encrypted blob read through the PHI gate, audited."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from claimvault.billing.claims.models import X12File
from claimvault.errors import NotFound
from claimvault.security.crypto.blobs import BlobStore
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

SUBMIT = Permission.CLAIM_SUBMIT
MAX_LISTED = 500


class X12FileOut(BaseModel):
    id: uuid.UUID
    kind: str
    direction: str
    status: str
    payer_id: uuid.UUID | None = None
    trading_partner_id: uuid.UUID | None = None
    interchange_control: int | None = None
    group_control: int | None = None
    claim_count: int
    created_at: datetime
    created_by: str


def _out(record: Record) -> X12FileOut:
    return X12FileOut.model_validate({"id": record.id, **record.values})


def list_x12_files(*, gate: PHIGate, kind: str | None = None, limit: int = 100) -> list[X12FileOut]:
    """Newest first; at most ``limit`` (capped at 500)."""
    stmt = select(X12File).order_by(X12File.created_at.desc(), X12File.id.desc()).limit(min(limit, MAX_LISTED))
    if kind is not None:
        stmt = stmt.where(X12File.kind == kind)
    return [_out(r) for r in gate.select(stmt, model=X12File, permission=SUBMIT)]


def read_x12_file(*, gate: PHIGate, blobs: BlobStore, file_id: uuid.UUID) -> tuple[X12FileOut, bytes]:
    """The file's metadata and content (decrypted by the blob store after authorization; audited)."""
    record = gate.get(X12File, file_id, permission=SUBMIT)
    if record.values.get("blob_id") is None:
        raise NotFound("This file's content is not stored.")
    return _out(record), blobs.read(gate=gate, blob_id=record["blob_id"], permission=SUBMIT)
