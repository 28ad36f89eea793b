"""Claims, their recorded transitions and the X12 files they travel in.

A claim is one version of a bill to one payer for one encounter. A correction, replacement (frequency 7) or void
(frequency 8) is a new row in the same family (``family_id`` = the first version's id) with ``version`` + 1; the
previous version is then ``superseded``. ``control_number`` is CLM01: our own number, never PHI, unique per
organization, echoed back by 999/277CA/835 files. The payer's claim number and the original reference are PHI
ciphertext; scrub findings and acknowledgement reasons hold rule ids, field paths and codes, never values.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin, utcnow


class Claim(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "claims"
    __table_args__ = (
        Index("uq_claims_org_control_number", "organization_id", "control_number", unique=True),
        Index("ix_claims_org_status", "organization_id", "status"),
        Index("ix_claims_org_patient", "organization_id", "patient_id"),
        Index("ix_claims_org_family", "organization_id", "family_id"),
        Index("ix_claims_org_fingerprint", "organization_id", "fingerprint"),
    )
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    encounter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("encounters.id"))
    coverage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coverages.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payers.id"))
    rank: Mapped[str] = mapped_column(String(16))  # the coverage rank billed: primary | secondary | tertiary
    control_number: Mapped[str] = mapped_column(String(20))  # CLM01
    family_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
    frequency_code: Mapped[str] = mapped_column(String(1), default="1")  # 1 original | 7 replacement | 8 void
    original_reference: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext (REF*F8)
    payer_claim_number: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext
    status: Mapped[str] = mapped_column(String(16), default="draft")
    total_charge: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    scrubbed_at: Mapped[datetime | None] = mapped_column(default=None)
    fingerprint: Mapped[str | None] = mapped_column(String(32), default=None)  # keyed: duplicate detection
    scrub_findings: Mapped[str | None] = mapped_column(Text, default=None)  # JSON: rule, severity, field
    status_reasons: Mapped[str | None] = mapped_column(Text, default=None)  # JSON: acknowledgement codes
    x12_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("x12_files.id"), default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class ClaimTransition(IdMixin, TenantScoped, Base):
    """Every status change of a claim: who (user or system command), when, from what, to what, and why (codes)."""

    __tablename__ = "claim_transitions"
    __table_args__ = (Index("ix_claim_transitions_org_claim", "organization_id", "claim_id"),)

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id"))
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # user | scrub | export | 999 | 277CA | 835 | import
    actor: Mapped[str] = mapped_column(String(64))  # "user:<uuid>" or "system:<command>"
    reason: Mapped[str | None] = mapped_column(String(255), default=None)  # codes, never values
    at: Mapped[datetime] = mapped_column(default=utcnow)


class X12File(IdMixin, TenantScoped, Base):
    """An interchange sent or received. The content is an encrypted blob; this row holds envelope numbers."""

    __tablename__ = "x12_files"
    __table_args__ = (
        Index("ix_x12_files_org_partner_isa", "organization_id", "trading_partner_id", "interchange_control"),
    )

    trading_partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trading_partners.id"), default=None)
    payer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payers.id"), default=None)
    kind: Mapped[str] = mapped_column(String(8))  # 837P | 999 | 277CA | 835
    direction: Mapped[str] = mapped_column(String(8))  # outbound | inbound
    interchange_control: Mapped[int | None] = mapped_column(Integer, default=None)
    group_control: Mapped[int | None] = mapped_column(Integer, default=None)
    transaction_controls: Mapped[str | None] = mapped_column(String(255), default=None)  # "1,2,3"
    claim_count: Mapped[int] = mapped_column(Integer, default=0)
    content_digest: Mapped[str] = mapped_column(String(64))  # keyed HMAC of the content: refuses a re-import
    blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("blobs.id"), default=None)
    status: Mapped[str] = mapped_column(String(16))  # released | sent | accepted | rejected | applied
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
