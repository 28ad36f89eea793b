"""Members of an organization: list them, create one with a one-time password, change roles, terminate, and
request an MFA reset (decided by a second administrator under the two-person rule)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from claimvault.accounts import lifecycle
from claimvault.api.approvals import ApprovalOut, Utc, recent_reauth
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/users", tags=["users"])

RoleList = Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]], Field(min_length=1, max_length=10)]


class MemberOut(BaseModel):
    user_id: uuid.UUID
    username: str
    roles: list[str]
    state: str
    disabled_reason: str | None
    must_change_password: bool
    last_login_at: Utc | None
    created_at: Utc


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: str = Field(min_length=3, max_length=64)
    roles: RoleList


class UserCreated(BaseModel):
    user_id: uuid.UUID
    username: str
    roles: list[str]
    one_time_password: str  # shown once; the user must change it at first login


class RolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    roles: RoleList


class RolesOut(BaseModel):
    user_id: uuid.UUID
    roles: list[str]


class TerminationOut(BaseModel):
    user_id: uuid.UUID
    state: str
    sessions_revoked: int
    tokens_revoked: int


@router.get("", summary="Members with their roles, account state and last login")
def list_users(
    runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.USER_READ))]
) -> list[MemberOut]:
    return [MemberOut.model_validate(m, from_attributes=True) for m in lifecycle.list_members(db=runtime.db, ctx=ctx)]


@router.post("", status_code=201, summary="Create a member with a one-time password (shown once)")
def create_user(
    body: UserCreate,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.USER_MANAGE))],
) -> UserCreated:
    recent_reauth(request)
    user, password = lifecycle.create_member(
        db=runtime.db, passwords=runtime.passwords, ctx=ctx, username=body.username, roles=body.roles
    )
    return UserCreated(
        user_id=user.id, username=user.username, roles=sorted(set(body.roles)), one_time_password=password
    )


@router.post("/{user_id}/roles", summary="Set a member's roles (their sessions end; not your own)")
def set_roles(
    user_id: uuid.UUID,
    body: RolesIn,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.MEMBERSHIP_MANAGE))],
) -> RolesOut:
    recent_reauth(request)
    roles = lifecycle.set_roles(db=runtime.db, ctx=ctx, user_id=user_id, roles=body.roles)
    return RolesOut(user_id=user_id, roles=roles)


@router.post("/{user_id}/terminate", summary="Terminate a member now: no login, sessions and tokens revoked")
def terminate_user(
    user_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.USER_MANAGE))],
) -> TerminationOut:
    recent_reauth(request)
    report = lifecycle.terminate_user(db=runtime.db, user_id=user_id, actor=ctx)
    return TerminationOut(
        user_id=user_id,
        state="terminated",
        sessions_revoked=report.sessions_revoked,
        tokens_revoked=report.tokens_revoked,
    )


@router.post("/{user_id}/mfa-reset", status_code=201, summary="Request an MFA reset (a second admin approves)")
def request_mfa_reset(
    user_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.USER_MANAGE))],
) -> ApprovalOut:
    recent_reauth(request)
    return ApprovalOut.of(lifecycle.request_mfa_reset(db=runtime.db, ctx=ctx, user_id=user_id))
