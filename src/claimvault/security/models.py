"""Tables owned by the security core: wrapped data keys and audit events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class DataKey(IdMixin, TenantScoped, Base):
    """A per-organization data key, stored only wrapped by the key provider's KEK.

    ``purpose`` is ``field`` (AES-256-GCM field encryption) or ``index`` (HMAC key material for blind indexes).
    """

    __tablename__ = "data_keys"
    __table_args__ = (
        UniqueConstraint("organization_id", "purpose", "version", name="uq_data_keys_org_purpose_version"),
    )

    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(IdMixin, Base):
    """One audit record. Holds ids, names of fields and codes: never protected values.

    ``organization_id`` is empty for events that precede a tenant (a login attempt, a system command that acts
    on no organization). The full, tamper-evident trail (chaining, checkpoints) builds on this table.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_time", "organization_id", "recorded_at"),)

    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(32))  # read, list, search, create, update, login, denied...
    outcome: Mapped[str] = mapped_column(String(16))  # success | denied | failure
    actor_type: Mapped[str] = mapped_column(String(16))  # user | system | anonymous
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_name: Mapped[str | None] = mapped_column(String(120), default=None)  # system command name
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    permission: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_type: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    patient_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose_of_use: Mapped[str | None] = mapped_column(String(32), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    session_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    source_address: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str | None] = mapped_column(String(64), default=None)  # a code, never free text with data
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
