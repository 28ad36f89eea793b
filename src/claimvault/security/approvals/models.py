"""The approval_requests table: an action held until a second person decides it (two-person rule)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class ApprovalRequest(IdMixin, TenantScoped, Base):
    """A requested action of one organization. ``payload`` holds ids and codes only, never free text."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_org_status", "organization_id", "status"),)

    kind: Mapped[str] = mapped_column(String(32))  # write_off | refund | adjustment | mfa_reset | user_reactivation
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    requested_by_name: Mapped[str | None] = mapped_column(String(120), default=None)  # system command + operator
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    reason_code: Mapped[str | None] = mapped_column(String(64), default=None)
    executed_at: Mapped[datetime | None] = mapped_column(default=None)
