"""Providers and facilities. NPIs, taxonomies, names and business addresses are public registry data (NPPES) and
stay plain; the tax id (an EIN, or an individual's SSN) is ciphertext."""

from __future__ import annotations

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin


class _BusinessAddress:
    address_line1: Mapped[str | None] = mapped_column(String(55), default=None)
    address_line2: Mapped[str | None] = mapped_column(String(55), default=None)
    city: Mapped[str | None] = mapped_column(String(30), default=None)
    state: Mapped[str | None] = mapped_column(String(2), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(9), default=None)  # digits only, 5 or 9


class Provider(_BusinessAddress, IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "providers"
    __table_args__ = (Index("uq_providers_org_npi", "organization_id", "npi", unique=True),)

    npi: Mapped[str] = mapped_column(String(10))
    entity: Mapped[str] = mapped_column(String(16))  # person | organization
    organization_name: Mapped[str | None] = mapped_column(String(60), default=None)
    family_name: Mapped[str | None] = mapped_column(String(60), default=None)
    given_name: Mapped[str | None] = mapped_column(String(35), default=None)
    taxonomy: Mapped[str | None] = mapped_column(String(10), default=None)
    can_bill: Mapped[bool] = mapped_column(Boolean, default=False)
    can_render: Mapped[bool] = mapped_column(Boolean, default=True)
    can_refer: Mapped[bool] = mapped_column(Boolean, default=True)
    tax_id: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext
    tax_id_kind: Mapped[str] = mapped_column(String(2), default="EI")  # EI (EIN) | SY (SSN)
    contact_name: Mapped[str | None] = mapped_column(String(60), default=None)
    contact_phone: Mapped[str | None] = mapped_column(String(10), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class Facility(_BusinessAddress, IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "facilities"

    name: Mapped[str] = mapped_column(String(60))
    npi: Mapped[str | None] = mapped_column(String(10), default=None)
    place_of_service: Mapped[str | None] = mapped_column(String(2), default=None)  # its usual POS code
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
