"""The blobs table: metadata of encrypted files. The file itself is ciphertext in the blob backend.

Nothing here is derived from the plaintext: ``sha256`` is the digest of the stored ciphertext (an integrity check
that reveals nothing about content equality) and ``storage_key`` is a random name.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

BLOB_KINDS = frozenset({"attachment", "statement", "x12_outbound", "x12_inbound", "export"})


class Blob(IdMixin, TenantScoped, Base):
    __tablename__ = "blobs"
    __table_args__ = (Index("ix_blobs_org_patient", "organization_id", "patient_id"),)
    __patient_key__ = "patient_id"

    kind: Mapped[str] = mapped_column(String(16))  # one of BLOB_KINDS
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)  # plaintext bytes
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))  # digest of the stored ciphertext
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), default=None)
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
