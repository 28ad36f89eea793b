"""Relationship tables: care assignments (provider to patient, within a practice) and service agreements
(a client practice and the billing company that works for it). They hold ids and dates, never patient values."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin

AGREEMENT_STATUSES = ("active", "suspended", "ended")


class CareAssignment(IdMixin, TenantScoped, TimestampMixin, Base):
    """A provider may see a patient while ``starts_at <= now < ends_at`` (open-ended when ``ends_at`` is null)."""

    __tablename__ = "care_assignments"
    __table_args__ = (
        Index("ix_care_assignments_org_provider", "organization_id", "provider_user_id"),
        Index("ix_care_assignments_org_patient", "organization_id", "patient_id"),
    )

    provider_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)


class ServiceAgreement(IdMixin, TimestampMixin, Base):
    """A billing company (partner) acts for a client practice while the agreement is active and in its dates.

    Not tenant-scoped: it links two organizations, and it is read to decide which tenant a partner may act for.
    """

    __tablename__ = "service_agreements"

    client_organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    partner_organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended | ended
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
