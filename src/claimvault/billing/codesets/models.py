"""Code-set reference tables. Platform-level (no organization, no row-level security): public CMS reference data
and licensed CPT *codes* (never descriptors), shared by every organization.

``code_set_versions`` holds one row per loaded file, with the dates it is in force; the code tables are keyed by
version, and per-code dates inside a version (HCPCS add/termination, PTP effective/deletion) are kept as well.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, utcnow


class CodeSetVersion(IdMixin, Base):
    __tablename__ = "code_set_versions"
    __table_args__ = (UniqueConstraint("kind", "source_sha256", name="uq_code_set_versions_kind_sha256"),)

    kind: Mapped[str] = mapped_column(String(16), index=True)  # hcpcs | cpt | ncci_ptp | mue | icd10cm
    label: Mapped[str] = mapped_column(String(80))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, default=None)  # inclusive; open-ended when absent
    source_name: Mapped[str] = mapped_column(String(255))  # the file's base name
    source_sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


def _version_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("code_set_versions.id", ondelete="CASCADE"), primary_key=True)


class HcpcsCode(Base):
    """HCPCS Level II code of a version. The short descriptor is CMS public domain."""

    __tablename__ = "hcpcs_codes"

    version_id: Mapped[uuid.UUID] = _version_fk()
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    short_description: Mapped[str | None] = mapped_column(String(80), default=None)
    added_on: Mapped[date | None] = mapped_column(Date, default=None)
    terminated_on: Mapped[date | None] = mapped_column(Date, default=None)  # last date of use (inclusive)


class CptCode(Base):
    """A CPT code of a licensed file: the code only; AMA descriptors are never stored."""

    __tablename__ = "cpt_codes"

    version_id: Mapped[uuid.UUID] = _version_fk()
    code: Mapped[str] = mapped_column(String(5), primary_key=True)


class Icd10cmCode(Base):
    """An ICD-10-CM code (no dot) of a CMS order file; headers are kept with ``billable`` false."""

    __tablename__ = "icd10cm_codes"

    version_id: Mapped[uuid.UUID] = _version_fk()
    code: Mapped[str] = mapped_column(String(7), primary_key=True)
    billable: Mapped[bool] = mapped_column(Boolean)


class NcciPtpEdit(Base):
    """An NCCI procedure-to-procedure edit: ``column2`` is not payable with ``column1`` on the same day."""

    __tablename__ = "ncci_ptp_edits"

    version_id: Mapped[uuid.UUID] = _version_fk()
    column1: Mapped[str] = mapped_column(String(5), primary_key=True)
    column2: Mapped[str] = mapped_column(String(5), primary_key=True)
    effective_on: Mapped[date] = mapped_column(Date, primary_key=True)
    deleted_on: Mapped[date | None] = mapped_column(Date, default=None)  # not in force on or after this date
    prior_to_1996: Mapped[bool] = mapped_column(Boolean, default=False)
    modifier_indicator: Mapped[str] = mapped_column(String(1))  # 0 not allowed, 1 allowed, 9 not applicable
    rationale: Mapped[str | None] = mapped_column(String(120), default=None)


class MueLimitRow(Base):
    """A practitioner medically unlikely edit: the most units of a code on one line or date of service."""

    __tablename__ = "mue_limits"

    version_id: Mapped[uuid.UUID] = _version_fk()
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    max_units: Mapped[int] = mapped_column(Integer)
    adjudication_indicator: Mapped[str] = mapped_column(String(1))  # 1 line, 2 DOS policy, 3 DOS clinical
    rationale: Mapped[str | None] = mapped_column(String(120), default=None)
