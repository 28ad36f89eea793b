"""Login, logout and "who am I". Server-side sessions in an HttpOnly, Secure, SameSite=Strict cookie."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from claimvault.accounts.services import authenticate, memberships_of, revoke_session, start_session
from claimvault.errors import AuthenticationRequired
from claimvault.web.deps import AuthDep, RuntimeDep, public

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MembershipOut(BaseModel):
    organization: str
    name: str
    roles: list[str]


class MeOut(BaseModel):
    user_id: uuid.UUID
    username: str
    must_change_password: bool
    memberships: list[MembershipOut]


def _me(runtime: RuntimeDep, user_id: uuid.UUID, username: str, must_change: bool) -> MeOut:
    return MeOut(
        user_id=user_id,
        username=username,
        must_change_password=must_change,
        memberships=[
            MembershipOut(organization=m.organization.slug, name=m.organization.name, roles=sorted(m.roles))
            for m in memberships_of(db=runtime.db, user_id=user_id)
        ],
    )


@router.post("/login", summary="Log in with username and password")
@public
def login(body: LoginRequest, request: Request, response: Response, runtime: RuntimeDep) -> MeOut:
    source = request.client.host if request.client else None
    user = authenticate(
        db=runtime.db,
        passwords=runtime.passwords,
        username=body.username,
        password=body.password,
        source_address=source,
    )
    if user is None:
        raise AuthenticationRequired("Invalid username or password.", code="invalid_credentials")
    old = request.cookies.get(runtime.settings.session_cookie_name)
    if old and len(old) <= 128:
        revoke_session(db=runtime.db, settings=runtime.settings, token=old)  # a new id at every login
    token, _ = start_session(db=runtime.db, settings=runtime.settings, user_id=user.id, source_address=source)
    response.set_cookie(
        runtime.settings.session_cookie_name,
        token,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
        max_age=runtime.settings.session_absolute_timeout_seconds,
    )
    return _me(runtime, user.id, user.username, user.must_change_password)


@router.post("/logout", summary="End the current session", status_code=204)
def logout(auth: AuthDep, response: Response, runtime: RuntimeDep) -> Response:
    revoke_session(db=runtime.db, settings=runtime.settings, token=auth.token)
    response.delete_cookie(
        runtime.settings.session_cookie_name, path="/", secure=True, httponly=True, samesite="strict"
    )
    response.status_code = 204
    return response


@router.get("/me", summary="The logged-in user and their organizations and roles")
def me(auth: AuthDep, runtime: RuntimeDep) -> MeOut:
    return _me(runtime, auth.user.id, auth.user.username, auth.user.must_change_password)
