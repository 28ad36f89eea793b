"""The audit log's HTTP API: who accessed a patient, what a user accessed, with filters and paging.

Auditors and compliance officers (``audit:read``) query their own organization's events; each query is itself
recorded. Events hold ids and codes only, so answers carry no protected values.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from claimvault.security.audit.query import MAX_LIMIT, AuditQuery, query_events
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(tags=["audit"])

Code = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_.:-]+$")]


class AuditEventsPage(BaseModel):
    events: list[dict[str, Any]]
    next_before: int | None


@router.get(
    "/api/v1/orgs/{org}/audit/events",
    summary="Query the audit log: who accessed a patient, what a user accessed (newest first)",
)
def audit_events(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.AUDIT_READ))],
    patient_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Code = None,
    outcome: Annotated[Literal["success", "denied", "failure"] | None, Query()] = None,
    entity_type: Code = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AuditEventsPage:
    page = query_events(
        db=runtime.db,
        ctx=ctx,
        query=AuditQuery(
            patient_id=patient_id,
            actor_id=actor_id,
            action=action,
            outcome=outcome,
            entity_type=entity_type,
            since=since,
            until=until,
            before=before,
            limit=limit,
        ),
        sequencer=runtime.sequencer,
    )
    return AuditEventsPage(events=page.events, next_before=page.next_before)
