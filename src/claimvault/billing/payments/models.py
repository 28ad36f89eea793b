"""The payment methods table: card tokens (never card numbers) and bank accounts (numbers as ciphertext)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class PaymentMethod(IdMixin, TenantScoped, Base):
    __tablename__ = "payment_methods"
    __table_args__ = (Index("ix_payment_methods_org_patient", "organization_id", "patient_id"),)
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(16))  # card | bank_account
    processor: Mapped[str | None] = mapped_column(String(32), default=None)  # which processor issued the token
    processor_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext (secret)
    brand: Mapped[str | None] = mapped_column(String(16), default=None)
    last4: Mapped[str | None] = mapped_column(String(4), default=None)
    exp_month: Mapped[int | None] = mapped_column(Integer, default=None)
    exp_year: Mapped[int | None] = mapped_column(Integer, default=None)
    routing_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext (financial)
    account_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext (financial)
    account_type: Mapped[str | None] = mapped_column(String(16), default=None)  # checking | savings
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
