"""Payers and trading partners. A payer names the trading partner (clearinghouse or the payer itself) its claims
go through; the partner carries the X12 envelope identities and the transport settings, whose credential is
ciphertext (class ``secret``)."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin


class TradingPartner(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "trading_partners"
    __table_args__ = (Index("uq_trading_partners_org_name", "organization_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(60))
    isa_sender_qualifier: Mapped[str] = mapped_column(String(2), default="ZZ")
    isa_sender_id: Mapped[str] = mapped_column(String(15))
    isa_receiver_qualifier: Mapped[str] = mapped_column(String(2), default="ZZ")
    isa_receiver_id: Mapped[str] = mapped_column(String(15))
    gs_sender_code: Mapped[str] = mapped_column(String(15))
    gs_receiver_code: Mapped[str] = mapped_column(String(15))
    usage: Mapped[str] = mapped_column(String(1), default="T")  # P production | T test
    submitter_name: Mapped[str] = mapped_column(String(60))
    submitter_id: Mapped[str] = mapped_column(String(80))
    submitter_contact_name: Mapped[str] = mapped_column(String(60))
    submitter_contact_phone: Mapped[str] = mapped_column(String(10))
    receiver_name: Mapped[str] = mapped_column(String(60))
    receiver_id: Mapped[str] = mapped_column(String(80))
    transport: Mapped[str] = mapped_column(String(16), default="drop_dir")  # drop_dir | sftp
    sftp_host: Mapped[str | None] = mapped_column(String(255), default=None)
    sftp_port: Mapped[int | None] = mapped_column(Integer, default=None)
    sftp_username: Mapped[str | None] = mapped_column(String(64), default=None)
    sftp_host_key: Mapped[str | None] = mapped_column(String(1024), default=None)  # pinned public key (OpenSSH)
    credential: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: password or key
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class Payer(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "payers"
    __table_args__ = (Index("uq_payers_org_payer_id", "organization_id", "payer_id", unique=True),)

    payer_id: Mapped[str] = mapped_column(String(80))  # 2010BB NM109
    name: Mapped[str] = mapped_column(String(60))
    claim_filing_indicator: Mapped[str] = mapped_column(String(2), default="CI")
    timely_filing_days: Mapped[int | None] = mapped_column(Integer, default=None)
    trading_partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trading_partners.id"), default=None)
    address_line1: Mapped[str | None] = mapped_column(String(55), default=None)
    city: Mapped[str | None] = mapped_column(String(30), default=None)
    state: Mapped[str | None] = mapped_column(String(2), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(9), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class ControlNumber(TenantScoped, Base):
    """The last X12 control number handed out per trading partner and kind (interchange, group, transaction
    set). Incremented under a row lock in the releasing transaction, so a number is never reused."""

    __tablename__ = "x12_control_numbers"

    trading_partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trading_partners.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # interchange | group | transaction
    last_value: Mapped[int] = mapped_column(Integer, default=0)
