"""Audit tables: events pending in their request's transaction, and the sequenced append-only log.

A request writes a ``PendingAuditEvent`` in its own transaction (so a change never commits without its event).
The sequencer moves pending events into ``AuditEvent`` in batches: it gives each a position (its leaf index in
the Merkle tree), a canonical body (the bytes that are hashed) and a chain hash. ``AuditEvent`` keeps a few
columns beside the body for querying; ``audit verify`` checks them against it.

The patients an event touched are listed in its body only. On PostgreSQL a GIN index over the list that the
database reads out of each body (``PATIENT_LIST_PG``) answers "who accessed patient X"; being derived from the
hashed body, it cannot disagree with the log the way a separate table of references could.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.security.audit.canonical import parse_body
from claimvault.storage.base import Base, IdMixin, utcnow


class PendingAuditEvent(IdMixin, Base):
    """An event written by a request or command, not yet sequenced. Holds ids, field names and codes only.

    ``organization_id`` is empty for events that precede a tenant (a login attempt, a system command that acts
    on no organization).
    """

    __tablename__ = "audit_pending"

    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(32))  # read, list, search, export, create, update, login, denied...
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
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    reason: Mapped[str | None] = mapped_column(String(64), default=None)  # a code, never free text with data
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# The patient ids (32 hex digits each) listed in a body, read by PostgreSQL: the 12th field of its first line,
# split at commas. The index below and the patient filter of audit queries use this exact text.
PATIENT_LIST_PG = "string_to_array(split_part(split_part(body, E'\\n', 1), '|', 12), ',')"


class AuditEvent(Base):
    """One sequenced audit event: leaf ``position`` of the Merkle tree, never updated or deleted.

    ``body`` is the canonical text that is hashed (see ``claimvault.security.audit.canonical``); the other columns
    are copies of some of its values, kept for queries. Everything else is read from the body.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_time", "organization_id", "recorded_at"),
        Index("ix_audit_events_actor_time", "actor_id", "recorded_at"),
        Index("ix_audit_events_patients", text(PATIENT_LIST_PG), postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    recorded_at: Mapped[datetime] = mapped_column()
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    entity_type: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    patient_count: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The whole event as recorded in the body."""
        return parse_body(self.body)

    @property
    def actor_type(self) -> str:
        return str(self.payload["actor_type"])

    @property
    def actor_name(self) -> str | None:
        return self.payload.get("actor_name")

    @property
    def roles(self) -> list[str]:
        return list(self.payload.get("roles", []))

    @property
    def permission(self) -> str | None:
        return self.payload.get("permission")

    @property
    def patient_ids(self) -> list[str]:
        return list(self.payload.get("patient_ids", []))

    @property
    def fields(self) -> list[str]:
        return list(self.payload.get("fields", []))

    @property
    def purpose_of_use(self) -> str | None:
        return self.payload.get("purpose_of_use")

    @property
    def request_id(self) -> str | None:
        return self.payload.get("request_id")

    @property
    def session_id(self) -> uuid.UUID | None:
        value = self.payload.get("session_id")
        return uuid.UUID(value) if value else None

    @property
    def source_address(self) -> str | None:
        return self.payload.get("source_address")

    @property
    def user_agent(self) -> str | None:
        return self.payload.get("user_agent")

    @property
    def reason(self) -> str | None:
        return self.payload.get("reason")

    @property
    def detail(self) -> dict[str, Any]:
        return dict(self.payload.get("detail", {}))
