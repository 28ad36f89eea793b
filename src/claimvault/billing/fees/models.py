"""The fee schedule table: one charge per procedure code (optionally per first modifier) for a date range. Prices are
the practice's business data, not PHI: plain columns, tenant-scoped like every billing row."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class FeeScheduleEntry(IdMixin, TenantScoped, Base):
    __tablename__ = "fee_schedule_entries"
    __table_args__ = (
        Index("ix_fee_schedule_org_code", "organization_id", "procedure_code", "modifier", "effective_from"),
    )

    procedure_code: Mapped[str] = mapped_column(String(5))
    modifier: Mapped[str] = mapped_column(String(2), default="")  # "" = any modifier without an entry of its own
    charge: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # per unit
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, default=None)  # inclusive; open-ended when absent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
