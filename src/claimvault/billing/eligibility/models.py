"""The eligibility_checks table: one row per 270/271 exchange about one coverage. Status, trace number and AAA
reason codes are plain (codes and a random trace say nothing about the patient); the service date, the plan's name
and the patient's benefit amounts are ciphertext (see ``data_policy.d/eligibility.toml``); the 271 itself is an
encrypted blob (kind ``x12_inbound``)."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin

STATUSES = ("active", "inactive", "rejected", "error", "pending")


class EligibilityCheck(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "eligibility_checks"
    __table_args__ = (
        Index("ix_eligibility_checks_org_coverage", "organization_id", "coverage_id"),
        Index("ix_eligibility_checks_org_patient", "organization_id", "patient_id"),
    )
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    coverage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coverages.id"))
    service_date: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext: DTP*291 asked about
    trace_number: Mapped[str] = mapped_column(String(50))  # TRN02 we sent: random, unique per inquiry
    status: Mapped[str] = mapped_column(String(16))  # one of STATUSES
    error_code: Mapped[str | None] = mapped_column(String(40), default=None)  # why status is "error"
    reject_reasons: Mapped[str | None] = mapped_column(String(120), default=None)  # AAA03 codes, comma-separated
    plan_name: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext (EB05)
    copay: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: Decimal as text
    deductible: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    deductible_remaining: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    coinsurance_percent: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # 0-100
    out_of_pocket: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    response_blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("blobs.id"), default=None)  # the 271
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
