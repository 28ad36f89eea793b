"""Break-the-glass routes: invoke an emergency grant (re-authentication required) and the compliance review queue.

The justification travels in the request body only, is stored encrypted and is shown back only to reviewers,
through the PHI gate (which audits that read).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from claimvault.errors import PermissionDenied
from claimvault.monitoring.notifiers import notifier_for
from claimvault.security.break_glass import service
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import Authenticated, RuntimeDep, require_recent_reauthentication, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/break-glass", tags=["break-the-glass"])

ReasonCode = Literal["emergency_care", "patient_safety", "billing_dispute_urgent", "legal_requirement", "other"]
NoteCode = Literal[
    "justified",
    "clinically_necessary",
    "documented_elsewhere",
    "no_clinical_need",
    "excessive_access",
    "policy_violation",
    "referred_to_privacy_officer",
    "other",
]


class InvokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    reason_code: ReasonCode
    justification: str = Field(min_length=service.JUSTIFICATION_MIN, max_length=service.JUSTIFICATION_MAX)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "flagged"]
    note_code: NoteCode


class GrantOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    patient_id: uuid.UUID
    reason_code: str
    granted_at: datetime
    expires_at: datetime
    active: bool
    review_status: str
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_note_code: str | None
    alert_id: uuid.UUID | None


class ReviewItemOut(GrantOut):
    justification: str


def _out(grant: service.Grant) -> GrantOut:
    return GrantOut(
        id=grant.id,
        user_id=grant.user_id,
        patient_id=grant.patient_id,
        reason_code=grant.reason_code,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        active=grant.active,
        review_status=grant.review_status,
        reviewed_by=grant.reviewed_by,
        reviewed_at=grant.reviewed_at,
        review_note_code=grant.review_note_code,
        alert_id=grant.alert_id,
    )


@router.post("", status_code=201, summary="Break the glass: emergency access to one patient, time-boxed and reviewed")
def invoke_break_glass(
    body: InvokeBody,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.BREAK_GLASS))],
) -> GrantOut:
    auth: Authenticated | None = getattr(request.state, "auth", None)
    try:
        if auth is None:  # API tokens cannot break the glass: it needs a person who just re-authenticated
            raise PermissionDenied(
                "Confirm your password and second factor to continue.", code="reauthentication_required"
            )
        require_recent_reauthentication(auth)
    except PermissionDenied:
        service.record_refusal(db=runtime.db, ctx=ctx, action="break_glass", reason="reauthentication_required")
        raise
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        grant = service.invoke(
            gate=gate,
            patient_id=body.patient_id,
            reason_code=body.reason_code,
            justification=body.justification,
            notifier=notifier_for(runtime),
        )
    return _out(grant)


@router.get("/reviews", summary="The review queue: grants with their justifications (the read is audited)")
def review_queue(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.BREAK_GLASS_REVIEW))],
    status: Literal["pending", "approved", "flagged", "all"] = "pending",
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    after: uuid.UUID | None = None,
) -> list[ReviewItemOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        grants = service.review_queue(gate=gate, status=None if status == "all" else status, limit=limit, after=after)
    return [ReviewItemOut(**_out(g).model_dump(), justification=g.justification or "") for g in grants]


@router.post("/{grant_id}/review", summary="Approve or flag a grant (not your own); closes its alert")
def review_grant(
    grant_id: uuid.UUID,
    body: ReviewBody,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.BREAK_GLASS_REVIEW))],
) -> GrantOut:
    try:
        with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
            grant = service.review(gate=gate, grant_id=grant_id, decision=body.decision, note_code=body.note_code)
    except PermissionDenied as exc:
        if exc.code == "own_grant":
            service.record_refusal(
                db=runtime.db, ctx=ctx, action="break_glass_review", reason="own_grant", entity_id=grant_id
            )
        raise
    return _out(grant)
