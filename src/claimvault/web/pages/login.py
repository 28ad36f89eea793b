"""The login and logout pages. The password step starts a pending session (the API's cookie); the browser then
goes to MFA enrolment or the MFA challenge.

The login form has no session yet, so its CSRF token is bound to a short-lived pre-login cookie instead
(double submit: the form field must be the keyed MAC of that cookie)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from claimvault.accounts.login import INVALID, TooManyAttempts, check_password
from claimvault.accounts.sessions import csrf_matches, csrf_token, revoke_session, start_session
from claimvault.api.auth import set_session_cookie
from claimvault.config import Settings
from claimvault.errors import AuthenticationRequired
from claimvault.security.mfa.service import enrolled_methods
from claimvault.web.deps import MAX_TOKEN_LENGTH, RuntimeDep, client_address, public
from claimvault.web.pages.access import (
    CHALLENGE_PATH,
    ENROLL_PATH,
    LOGIN_PATH,
    PageRoute,
    PendingPage,
    render,
    see_other,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

LOGIN_CSRF_MAX_AGE = 60 * 60
EXPIRED_FORM = "The login form expired. Please try again."


def _login_cookie_name(settings: Settings) -> str:
    return f"{settings.session_cookie_name}_login"


def _login_form(
    settings: Settings,
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    notice: str | None = None,
    retry_after: int | None = None,
) -> Response:
    nonce = secrets.token_urlsafe(32)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    response = render(
        "login.html",
        status_code=status_code,
        headers=headers,
        csrf=csrf_token(settings, f"login|{nonce}"),
        error=error,
        username=username,
        notice=notice,
    )
    response.set_cookie(
        _login_cookie_name(settings),
        nonce,
        max_age=LOGIN_CSRF_MAX_AGE,
        path=LOGIN_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get(LOGIN_PATH)
@public
def login_page(request: Request, runtime: RuntimeDep) -> Response:
    notice = "You have been logged out." if request.query_params.get("ended") == "1" else None
    return _login_form(runtime.settings, notice=notice)


@router.post(LOGIN_PATH)
@public
async def login_submit(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=1024)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf_token_field: Annotated[str, Form(alias="csrf_token", max_length=256)] = "",
) -> Response:
    settings = runtime.settings
    nonce = request.cookies.get(_login_cookie_name(settings)) or ""
    shown_name = username.strip()[:64]
    if not nonce or len(nonce) > MAX_TOKEN_LENGTH or not csrf_matches(settings, f"login|{nonce}", csrf_token_field):
        return _login_form(settings, status_code=403, error=EXPIRED_FORM, username=shown_name)
    if not username.strip() or not password or len(username) > 64 or len(password) > 1024:
        return _login_form(settings, status_code=401, error=INVALID, username=shown_name)
    source = client_address(request)
    try:
        ok = await run_in_threadpool(
            check_password,
            db=runtime.db,
            passwords=runtime.passwords,
            limiter=runtime.limiter,
            hash_guard=runtime.hash_guard,
            username=username,
            password=password,
            source_address=source,
        )
    except TooManyAttempts as exc:
        message = "Too many attempts. Wait a moment, then try again."
        return _login_form(settings, status_code=429, error=message, username=shown_name, retry_after=exc.retry_after)
    except AuthenticationRequired:
        return _login_form(settings, status_code=401, error=INVALID, username=shown_name)
    old = request.cookies.get(settings.session_cookie_name)
    if old and len(old) <= MAX_TOKEN_LENGTH:
        await run_in_threadpool(revoke_session, db=runtime.db, settings=settings, token=old)
    token, _ = await run_in_threadpool(
        start_session,
        db=runtime.db,
        settings=settings,
        user_id=ok.user_id,
        source_address=source,
        user_agent=request.headers.get("user-agent"),
    )
    methods = await run_in_threadpool(enrolled_methods, db=runtime.db, user_id=ok.user_id)
    response = see_other(CHALLENGE_PATH if methods else ENROLL_PATH)
    set_session_cookie(response, settings, token)
    response.delete_cookie(_login_cookie_name(settings), path=LOGIN_PATH, secure=True, httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(page: PendingPage, runtime: RuntimeDep) -> Response:
    await run_in_threadpool(revoke_session, db=runtime.db, settings=runtime.settings, token=page.auth.token)
    response = see_other(f"{LOGIN_PATH}?ended=1")
    response.delete_cookie(
        runtime.settings.session_cookie_name, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response
