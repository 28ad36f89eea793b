"""Tables of the key lifecycle: per-patient data keys (crypto-shredding) and, re-exported, retention holds."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.privacy.holds import RetentionHold
from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

__all__ = ["PatientKey", "RetentionHold"]


class PatientKey(IdMixin, TenantScoped, Base):
    """A patient's data key (32 random bytes), wrapped (AES-256-GCM) by the organization field data key named
    in ``wrapping_key_id``. Destroying it (``wrapped_key`` emptied, ``destroyed_at`` set) crypto-shreds every
    value encrypted for the patient: their cell keys derive from both the organization key and this key."""

    __tablename__ = "patient_keys"
    __table_args__ = (
        UniqueConstraint("organization_id", "patient_id", "version", name="uq_patient_keys_org_patient_version"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
    wrapping_key_id: Mapped[uuid.UUID] = mapped_column()
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
