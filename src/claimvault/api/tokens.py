"""API tokens of an organization: create (the token is shown once), list (never the token or its hash), revoke.

A token is sent as ``Authorization: Bearer <token>``; it needs no cookie and no CSRF header, reaches only its own
organization and only the permissions it carries (still held by its creator)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from claimvault.accounts.api_tokens import MAX_DAYS, create_api_token, list_api_tokens, revoke_api_token
from claimvault.accounts.lifecycle_models import ApiToken
from claimvault.accounts.sessions import aware, now_utc
from claimvault.api.approvals import Utc, recent_reauth
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/tokens", tags=["api tokens"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=100)
    permissions: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=30)
    expires_in_days: int = Field(ge=1, le=MAX_DAYS)


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    user_id: uuid.UUID
    permissions: list[str]
    state: str  # active | revoked | expired
    created_at: Utc
    expires_at: Utc
    revoked_at: Utc | None
    last_used_at: Utc | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenOut:
        state = "revoked" if row.revoked_at else "expired" if aware(row.expires_at) <= now_utc() else "active"
        return cls(
            id=row.id,
            name=row.name,
            user_id=row.user_id,
            permissions=list(row.permissions),
            state=state,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


class TokenCreated(TokenOut):
    token: str  # shown once


@router.post("", status_code=201, summary="Create an API token (shown once) with permissions you hold here")
def create_token(
    body: TokenCreate,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.TOKEN_MANAGE))],
) -> TokenCreated:
    recent_reauth(request)
    raw, row = create_api_token(
        db=runtime.db,
        settings=runtime.settings,
        ctx=ctx,
        name=body.name,
        permissions=body.permissions,
        expires_in_days=body.expires_in_days,
    )
    return TokenCreated(**TokenOut.of(row).model_dump(), token=raw)


@router.get("", summary="The organization's API tokens (never the token itself)")
def list_tokens(
    runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.TOKEN_MANAGE))]
) -> list[TokenOut]:
    return [TokenOut.of(row) for row in list_api_tokens(db=runtime.db, ctx=ctx)]


@router.delete("/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(
    token_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.TOKEN_MANAGE))],
) -> Response:
    revoke_api_token(db=runtime.db, ctx=ctx, token_id=token_id)
    return Response(status_code=204)
