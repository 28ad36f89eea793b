"""The coverages table: one row per insurance coverage of a patient. Protected columns hold ciphertext (see the
data policy); rank, relationship code, status and effective dates are plain so validation needs no decryption.

``payer_name`` is the name as registered; ``payer_id`` links the coverage to a configured payer, which a claim
needs (the payer's 837P identity, trading partner and timely-filing limit).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin


class Coverage(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "coverages"
    __table_args__ = (
        Index("ix_coverages_org_patient", "organization_id", "patient_id"),
        Index("ix_coverages_org_member_id_bidx", "organization_id", "member_id_bidx"),
        Index("uq_coverages_org_import_key", "organization_id", "import_key", unique=True),
    )
    __patient_key__ = "patient_id"
    __blind_indexes__ = {"member_id_bidx": ("member_id",)}

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    rank: Mapped[str] = mapped_column(String(16))  # primary | secondary | tertiary
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | inactive (entered in error)
    payer_name: Mapped[str] = mapped_column(String(120))
    payer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payers.id"), default=None)  # billable payer
    member_id: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext: upper case, no spaces or dashes
    group_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    subscriber_relationship: Mapped[str] = mapped_column(String(16))  # self | spouse | child | other
    subscriber_given_name: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    subscriber_family_name: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    subscriber_birth_date: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, default=None)  # inclusive; open-ended when absent
    member_id_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=None)
    import_key: Mapped[str | None] = mapped_column(String(64), default=None)  # idempotent FHIR import
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
