"""Pending audit events on their way into ``audit_pending``: held on the session, written when it commits.

``record`` (``events.py``) gives an ``AuditRecord`` its id and time and puts it on the session's list. When the
transaction, or a savepoint, commits, the events recorded inside it are written in it with one
statement (on PostgreSQL one ``INSERT ... SELECT * FROM unnest(...)`` with every column sent as one binary array,
a constant text that the server prepares once; on SQLite a Core ``executemany``), so a change still never commits
without its event. A savepoint or transaction that rolls back drops the events recorded inside it, as the ORM
drops the objects added inside it.

This replaces one ORM object and one unit-of-work flush per event, whose multi-row ``INSERT ... VALUES`` was
re-parsed by the driver on every request because its text is too long to cache.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import Session, SessionTransaction

from claimvault.ids import uuid7
from claimvault.security.audit.models import PendingAuditEvent
from claimvault.storage.base import utcnow
from claimvault.storage.database import AUDIT_ROWS_KEY as ROWS_KEY  # [(savepoint or None, row)] not written yet


@dataclass(slots=True)
class AuditRecord:
    """One audit event as built by ``build_event``: ids, field names and codes only, never protected values."""

    action: str
    outcome: str
    actor_type: str
    organization_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    actor_name: str | None = None
    roles: list[str] = field(default_factory=list)
    permission: str | None = None
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    patient_ids: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    purpose_of_use: str | None = None
    request_id: str | None = None
    session_id: uuid.UUID | None = None
    source_address: str | None = None
    user_agent: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID | None = None  # given by ``record``, time-ordered
    recorded_at: datetime | None = None  # given by ``record``


_PENDING = cast(Table, PendingAuditEvent.__table__)
# (column, PostgreSQL array element type); JSON columns travel as text and are cast on the server.
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("recorded_at", "timestamptz"),
    ("action", "text"),
    ("outcome", "text"),
    ("actor_type", "text"),
    ("actor_id", "uuid"),
    ("actor_name", "text"),
    ("roles", "json"),
    ("permission", "text"),
    ("entity_type", "text"),
    ("entity_id", "uuid"),
    ("patient_ids", "json"),
    ("fields", "json"),
    ("purpose_of_use", "text"),
    ("request_id", "text"),
    ("session_id", "uuid"),
    ("source_address", "text"),
    ("user_agent", "text"),
    ("reason", "text"),
    ("detail", "json"),
)
_JSON = frozenset(name for name, kind in _COLUMNS if kind == "json")
_ARRAYS = ", ".join(f"%b::text[]::{kind}[]" if kind == "json" else f"%b::{kind}[]" for _, kind in _COLUMNS)
_INSERT_POSTGRESQL = (
    f"INSERT INTO audit_pending ({', '.join(name for name, _ in _COLUMNS)}) SELECT * FROM unnest({_ARRAYS})"  # noqa: S608 - constant
)
assert {name for name, _ in _COLUMNS} == set(_PENDING.c.keys()), "audit_pending columns changed"


def add(session: Session, record: AuditRecord) -> None:
    """Give ``record`` its time-ordered id and the time it is recorded, and hold its values on the session."""
    if record.id is None:
        record.id = uuid7()
    if record.recorded_at is None:
        record.recorded_at = utcnow()
    row: dict[str, Any] = {name: getattr(record, name) for name in AuditRecord.__slots__}
    session.info.setdefault(ROWS_KEY, []).append((session.get_nested_transaction(), row))


def write(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``audit_pending`` in the session's current transaction, with one statement."""
    if session.get_bind().dialect.name == "postgresql":
        arrays = tuple(
            [json.dumps(r[name]) for r in rows] if name in _JSON else [r[name] for r in rows] for name, _ in _COLUMNS
        )
        session.connection().exec_driver_sql(_INSERT_POSTGRESQL, arrays)
    else:
        session.execute(insert(_PENDING), rows)


def _within(savepoint: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is ended:
            return True
        savepoint = savepoint.parent
    return False


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    """The transaction or savepoint that commits is the innermost one: its events are written inside it. Events
    recorded outside it stay held, so a savepoint around it that rolls back later still drops only its own."""
    held = session.info.get(ROWS_KEY)
    if not held:
        return
    scope = session.get_nested_transaction()
    if scope is None:
        rows = [row for _, row in held]
        held.clear()
    else:
        rows = [row for savepoint, row in held if _within(savepoint, scope)]
        held[:] = [(savepoint, row) for savepoint, row in held if not _within(savepoint, scope)]
    if rows:
        write(session, rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    held = session.info.get(ROWS_KEY)
    if not held:
        return
    if previous_transaction.parent is None:  # the whole transaction: nothing it recorded happened
        session.info.pop(ROWS_KEY, None)
    else:  # a savepoint: the events recorded inside it (or inside savepoints within it) go with it
        held[:] = [(savepoint, row) for savepoint, row in held if not _within(savepoint, previous_transaction)]
