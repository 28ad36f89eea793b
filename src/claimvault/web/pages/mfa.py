"""MFA pages: forced enrolment (TOTP with a QR code, WebAuthn through a static script, recovery codes shown once)
and the login challenge (TOTP, recovery code, WebAuthn). The checks are the MFA services'; these pages only
render and route. A completed second factor rotates the session id (new cookie), as the API does."""

from __future__ import annotations

import re
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from claimvault.accounts.login import TooManyAttempts
from claimvault.api.auth import set_session_cookie
from claimvault.errors import AuthenticationRequired, ValidationFailed
from claimvault.runtime import Runtime
from claimvault.security.mfa import totp
from claimvault.security.mfa.service import confirm_totp_enrolment, enrolled_methods, start_totp_enrolment
from claimvault.security.mfa.verification import complete_login, finish_login
from claimvault.web.deps import RuntimeDep, client_address
from claimvault.web.pages.access import (
    CHALLENGE_PATH,
    ENROLL_PATH,
    HOME_PATH,
    PageRedirect,
    PageRoute,
    PageSession,
    PendingPage,
    render,
    see_other,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_CODE_FIELD = 64
TOTP_SECRET = re.compile(r"^[A-Z2-7]{16,64}$")
WEBAUTHN_API = "/api/v1/auth/mfa/webauthn"
ENROLL_WEBAUTHN = {
    "register_options": f"{WEBAUTHN_API}/register/options",
    "register_verify": f"{WEBAUTHN_API}/register/verify",
    "next": HOME_PATH,
}
CHALLENGE_WEBAUTHN = {
    "authenticate_options": f"{WEBAUTHN_API}/authenticate/options",
    "authenticate_verify": f"{WEBAUTHN_API}/authenticate/verify",
    "next": HOME_PATH,
}


def qr_data_uri(otpauth_uri: str) -> str:
    """The provisioning URI as a QR code in an SVG data URI (an image: no markup, script or style in the page)."""
    uri: str = segno.make(otpauth_uri, error="m").svg_data_uri(border=4, omitsize=True, dark="#000", light="#fff")
    return uri


def grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def _methods(runtime: Runtime, page: PageSession) -> list[str]:
    methods: list[str] = await run_in_threadpool(enrolled_methods, db=runtime.db, user_id=page.auth.user.id)
    return methods


# --- enrolment -------------------------------------------------------------------------------------------------


def _enrol_page(page: PageSession, *, secret: str, status_code: int = 200, error: str | None = None) -> Response:
    return render(
        "enroll.html",
        status_code=status_code,
        page=page,
        error=error,
        secret=secret,
        secret_grouped=grouped(secret),
        qr_data_uri=qr_data_uri(totp.provisioning_uri(secret, account=page.auth.user.username)),
        webauthn=ENROLL_WEBAUTHN,
    )


@router.get(ENROLL_PATH)
async def enrol(page: PendingPage, runtime: RuntimeDep) -> Response:
    if await _methods(runtime, page):
        raise PageRedirect(HOME_PATH if page.mfa_verified else CHALLENGE_PATH)
    setup = await run_in_threadpool(
        start_totp_enrolment, db=runtime.db, keys=runtime.keys, session=page.auth.session, user=page.auth.user
    )
    return _enrol_page(page, secret=setup.secret)


@router.post(f"{ENROLL_PATH}/totp")
async def enrol_totp(
    page: PendingPage,
    runtime: RuntimeDep,
    request: Request,
    code: Annotated[str, Form(max_length=MAX_CODE_FIELD)] = "",
    secret: Annotated[str, Form(max_length=MAX_CODE_FIELD)] = "",
) -> Response:
    if await _methods(runtime, page):
        raise PageRedirect(HOME_PATH if page.mfa_verified else CHALLENGE_PATH)
    try:
        enrolled = await run_in_threadpool(
            confirm_totp_enrolment,
            db=runtime.db,
            keys=runtime.keys,
            session=page.auth.session,
            user=page.auth.user,
            code=code,
            source_address=client_address(request),
        )
    except ValidationFailed as exc:
        # The pending secret stays as it was: show it again (the hidden field only redisplays what the page
        # showed; the check uses the stored secret), unless the field was tampered with.
        if not TOTP_SECRET.fullmatch(secret):
            raise PageRedirect(ENROLL_PATH) from None
        return _enrol_page(page, secret=secret, status_code=exc.status_code, error=exc.message)
    if not enrolled.recovery_codes:  # not a first factor (enrolment above is only offered without one)
        raise PageRedirect(HOME_PATH)
    # The recovery codes are in this response only. The page has no account menu: its CSRF token would be the
    # old session's.
    response = render("recovery_codes.html", page=None, codes=enrolled.recovery_codes, next=HOME_PATH)
    if enrolled.first_factor and not page.mfa_verified:
        token = await run_in_threadpool(
            finish_login,
            db=runtime.db,
            settings=runtime.settings,
            session=page.auth.session,
            method="totp",
            source_address=client_address(request),
        )
        set_session_cookie(response, runtime.settings, token)
    return response


# --- challenge -------------------------------------------------------------------------------------------------


async def _challenge_page(
    runtime: Runtime, page: PageSession, *, status_code: int = 200, error: str | None = None, retry_after: int = 0
) -> Response:
    if page.mfa_verified:
        raise PageRedirect(HOME_PATH)
    methods = await _methods(runtime, page)
    if not methods:
        raise PageRedirect(ENROLL_PATH)
    return render(
        "challenge.html",
        status_code=status_code,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
        page=page,
        error=error,
        totp="totp" in methods,
        webauthn=CHALLENGE_WEBAUTHN if "webauthn" in methods else None,
    )


@router.get(CHALLENGE_PATH)
async def challenge(page: PendingPage, runtime: RuntimeDep) -> Response:
    return await _challenge_page(runtime, page)


async def _verify(runtime: Runtime, page: PageSession, request: Request, *, method: str, code: str) -> Response:
    if page.mfa_verified:
        raise PageRedirect(HOME_PATH)
    try:
        token = await run_in_threadpool(
            complete_login,
            db=runtime.db,
            keys=runtime.keys,
            settings=runtime.settings,
            limiter=runtime.limiter,
            session=page.auth.session,
            method=method,
            code=code.strip(),
            source_address=client_address(request),
        )
    except TooManyAttempts as exc:
        message = "Too many attempts. Wait a moment, then try again."
        return await _challenge_page(runtime, page, status_code=429, error=message, retry_after=exc.retry_after)
    except AuthenticationRequired:
        message = (
            "That code was not accepted. Check it and try again."
            if method == "totp"
            else "That recovery code was not accepted. Each code works only once."
        )
        return await _challenge_page(runtime, page, status_code=401, error=message)
    response = see_other(HOME_PATH)
    set_session_cookie(response, runtime.settings, token)
    return response


@router.post(CHALLENGE_PATH)
async def challenge_totp(
    page: PendingPage, runtime: RuntimeDep, request: Request, code: Annotated[str, Form(max_length=MAX_CODE_FIELD)] = ""
) -> Response:
    return await _verify(runtime, page, request, method="totp", code=code)


@router.post(f"{CHALLENGE_PATH}/recovery")
async def challenge_recovery(
    page: PendingPage, runtime: RuntimeDep, request: Request, code: Annotated[str, Form(max_length=MAX_CODE_FIELD)] = ""
) -> Response:
    return await _verify(runtime, page, request, method="recovery", code=code)
