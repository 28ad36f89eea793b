"""The patient table. Protected columns hold ciphertext; which ones is decided by the data policy file."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin


class Patient(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "patients"
    __table_args__ = (
        Index("ix_patients_org_name_dob_bidx", "organization_id", "name_dob_bidx"),
        Index("ix_patients_org_ssn_bidx", "organization_id", "ssn_bidx"),
        Index("ix_patients_org_phone_bidx", "organization_id", "phone_bidx"),
        Index("ix_patients_org_mrn_bidx", "organization_id", "mrn_bidx"),
        Index("uq_patients_org_import_key", "organization_id", "import_key", unique=True),
    )
    __patient_key__ = "id"
    __blind_indexes__ = {
        "name_dob_bidx": ("family_name", "birth_date"),
        "ssn_bidx": ("ssn",),
        "phone_bidx": ("phone",),
        "mrn_bidx": ("mrn",),
    }

    given_name: Mapped[bytes] = mapped_column(LargeBinary)
    family_name: Mapped[bytes] = mapped_column(LargeBinary)
    birth_date: Mapped[bytes] = mapped_column(LargeBinary)
    ssn: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    sex: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # administrative sex: M | F | U
    mrn: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # medical record number
    # Contact data (all ciphertext; absent for patients registered before it existed).
    phone: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # E.164
    email: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    address_line1: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    address_line2: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    city: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    state: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    postal_code: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    name_dob_bidx: Mapped[bytes] = mapped_column(LargeBinary(16))  # blind index over family name + DOB
    ssn_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=None)
    phone_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=None)
    mrn_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=None)
    import_key: Mapped[str | None] = mapped_column(String(64), default=None)  # idempotent FHIR import
    # A duplicate merged into another record stays (retention) but points at the surviving patient.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), default=None)
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
