"""Questions to the audit log: who accessed patient X, what did user Y access, with filters and paging.

Only contexts holding ``audit:read`` (auditors, compliance officers, or a CLI command declaring it) may ask, only
about their own organization, and every question is itself recorded (action ``query``, with the patient or user
it was about). Results come from the sequenced log: events still pending are sequenced first.

"Who accessed patient X" reads the patient list of each event's body (the hashed record itself, not a copy kept
beside it). On PostgreSQL the positions come from the GIN index over ``PATIENT_LIST_PG`` through the function
``claimvault_audit_patient_positions`` (row-level security would keep the index from serving a query of the
application role; the function returns the current tenant's positions only; see ``patient_index``), then the
events are read under row-level security and their lists checked again. On SQLite the list in the first line of
the organization's events is matched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from claimvault.errors import PermissionDenied, ValidationFailed
from claimvault.security.audit.canonical import as_utc
from claimvault.security.audit.events import build_event, record
from claimvault.security.audit.models import AuditEvent
from claimvault.security.audit.patient_index import LISTS_PATIENT_QUALIFIED, LOOKUP
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
        patients = _patient_filter(session, query.patient_id) if query.patient_id is not None else None
        rows = list(session.scalars(_statement(ctx.organization_id, query, patients=patients)))
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


# SQLite: the list is the last field of the first line, after a "|", its ids separated by ",", then a line break;
# no other field holds a ",". So an id is listed exactly when one of these four strings occurs in the first line.
_LISTED_SQLITE = (
    "(instr(substr(body, 1, instr(body, char(10))), '|' || :audit_patient || ',') > 0 "
    "OR instr(substr(body, 1, instr(body, char(10))), '|' || :audit_patient || char(10)) > 0 "
    "OR instr(substr(body, 1, instr(body, char(10))), ',' || :audit_patient || ',') > 0 "
    "OR instr(substr(body, 1, instr(body, char(10))), ',' || :audit_patient || char(10)) > 0)"
)


def lists_patient(patient_id: uuid.UUID, *, postgresql: bool) -> ColumnElement[bool]:
    """True for the events whose body lists ``patient_id`` among the patients they touched."""
    sql = LISTS_PATIENT_QUALIFIED if postgresql else _LISTED_SQLITE
    return text(sql).bindparams(audit_patient=patient_id.hex)  # type: ignore[return-value]


def _patient_filter(session: Session, patient_id: uuid.UUID) -> ColumnElement[bool]:
    if session.get_bind().dialect.name != "postgresql":
        return lists_patient(patient_id, postgresql=False)
    found = session.execute(text(LOOKUP), {"p": patient_id.hex})
    positions = bindparam("audit_positions", list(found.scalars()), type_=ARRAY(BigInteger()))
    return and_(AuditEvent.position == any_(positions), lists_patient(patient_id, postgresql=True))


def _statement(org_id: uuid.UUID, query: AuditQuery, *, patients: ColumnElement[bool] | None) -> Select[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.organization_id == org_id)
    if patients is not None:
        stmt = stmt.where(patients)
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
