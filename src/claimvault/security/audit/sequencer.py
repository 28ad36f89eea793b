"""The sequencer: the single writer that moves pending audit events into the append-only, hash-chained log.

Requests only insert pending events in their own transactions; nothing they do waits on the log's order. The
sequencer takes a batch of pending events, gives them the next positions, computes each canonical body, leaf hash
and chain hash (``chain[n] = SHA-256(chain[n-1] || leaf[n])``, ``chain[-1]`` = 32 zero bytes), inserts them and
deletes the pending rows, all in one transaction (on PostgreSQL in two statements per batch, each column sent as
one array). The patients an event touched are in its body only; "who accessed patient X" reads them through an
index the database derives from the bodies (see ``claimvault.security.audit.query``).

Only one sequencer runs at a time: on PostgreSQL a transaction-level advisory lock decides (another process that
finds it taken skips its turn); on SQLite the database's single writer lock does, plus a lock in this process.
``inline`` mode drains right after each commit that wrote events (CLI commands, tests); ``background`` mode (the
server) drains from a thread, woken by commits and by a short timer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.orm import Session

from claimvault.security.audit.canonical import as_utc, canonical_body, patient_uuids
from claimvault.security.audit.merkle import leaf_hash
from claimvault.security.audit.models import AuditEvent, PendingAuditEvent
from claimvault.storage.database import AUDIT_SEQUENCER, Database

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x636C61696D763031  # "claimv01": the audit sequencer's PostgreSQL advisory lock
GENESIS = bytes(32)
BATCH_SIZE = 2000


def chain_next(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()


def sequenced_rows(pending: Sequence[Any], *, position: int, previous: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The log rows for ``pending`` events (pending rows or events) given positions from ``position`` on, chained
    after ``previous``; also returns the new chain head."""
    events: list[dict[str, Any]] = []
    for event in pending:
        body = canonical_body(position=position, event=event)
        previous = chain_next(previous, leaf_hash(body.encode("ascii")))
        events.append(
            {
                "position": position,
                "id": event.id,
                "organization_id": event.organization_id,
                "recorded_at": as_utc(event.recorded_at),
                "actor_id": event.actor_id,
                "action": event.action,
                "outcome": event.outcome,
                "entity_type": event.entity_type,
                "entity_id": event.entity_id,
                "patient_count": len(patient_uuids(event)),
                "body": body,
                "chain_hash": previous,
            }
        )
        position += 1
    return events, previous


_PENDING = cast(Table, PendingAuditEvent.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
_EVENT_COLUMNS = (
    ("position", "int8"),
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("recorded_at", "timestamptz"),
    ("actor_id", "uuid"),
    ("action", "text"),
    ("outcome", "text"),
    ("entity_type", "text"),
    ("entity_id", "uuid"),
    ("patient_count", "int4"),
    ("body", "text"),
    ("chain_hash", "bytea"),
)


def _unnest_insert(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in columns)  # binary parameters: no text escaping
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608 - constant


_INSERT_EVENTS = _unnest_insert("audit_events", _EVENT_COLUMNS)


def _append_postgresql(session: Session, events: list[dict[str, Any]], ids: list[uuid.UUID]) -> None:
    """Insert a batch with one statement (each column sent as one array) and take the pending rows with one
    ``DELETE``: two round trips however large the batch, instead of one per row."""
    conn = session.connection()
    conn.exec_driver_sql(_INSERT_EVENTS, tuple([e[name] for e in events] for name, _ in _EVENT_COLUMNS))
    conn.exec_driver_sql("DELETE FROM audit_pending WHERE id = ANY(%b::uuid[])", (ids,))


class Sequencer:
    def __init__(self, db: Database, *, batch_size: int = BATCH_SIZE) -> None:
        self.db = db
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # One batch ---------------------------------------------------------------------------------------------
    def sequence_batch(self) -> int:
        """Sequence up to ``batch_size`` pending events; return how many were sequenced (0: none, or busy)."""
        with self._lock, self.db.session(tenant_id=None, audit_role=AUDIT_SEQUENCER) as session:
            if self.db.is_postgresql:
                got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
                if not got.scalar():
                    return 0
            table = _PENDING
            # Plain rows (attribute access like the model, without the ORM's per-object bookkeeping).
            pending: list[Any] = list(session.execute(select(table).order_by(table.c.id).limit(self.batch_size)).all())
            if not pending:
                return 0
            last = session.execute(
                select(AuditEvent.position, AuditEvent.chain_hash).order_by(AuditEvent.position.desc()).limit(1)
            ).first()
            position = last[0] + 1 if last else 0
            previous = bytes(last[1]) if last else GENESIS
            events, _ = sequenced_rows(pending, position=position, previous=previous)
            if self.db.is_postgresql:
                _append_postgresql(session, events, [e.id for e in pending])
            else:
                session.execute(insert(_EVENTS), events)
                ids: list[uuid.UUID] = [e.id for e in pending]
                session.execute(delete(_PENDING).where(_PENDING.c.id.in_(ids)))
            return len(pending)

    def drain(self) -> int:
        """Sequence until nothing is pending (or another process holds the sequencer); return the count."""
        total = 0
        while True:
            done = self.sequence_batch()
            total += done
            if done < self.batch_size:
                return total

    # Modes -------------------------------------------------------------------------------------------------
    def notify(self) -> None:
        """Called after a transaction that wrote pending events commits."""
        if self._thread is not None:
            self._wake.set()
        else:
            self.drain()

    def start(self, *, interval: float = 0.5, on_tick: Callable[[], None] | None = None) -> None:
        """Run in a background thread until ``stop`` (the server's mode)."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                try:
                    self.drain()
                    if on_tick is not None:
                        on_tick()
                except Exception:  # keep sequencing on the next tick; the message carries no event data
                    log.exception("audit sequencer batch failed; retrying")

        self._thread = threading.Thread(target=loop, name="audit-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._thread = None
        self.drain()
