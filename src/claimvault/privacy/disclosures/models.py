"""Disclosure records and accounting suspensions. Recipient, description, purpose, date and agency are ciphertext
(see ``security/data_policy.d/disclosures.toml``); codes, ids and the suspension's dates are plain."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class DisclosureSuspension(IdMixin, TenantScoped, Base):
    """A health oversight agency's or law enforcement official's statement (164.528(a)(2)): disclosures linked to
    it are left out of the patient's accounting from ``starts_on`` to ``ends_on`` inclusive."""

    __tablename__ = "disclosure_suspensions"

    agency_name: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext (PII): agency or official
    agency_kind: Mapped[str] = mapped_column(String(32))  # health_oversight | law_enforcement
    statement_kind: Mapped[str] = mapped_column(String(16))  # written | oral (oral: at most 30 days)
    reason_code: Mapped[str] = mapped_column(String(32))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Disclosure(IdMixin, TenantScoped, Base):
    """One disclosure of a patient's PHI. Rows are never changed except to link them to a suspension."""

    __tablename__ = "disclosures"
    __table_args__ = (Index("ix_disclosures_org_patient", "organization_id", "patient_id"),)
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    disclosed_on: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext (PHI, date)
    recipient_name: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext (PHI)
    recipient_address: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext, if known
    description: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext (PHI): what was disclosed
    purpose: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext (PHI): statement of purpose
    purpose_code: Mapped[str] = mapped_column(String(32))
    excluded_category: Mapped[str | None] = mapped_column(String(32), default=None)  # recorded, not accounted
    suspension_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("disclosure_suspensions.id"), default=None)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
