"""Login (password step), logout and "who am I". Server-side sessions in an HttpOnly, Secure, SameSite=Strict
cookie. A password login yields a *pending* session: the second factor (``api/mfa.py``) completes it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from claimvault.accounts.login import check_password
from claimvault.accounts.services import memberships_of
from claimvault.accounts.sessions import csrf_token, revoke_session, start_session
from claimvault.config import Settings
from claimvault.security.mfa.service import enrolled_methods
from claimvault.web.deps import MAX_TOKEN_LENGTH, PendingDep, RuntimeDep, client_address, public

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    status: str  # "mfa_required" | "mfa_enrollment_required"
    methods: list[str]
    csrf_token: str


class MembershipOut(BaseModel):
    organization: str
    name: str
    roles: list[str]


class MeOut(BaseModel):
    user_id: uuid.UUID
    username: str
    mfa_verified: bool
    mfa_methods: list[str]
    must_change_password: bool
    csrf_token: str
    memberships: list[MembershipOut]


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        token,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
        max_age=settings.session_absolute_timeout_seconds,
    )


@router.post("/login", summary="Password step of login; the second factor follows")
@public
async def login(body: LoginRequest, request: Request, response: Response, runtime: RuntimeDep) -> LoginOut:
    source = client_address(request)
    # Argon2 runs off the event loop; the hash guard caps how many run at once.
    ok = await run_in_threadpool(
        check_password,
        db=runtime.db,
        passwords=runtime.passwords,
        limiter=runtime.limiter,
        hash_guard=runtime.hash_guard,
        username=body.username,
        password=body.password,
        source_address=source,
    )
    old = request.cookies.get(runtime.settings.session_cookie_name)
    if old and len(old) <= MAX_TOKEN_LENGTH:
        await run_in_threadpool(revoke_session, db=runtime.db, settings=runtime.settings, token=old)
    token, _ = await run_in_threadpool(
        start_session,
        db=runtime.db,
        settings=runtime.settings,
        user_id=ok.user_id,
        source_address=source,
        user_agent=request.headers.get("user-agent"),
    )
    set_session_cookie(response, runtime.settings, token)
    methods = await run_in_threadpool(enrolled_methods, db=runtime.db, user_id=ok.user_id)
    return LoginOut(
        status="mfa_required" if methods else "mfa_enrollment_required",
        methods=methods,
        csrf_token=csrf_token(runtime.settings, token),
    )


@router.post("/logout", summary="End the current session", status_code=204)
def logout(auth: PendingDep, response: Response, runtime: RuntimeDep) -> Response:
    revoke_session(db=runtime.db, settings=runtime.settings, token=auth.token)
    response.delete_cookie(
        runtime.settings.session_cookie_name, path="/", secure=True, httponly=True, samesite="strict"
    )
    response.status_code = 204
    return response


@router.get("/me", summary="The logged-in user, their login state, organizations and roles")
def me(auth: PendingDep, runtime: RuntimeDep) -> MeOut:
    verified = auth.session.mfa_verified_at is not None
    return MeOut(
        user_id=auth.user.id,
        username=auth.user.username,
        mfa_verified=verified,
        mfa_methods=enrolled_methods(db=runtime.db, user_id=auth.user.id),
        must_change_password=auth.user.must_change_password,
        csrf_token=csrf_token(runtime.settings, auth.token),
        memberships=[
            MembershipOut(organization=m.organization.slug, name=m.organization.name, roles=sorted(m.roles))
            for m in (memberships_of(db=runtime.db, user_id=auth.user.id) if verified else [])
        ],
    )
