"""Retention holds: while a hold covers a patient (or the whole organization), their data may not be destroyed.

A hold with no patient covers every patient of the organization. Releasing a hold keeps its row (who placed and
released it, and when) for the record. Reason codes are codes, never free text.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from claimvault.errors import NotFound, ValidationFailed
from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

REASON_CODES = frozenset({"litigation", "regulatory", "audit", "investigation", "other"})


class RetentionHold(IdMixin, TenantScoped, Base):
    __tablename__ = "retention_holds"
    __table_args__ = (Index("ix_retention_holds_org_patient", "organization_id", "patient_id"),)

    patient_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # None: the whole organization
    reason_code: Mapped[str] = mapped_column(String(32))
    placed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    released_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)


def active_hold(session: Session, patient_id: uuid.UUID) -> bool:
    """True while an unreleased hold covers this patient or the whole organization (tenant-scoped session)."""
    stmt = select(RetentionHold.id).where(
        RetentionHold.released_at.is_(None),
        or_(RetentionHold.patient_id.is_(None), RetentionHold.patient_id == patient_id),
    )
    return session.scalars(stmt.limit(1)).first() is not None


def place_hold(
    session: Session,
    *,
    org_id: uuid.UUID,
    patient_id: uuid.UUID | None,
    reason_code: str,
    placed_by: uuid.UUID | None,
) -> RetentionHold:
    if reason_code not in REASON_CODES:
        raise ValidationFailed("Unknown retention hold reason code.")
    hold = RetentionHold(organization_id=org_id, patient_id=patient_id, reason_code=reason_code, placed_by=placed_by)
    session.add(hold)
    session.flush()
    return hold


def release_hold(session: Session, *, hold_id: uuid.UUID, released_by: uuid.UUID | None) -> RetentionHold:
    hold = session.get(RetentionHold, hold_id)
    if hold is None or hold.released_at is not None:
        raise NotFound("No such active retention hold.")
    hold.released_at = utcnow()
    hold.released_by = released_by
    session.flush()
    return hold
