"""Security events: your own (logins, MFA, password, tokens, account state), and a member's for those holding
``security_event:read`` in the organization (only events of that organization or of no organization)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from claimvault.accounts.lifecycle import require_member
from claimvault.accounts.models import SecurityEvent
from claimvault.accounts.security_events import security_events_of
from claimvault.api.approvals import Utc
from claimvault.security.audit import build_event, record
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import AuthDep, RuntimeDep, requires

router = APIRouter(tags=["security events"])
LIMIT = 100


class SecurityEventOut(BaseModel):
    id: uuid.UUID
    kind: str
    outcome: str
    created_at: Utc
    source_address: str | None
    organization_id: uuid.UUID | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: SecurityEvent) -> SecurityEventOut:
        return cls.model_validate(row, from_attributes=True)


@router.get("/api/v1/auth/security-events", summary="Your own security events, newest first")
def my_security_events(auth: AuthDep, runtime: RuntimeDep) -> list[SecurityEventOut]:
    return [SecurityEventOut.of(e) for e in security_events_of(db=runtime.db, user_id=auth.user.id, limit=LIMIT)]


@router.get("/api/v1/orgs/{org}/users/{user_id}/security-events", summary="A member's security events, newest first")
def member_security_events(
    user_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.SECURITY_EVENT_READ))],
) -> list[SecurityEventOut]:
    require_member(db=runtime.db, organization_id=ctx.organization_id, user_id=user_id)
    events = security_events_of(db=runtime.db, user_id=user_id, limit=LIMIT * 5)
    mine = [e for e in events if e.organization_id in (None, ctx.organization_id)][:LIMIT]
    with runtime.db.session(tenant_id=ctx.organization_id) as session:
        record(
            session,
            build_event(
                ctx,
                action="security_events.read",
                permission=Permission.SECURITY_EVENT_READ.value,
                entity_type="users",
                entity_id=user_id,
            ),
        )
    return [SecurityEventOut.of(e) for e in mine]
