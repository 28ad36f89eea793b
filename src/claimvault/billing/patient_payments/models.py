"""Tables of patient payments: payments and their applications to claims, refunds, patient-side adjustments
(write-offs), and payment plans with their installments.

Amounts are plain ``Numeric`` (as the ledger's are) so balances stay exact SQL sums. A check number and the
processor's charge and refund references are ciphertext; card numbers never exist here (cards are charged
through a processor token kept in ``payment_methods``). Statuses and reason codes are plain codes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

MONEY = Numeric(12, 2)
ZERO = Decimal("0.00")


class PatientPayment(IdMixin, TenantScoped, Base):
    """Money received from a patient. ``unapplied`` is what is still on account (credit)."""

    __tablename__ = "patient_payments"
    __table_args__ = (Index("ix_patient_payments_org_patient", "organization_id", "patient_id"),)
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    method: Mapped[str] = mapped_column(String(8))  # cash | check | card
    source: Mapped[str] = mapped_column(String(12))  # desk | installment
    amount: Mapped[Decimal] = mapped_column(MONEY)
    unapplied: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)  # credit on account left from this payment
    refunded: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)
    check_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_methods.id"), default=None)
    processor: Mapped[str | None] = mapped_column(String(32), default=None)
    charge_reference: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: charge id
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class PaymentApplication(IdMixin, TenantScoped, Base):
    """Part of a payment applied to a claim's patient balance; ``refunded`` is what a refund took back."""

    __tablename__ = "patient_payment_applications"
    __table_args__ = (
        Index("ix_patient_payment_applications_org_payment", "organization_id", "payment_id"),
        Index("ix_patient_payment_applications_org_claim", "organization_id", "claim_id"),
    )
    __patient_key__ = "patient_id"

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient_payments.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    refunded: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class PatientRefund(IdMixin, TenantScoped, Base):
    """Money returned to a patient from one payment: to the original card or by check."""

    __tablename__ = "patient_refunds"
    __table_args__ = (Index("ix_patient_refunds_org_payment", "organization_id", "payment_id"),)
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient_payments.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    method: Mapped[str] = mapped_column(String(8))  # card | check
    check_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext
    refund_reference: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: processor's
    reason_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending_approval | completed | expired
    approval_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_requests.id"), default=None)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class PatientAdjustment(IdMixin, TenantScoped, Base):
    """A write-off of (part of) a claim's patient balance: small balance, bad debt or courtesy."""

    __tablename__ = "patient_adjustments"
    __table_args__ = (Index("ix_patient_adjustments_org_claim", "organization_id", "claim_id"),)
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id"))
    category: Mapped[str] = mapped_column(String(16))  # small_balance | bad_debt | courtesy
    reason_code: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(String(16))  # pending_approval | applied | expired
    approval_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_requests.id"), default=None)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_by: Mapped[str | None] = mapped_column(String(64), default=None)
    applied_at: Mapped[datetime | None] = mapped_column(default=None)


class PaymentPlan(IdMixin, TenantScoped, Base):
    """A patient's agreement to pay ``total`` in installments charged to a stored card."""

    __tablename__ = "payment_plans"
    __table_args__ = (Index("ix_payment_plans_org_patient", "organization_id", "patient_id"),)
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    payment_method_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_methods.id"))
    total: Mapped[Decimal] = mapped_column(MONEY)
    installment_amount: Mapped[Decimal] = mapped_column(MONEY)
    schedule: Mapped[str] = mapped_column(String(8))  # monthly | biweekly
    start_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))  # active | completed | cancelled
    paid: Mapped[Decimal] = mapped_column(MONEY, default=ZERO)
    missed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanInstallment(IdMixin, TenantScoped, Base):
    """One scheduled charge of a plan; charged at most once (the processor idempotency key is its id)."""

    __tablename__ = "payment_plan_installments"
    __table_args__ = (
        Index("uq_payment_plan_installments_org_plan_seq", "organization_id", "plan_id", "sequence", unique=True),
        Index("ix_payment_plan_installments_org_status_due", "organization_id", "status", "due_date"),
    )
    __patient_key__ = "patient_id"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_plans.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(String(12))  # due | paid | missed | cancelled
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient_payments.id"), default=None)
    attempted_at: Mapped[datetime | None] = mapped_column(default=None)
    failure_code: Mapped[str | None] = mapped_column(String(32), default=None)
