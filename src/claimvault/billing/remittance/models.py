"""Tables of remittance posting and the claim ledger.

- ``remittances``: one per posted 835 transaction set (payer, payment method and date, amount; the TRN02 trace
  number is ciphertext and ``key_digest``, a keyed digest of payer id + TRN02, makes a second import impossible).
- ``remittance_claim_payments``: one per CLP loop posted (or a manual posting from a paper EOB), matched to a claim or
  left unmatched; the payer's claim number is ciphertext, ``payer_claim_digest`` recognises it without decrypting.
- ``remittance_line_postings``, ``remittance_adjustments`` (CAS, claim- or line-level), ``remittance_remarks``
  (RARC), ``remittance_provider_adjustments`` (PLB) and ``denial_work_items`` (the denial queue).
- ``ledger_entries`` and ``claim_balances``: every money movement of a claim as signed deltas of two buckets,
  insurance and patient; ``claim_balances`` holds their running sums (row-locked while posting), so A/R is an
  exact SQL sum. Amounts are plain ``Numeric`` (as claim charges are) and never floats; codes are plain; anything
  naming a patient's claim to the payer is ciphertext.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow

MONEY = Numeric(12, 2)


class Remittance(IdMixin, TenantScoped, Base):
    __tablename__ = "remittances"
    __table_args__ = (Index("uq_remittances_org_key", "organization_id", "key_digest", unique=True),)
    __blind_indexes__ = {"key_digest": ("payer_identifier", "trace_number")}

    x12_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("x12_files.id"), default=None)
    payer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payers.id"), default=None)
    payer_identifier: Mapped[str] = mapped_column(String(80))  # REF*2U / N1*PR N104 / TRN03
    trace_number: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext: TRN02 check or EFT number
    key_digest: Mapped[bytes] = mapped_column(LargeBinary(16))  # blind index of payer id + TRN02
    transaction_control: Mapped[str] = mapped_column(String(9))  # ST02
    payment_method: Mapped[str] = mapped_column(String(3))  # BPR04
    payment_date: Mapped[date] = mapped_column(Date)  # BPR16
    payment_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # BPR02
    claim_payment_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(8), default="posted")  # posted | dry (never committed)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class ClaimPaymentPosting(IdMixin, TenantScoped, Base):
    __tablename__ = "remittance_claim_payments"
    __table_args__ = (
        Index("ix_remittance_claim_payments_org_claim", "organization_id", "claim_id"),
        Index("ix_remittance_claim_payments_org_digest", "organization_id", "payer_claim_digest"),
        Index("ix_remittance_claim_payments_org_remittance", "organization_id", "remittance_id"),
    )
    __patient_key__ = "patient_id"

    remittance_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("remittances.id"), default=None)
    claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("claims.id"), default=None)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), default=None)
    source: Mapped[str] = mapped_column(String(8))  # 835 | manual
    position: Mapped[int] = mapped_column(Integer, default=0)  # CLP loop index in its transaction set
    status_code: Mapped[str] = mapped_column(String(2))  # CLP02
    charge: Mapped[Decimal] = mapped_column(MONEY)  # CLP03
    paid: Mapped[Decimal] = mapped_column(MONEY)  # CLP04
    patient_responsibility: Mapped[Decimal | None] = mapped_column(MONEY, default=None)  # CLP05
    filing_indicator: Mapped[str | None] = mapped_column(String(2), default=None)  # CLP06
    payer_claim_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: CLP07
    payer_claim_digest: Mapped[str | None] = mapped_column(String(64), default=None)  # keyed digest of CLP07
    matched_by: Mapped[str] = mapped_column(String(20))  # control_number | payer_claim_number | member_charge | none
    outcome: Mapped[str] = mapped_column(String(12))  # posted | reversed | unmatched
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("remittance_claim_payments.id"), default=None)
    claim_status: Mapped[str | None] = mapped_column(String(16), default=None)  # the claim's status it led to
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class LinePosting(IdMixin, TenantScoped, Base):
    __tablename__ = "remittance_line_postings"
    __table_args__ = (
        Index("ix_remittance_line_postings_org_payment", "organization_id", "claim_payment_id"),
        Index("ix_remittance_line_postings_org_line", "organization_id", "service_line_id"),
    )
    __patient_key__ = "patient_id"

    claim_payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remittance_claim_payments.id"))
    claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("claims.id"), default=None)
    service_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_lines.id"), default=None)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), default=None)
    position: Mapped[int] = mapped_column(Integer)  # SVC loop index in its claim payment
    matched_by: Mapped[str] = mapped_column(String(20))  # control_number | procedure | submitted | code | position
    charge: Mapped[Decimal] = mapped_column(MONEY)  # SVC02
    paid: Mapped[Decimal] = mapped_column(MONEY)  # SVC03
    allowed: Mapped[Decimal | None] = mapped_column(MONEY, default=None)  # AMT*B6, else charge - CO/OA/PI
    units: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), default=None)  # SVC05


class PostedAdjustment(IdMixin, TenantScoped, Base):
    __tablename__ = "remittance_adjustments"
    __table_args__ = (Index("ix_remittance_adjustments_org_payment", "organization_id", "claim_payment_id"),)

    claim_payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remittance_claim_payments.id"))
    line_posting_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("remittance_line_postings.id"), default=None)
    group_code: Mapped[str] = mapped_column(String(2))  # CO | PR | OA | PI
    reason_code: Mapped[str] = mapped_column(String(5))  # CARC
    amount: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(15, 3), default=None)


class PostedRemark(IdMixin, TenantScoped, Base):
    __tablename__ = "remittance_remarks"
    __table_args__ = (Index("ix_remittance_remarks_org_payment", "organization_id", "claim_payment_id"),)

    claim_payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remittance_claim_payments.id"))
    line_posting_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("remittance_line_postings.id"), default=None)
    code: Mapped[str] = mapped_column(String(30))  # RARC (MOA/MIA at claim level, LQ*HE at line level)


class PostedProviderAdjustment(IdMixin, TenantScoped, Base):
    __tablename__ = "remittance_provider_adjustments"
    __table_args__ = (Index("ix_remittance_provider_adjustments_org_remit", "organization_id", "remittance_id"),)

    remittance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remittances.id"))
    provider_identifier: Mapped[str] = mapped_column(String(50))  # PLB01: our NPI or tax id
    fiscal_period: Mapped[date] = mapped_column(Date)  # PLB02
    reason_code: Mapped[str] = mapped_column(String(2))  # WO, L6, FB, 72...
    reference: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: often a payer claim no.
    amount: Mapped[Decimal] = mapped_column(MONEY)  # positive reduces the payment


class DenialWorkItem(IdMixin, TenantScoped, Base):
    __tablename__ = "denial_work_items"
    __table_args__ = (Index("ix_denial_work_items_org_status", "organization_id", "status"),)
    __patient_key__ = "patient_id"

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    claim_payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remittance_claim_payments.id"))
    reason_codes: Mapped[str] = mapped_column(String(255))  # "CO-96,CO-16;N130": codes, never values
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | worked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    worked_at: Mapped[datetime | None] = mapped_column(default=None)
    worked_by: Mapped[str | None] = mapped_column(String(64), default=None)


class ClaimBalance(IdMixin, TenantScoped, Base):
    """Running sums of a claim's ledger: created (with the charge) the first time money posts to the claim."""

    __tablename__ = "claim_balances"
    __table_args__ = (Index("uq_claim_balances_org_claim", "organization_id", "claim_id", unique=True),)
    __patient_key__ = "patient_id"

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payers.id"))
    charge: Mapped[Decimal] = mapped_column(MONEY)
    insurance_paid: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    adjusted: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))  # CO, OA, PI write-offs
    patient_paid: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    insurance_balance: Mapped[Decimal] = mapped_column(MONEY)  # still expected from the payer
    patient_balance: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))  # owed by the patient
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerEntry(IdMixin, TenantScoped, Base):
    """One money movement: signed deltas of the insurance and patient buckets of a claim (and line)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_org_claim", "organization_id", "claim_id"),
        Index("ix_ledger_entries_org_line", "organization_id", "service_line_id"),
    )
    __patient_key__ = "patient_id"

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    service_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_lines.id"), default=None)
    claim_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("remittance_claim_payments.id"), default=None)
    kind: Mapped[str] = mapped_column(String(24))  # charge | payer_paid | write_off | patient_share | patient_paid
    group_code: Mapped[str | None] = mapped_column(String(2), default=None)
    reason_code: Mapped[str | None] = mapped_column(String(5), default=None)
    method: Mapped[str | None] = mapped_column(String(16), default=None)  # a patient payment's cash | check | card
    insurance_amount: Mapped[Decimal] = mapped_column(MONEY)  # signed change of the insurance balance
    patient_amount: Mapped[Decimal] = mapped_column(MONEY)  # signed change of the patient balance
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
