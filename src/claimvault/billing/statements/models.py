"""Tables of patient statements.

- ``statement_runs``: one per batch run that produced statements (statement date, counts, total due).
- ``statements``: one per patient per statement date (unique: a second run the same day adds nothing), with the
  amount due and its aging, the encrypted PDF (a ``statement`` blob linked to the patient) and a delivery status.
  Amounts are plain ``Numeric`` like the claim balances they come from; the PDF, which names the patient, is only
  ever ciphertext.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

MONEY = Numeric(12, 2)
DELIVERY_STATUSES = ("pending", "no_address", "printed", "mailed", "sent_portal", "returned")


class StatementRun(IdMixin, TenantScoped, Base):
    __tablename__ = "statement_runs"
    __table_args__ = (Index("ix_statement_runs_org_date", "organization_id", "statement_date"),)

    statement_date: Mapped[date] = mapped_column(Date)  # the as-of day of the run
    patients_with_balance: Mapped[int] = mapped_column(Integer, default=0)  # positive patient balances found
    statements_created: Mapped[int] = mapped_column(Integer, default=0)
    already_issued: Mapped[int] = mapped_column(Integer, default=0)  # had a statement of that day already
    zero_or_credit: Mapped[int] = mapped_column(Integer, default=0)  # patients with an open ledger but nothing due
    total_due: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class Statement(IdMixin, TenantScoped, Base):
    __tablename__ = "statements"
    __table_args__ = (
        Index("uq_statements_org_patient_date", "organization_id", "patient_id", "statement_date", unique=True),
        Index("ix_statements_org_run", "organization_id", "run_id"),
    )
    __patient_key__ = "patient_id"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("statement_runs.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    statement_date: Mapped[date] = mapped_column(Date)
    amount_due: Mapped[Decimal] = mapped_column(MONEY)
    aging_current: Mapped[Decimal] = mapped_column(MONEY)  # 0-30 days from the date of service
    aging_31_60: Mapped[Decimal] = mapped_column(MONEY)
    aging_61_90: Mapped[Decimal] = mapped_column(MONEY)
    aging_over_90: Mapped[Decimal] = mapped_column(MONEY)
    encounter_count: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))  # the encrypted PDF
    delivery_status: Mapped[str] = mapped_column(String(16), default="pending")  # one of DELIVERY_STATUSES
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
