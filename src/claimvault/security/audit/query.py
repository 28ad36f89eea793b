"""Questions to the audit log: who accessed patient X, what did user Y access, with filters and paging.

Only contexts holding ``audit:read`` (auditors, compliance officers, or a CLI command declaring it) may ask, only
about their own organization, and every question is itself recorded (action ``query``, with the patient or user
it was about). Results come from the sequenced log: events still pending are sequenced first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from claimvault.errors import PermissionDenied, ValidationFailed
from claimvault.security.audit.canonical import as_utc
from claimvault.security.audit.events import build_event, record
from claimvault.security.audit.models import AuditEvent, AuditPatientRef
from claimvault.security.audit.sequencer import Sequencer
from claimvault.security.context import AccessContext
from claimvault.security.permissions import Permission
from claimvault.storage.database import Database

MAX_LIMIT = 500


@dataclass(frozen=True)
class AuditQuery:
    patient_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    outcome: str | None = None
    entity_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None  # paging cursor: only events at positions below this
    limit: int = 100


@dataclass(frozen=True)
class AuditPage:
    events: list[dict[str, Any]]
    next_before: int | None  # pass as ``before`` for the next (older) page; None when this is the last


def query_events(*, db: Database, ctx: AccessContext, query: AuditQuery, sequencer: Sequencer | None) -> AuditPage:
    if not ctx.allows(Permission.AUDIT_READ):
        raise PermissionDenied("You do not have permission to do this.")
    if ctx.organization_id is None:
        raise ValidationFailed("Audit queries need an organization.")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    if query.since and query.until and query.since > query.until:
        raise ValidationFailed("since must not be after until.", code="invalid_period")
    if query.since is not None or query.until is not None:
        query = replace(
            query,
            since=as_utc(query.since) if query.since else None,
            until=as_utc(query.until) if query.until else None,
        )
    if sequencer is not None:
        sequencer.drain()
    with db.session(tenant_id=ctx.organization_id) as session:
        rows = list(session.scalars(_statement(ctx.organization_id, query)))
        page = rows[: query.limit]
        record(
            session,
            build_event(
                ctx,
                action="query",
                permission=Permission.AUDIT_READ.value,
                entity_type="audit_events",
                patient_ids=[query.patient_id] if query.patient_id else [],
                detail={
                    "filters": sorted(k for k, v in query.__dict__.items() if v is not None and k != "limit"),
                    "actor_id": str(query.actor_id) if query.actor_id else None,
                    "returned": len(page),
                },
            ),
        )
        events = [{"position": row.position, **row.payload} for row in page]
    return AuditPage(events=events, next_before=page[-1].position if len(rows) > query.limit else None)


def _statement(org_id: uuid.UUID, query: AuditQuery) -> Select[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.organization_id == org_id)
    if query.patient_id is not None:
        stmt = stmt.join(AuditPatientRef, AuditPatientRef.position == AuditEvent.position).where(
            AuditPatientRef.patient_id == query.patient_id
        )
    if query.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == query.actor_id)
    if query.action is not None:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.outcome is not None:
        stmt = stmt.where(AuditEvent.outcome == query.outcome)
    if query.entity_type is not None:
        stmt = stmt.where(AuditEvent.entity_type == query.entity_type)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.recorded_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEvent.recorded_at < query.until)
    if query.before is not None:
        stmt = stmt.where(AuditEvent.position < query.before)
    return stmt.order_by(AuditEvent.position.desc()).limit(query.limit + 1)
