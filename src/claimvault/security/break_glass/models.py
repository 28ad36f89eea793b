"""The break-the-glass grants table: who opened which patient's record in an emergency, why, until when, and
how compliance reviewed it. The free-text justification may hold PHI: it is ciphertext, read through the gate."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped


class BreakGlassGrant(IdMixin, TenantScoped, Base):
    __tablename__ = "break_glass_grants"
    __table_args__ = (
        Index("ix_break_glass_grants_org_user_expires", "organization_id", "user_id", "expires_at"),
        Index("ix_break_glass_grants_org_review", "organization_id", "review_status", "granted_at"),
    )
    __patient_key__ = "patient_id"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    reason_code: Mapped[str] = mapped_column(String(32))
    justification: Mapped[bytes] = mapped_column(LargeBinary)
    granted_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    review_status: Mapped[str] = mapped_column(String(16), default="pending")
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_note_code: Mapped[str | None] = mapped_column(String(48), default=None)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id"), default=None)
