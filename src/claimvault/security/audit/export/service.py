"""Running an export: batches of sequenced events from a cursor's position, sent to a sink, cursor moved after.

Each batch is one transaction: lock the cursor row, read up to ``batch_size`` events at or after its
``next_position`` (one organization's, for an organization cursor), send them, move the cursor past the last one,
commit. A failure before the commit leaves the cursor where it was, so the batch is sent again by the next run and
no event is skipped; a run that stops between sending and committing sends that batch again (files: the same file
is rewritten; syslog and streams: the same positions, which a receiver can drop). Events are read through the
audit ``reader`` role (every organization) or the organization's own tenant session (row-level security on
PostgreSQL limits it to that organization's events). Every real run that sent events, or failed, is itself
recorded as an ``export`` event on ``audit_events``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from claimvault.errors import PermissionDenied, ValidationFailed
from claimvault.security.audit.events import build_event, record
from claimvault.security.audit.export.cursor import (
    AuditExportError,
    CursorState,
    check_format,
    ensure_cursor,
    lock_cursor,
    peek_cursor,
)
from claimvault.security.audit.export.sinks import Sink
from claimvault.security.audit.models import AuditEvent
from claimvault.security.context import AccessContext
from claimvault.security.permissions import Permission
from claimvault.storage.database import AUDIT_READER, Database

log = logging.getLogger(__name__)
DEFAULT_BATCH = 500


@dataclass(frozen=True)
class ExportPlan:
    cursor: CursorState
    count: int
    first: int | None
    last: int | None


@dataclass
class ExportResult:
    cursor: str
    format: str
    count: int = 0
    batches: int = 0
    first: int | None = None
    last: int | None = None
    next_position: int = 0


def _reader(db: Database, organization_id: uuid.UUID | None) -> AbstractContextManager[Session]:
    if organization_id is not None:
        return db.session(tenant_id=organization_id)
    return db.session(tenant_id=None, audit_role=AUDIT_READER)


def _scoped(stmt: Select[Any], organization_id: uuid.UUID | None) -> Select[Any]:
    return stmt if organization_id is None else stmt.where(AuditEvent.organization_id == organization_id)


def plan_export(
    *, db: Database, cursor: str, fmt: str, organization_id: uuid.UUID | None, limit: int | None = None
) -> ExportPlan:
    """What a run would send now (count and position range), changing nothing."""
    state = peek_cursor(db=db, name=cursor, fmt=fmt, organization_id=organization_id)
    positions = _scoped(select(AuditEvent.position).where(AuditEvent.position >= state.next_position), organization_id)
    sub = positions.order_by(AuditEvent.position).limit(limit).subquery()
    with _reader(db, organization_id) as session:
        count, first, last = session.execute(
            select(func.count(), func.min(sub.c.position), func.max(sub.c.position))
        ).one()
    return ExportPlan(state, int(count), None if first is None else int(first), None if last is None else int(last))


def _next_batch(
    session: Session, *, start: int, organization_id: uuid.UUID | None, size: int, sink: Sink
) -> Sequence[AuditEvent]:
    query = _scoped(select(AuditEvent).where(AuditEvent.position >= start), organization_id)
    query = query.order_by(AuditEvent.position)
    events = list(session.scalars(query.limit(size)))
    if not events:
        return events
    end = sink.pending_end(events[0].position)
    if end is not None and end != events[-1].position:  # finish exactly the batch a stopped run delivered
        events = list(session.scalars(query.where(AuditEvent.position <= end)))
    if organization_id is None and [e.position for e in events] != list(range(start, start + len(events))):
        raise AuditExportError("The audit log has a gap at the cursor's position; run 'claimvault audit verify'.")
    return events


def _export_batch(
    db: Database, *, cursor: str, organization_id: uuid.UUID | None, size: int, sink: Sink
) -> Sequence[AuditEvent]:
    with _reader(db, organization_id) as session:
        row = lock_cursor(session, name=cursor)
        events = _next_batch(
            session, start=int(row.next_position), organization_id=organization_id, size=size, sink=sink
        )
        if events:
            sink.send(events)
            row.next_position = events[-1].position + 1
        return events


def _record(db: Database, ctx: AccessContext, result: ExportResult, *, sink: Sink, outcome: str) -> None:
    detail = {
        "cursor": result.cursor,
        "format": result.format,
        "target": sink.kind,
        "from": result.first,
        "to": result.last,
        "count": result.count,
    }
    with db.session(tenant_id=ctx.organization_id) as session:
        event = build_event(
            ctx,
            action="export",
            outcome=outcome,
            permission=Permission.AUDIT_READ.value,
            entity_type="audit_events",
            reason=None if outcome == "success" else "export_interrupted",
            detail=detail,
        )
        record(session, event)


def run_export(
    *,
    db: Database,
    ctx: AccessContext,
    cursor: str,
    fmt: str,
    organization_id: uuid.UUID | None,
    sink: Sink,
    batch_size: int = DEFAULT_BATCH,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Send every event after the cursor (up to ``limit``) in batches; the cursor moves after each batch."""
    check_format(fmt)
    if not ctx.allows(Permission.AUDIT_READ):
        raise PermissionDenied("Exporting the audit log needs the audit:read permission.")
    if ctx.organization_id != organization_id:
        raise ValidationFailed("The export's context must be scoped to the exported organization.")
    if batch_size < 1 or (limit is not None and limit < 0):
        raise ValidationFailed("The batch size must be at least 1 and the limit not negative.")
    state = ensure_cursor(db=db, name=cursor, fmt=fmt, organization_id=organization_id)
    total = plan_export(db=db, cursor=cursor, fmt=fmt, organization_id=organization_id, limit=limit).count
    result = ExportResult(cursor=cursor, format=fmt, next_position=state.next_position)
    try:
        for events in _batches(db, result, organization_id=organization_id, sink=sink, size=batch_size, limit=limit):
            result.count += len(events)
            result.batches += 1
            result.first = events[0].position if result.first is None else result.first
            result.last = events[-1].position
            result.next_position = events[-1].position + 1
            if progress is not None:
                progress(result.count, max(total, result.count))
    except Exception:
        try:
            _record(db, ctx, result, sink=sink, outcome="failure")
        except Exception:  # noqa: BLE001 - the export's own failure matters more; no event data in the message
            log.warning("the failed audit export could not be recorded")
        raise
    if result.count:
        _record(db, ctx, result, sink=sink, outcome="success")
    return result


def _batches(
    db: Database, result: ExportResult, *, organization_id: uuid.UUID | None, sink: Sink, size: int, limit: int | None
) -> Iterator[Sequence[AuditEvent]]:
    while limit is None or result.count < limit:
        want = size if limit is None else min(size, limit - result.count)
        events = _export_batch(db, cursor=result.cursor, organization_id=organization_id, size=want, sink=sink)
        if not events:
            return
        yield events
