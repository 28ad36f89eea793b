"""Two-person approvals: account requests (MFA reset, re-activation) created by a user administrator, listed and
decided by a different approver. Money kinds are created by the billing routes; all kinds are decided here."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from claimvault.accounts.lifecycle import request_mfa_reset, request_reactivation
from claimvault.accounts.sessions import aware
from claimvault.errors import PermissionDenied
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.approvals.service import decide_request, list_requests
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import Authenticated, RuntimeDep, require_recent_reauthentication, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/approvals", tags=["approvals"])

# Times are stored in UTC; SQLite hands them back naive. Responses always carry the offset.
Utc = Annotated[datetime, AfterValidator(aware)]


def recent_reauth(request: Request) -> None:
    """Sensitive actions need a cookie session re-authenticated within five minutes (never an API token)."""
    auth: Authenticated | None = getattr(request.state, "auth", None)
    if auth is None:
        raise PermissionDenied("Confirm your password and second factor to continue.", code="reauthentication_required")
    require_recent_reauthentication(auth)


class ApprovalOut(BaseModel):
    id: uuid.UUID
    kind: str
    amount: Decimal | None
    currency: str
    subject_type: str
    subject_id: uuid.UUID
    payload: dict[str, Any]
    status: str
    requested_by: uuid.UUID | None
    requested_by_name: str | None
    requested_at: Utc
    decided_by: uuid.UUID | None
    decided_at: Utc | None
    reason_code: str | None
    executed_at: Utc | None

    @classmethod
    def of(cls, row: ApprovalRequest) -> ApprovalOut:
        return cls(
            id=row.id,
            kind=row.kind,
            amount=row.amount,
            currency=row.currency,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            payload=row.payload,
            status=row.status,
            requested_by=row.requested_by,
            requested_by_name=row.requested_by_name,
            requested_at=row.requested_at,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            reason_code=row.reason_code,
            executed_at=row.executed_at,
        )


class ApprovalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: Literal["mfa_reset", "user_reactivation"]
    subject_id: uuid.UUID  # the member the request is about


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    approve: bool
    reason_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


@router.post("", status_code=201, summary="Request an account action that a second administrator must approve")
def create_approval(
    body: ApprovalCreate,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.USER_MANAGE))],
) -> ApprovalOut:
    recent_reauth(request)
    create = request_mfa_reset if body.kind == "mfa_reset" else request_reactivation
    return ApprovalOut.of(create(db=runtime.db, ctx=ctx, user_id=body.subject_id))


@router.get("", summary="Approval requests, newest first (filter with ?status=pending)")
def list_approvals(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.APPROVAL_DECIDE))],
    status: Annotated[Literal["pending", "approved", "rejected", "cancelled", "executed"] | None, Query()] = None,
) -> list[ApprovalOut]:
    return [ApprovalOut.of(r) for r in list_requests(db=runtime.db, ctx=ctx, status=status)]


@router.post("/{request_id}/decide", summary="Approve (and carry out) or reject a request; never your own")
def decide_approval(
    request_id: uuid.UUID,
    body: DecisionIn,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.APPROVAL_DECIDE))],
) -> ApprovalOut:
    recent_reauth(request)
    row = decide_request(
        db=runtime.db, ctx=ctx, request_id=request_id, approve=body.approve, reason_code=body.reason_code
    )
    return ApprovalOut.of(row)
