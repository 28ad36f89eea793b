"""Second-factor routes: enrolment (TOTP, WebAuthn), the login challenge, re-authentication, recovery codes and
factor removal. A password login leaves a *pending* session; completing a factor here rotates its id (new
cookie, new CSRF token). Enrolment rules and checks live in ``security.mfa``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from claimvault.accounts.sessions import csrf_token
from claimvault.api.auth import set_session_cookie
from claimvault.runtime import Runtime
from claimvault.security.mfa import service, verification
from claimvault.web.deps import AuthDep, Authenticated, PendingDep, RuntimeDep, client_address

router = APIRouter(prefix="/api/v1/auth/mfa", tags=["mfa"])

CredentialJSON = dict[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class CodeIn(_Body):
    code: str = Field(min_length=1, max_length=16)


class VerifyIn(_Body):
    method: Literal["totp", "recovery"]
    code: str = Field(min_length=1, max_length=64)


class WebAuthnRegisterIn(_Body):
    credential: CredentialJSON
    name: str = Field(default="Security key", min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


class WebAuthnAssertionIn(_Body):
    credential: CredentialJSON


class ReauthIn(_Body):
    password: str = Field(min_length=1, max_length=1024)
    method: Literal["totp", "recovery", "webauthn"]
    code: str | None = Field(default=None, min_length=1, max_length=64)
    credential: CredentialJSON | None = None


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class EnrolledOut(BaseModel):
    mfa_verified: bool
    recovery_codes: list[str]  # shown once: the ten codes when this was the first factor, otherwise empty
    csrf_token: str


class VerifiedOut(BaseModel):
    csrf_token: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class CredentialOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


class MethodsOut(BaseModel):
    methods: list[str]
    enrolment_required: bool
    mfa_verified: bool
    recovery_codes_remaining: int
    webauthn_credentials: list[CredentialOut]


def _enrolled(
    runtime: Runtime, auth: Authenticated, result: service.Enrolled, method: str, request: Request, response: Response
) -> EnrolledOut:
    """After an enrolment: a pending session completing its first factor is now verified (new cookie)."""
    token = auth.token
    if result.first_factor and auth.session.mfa_verified_at is None:
        token = verification.finish_login(
            db=runtime.db,
            settings=runtime.settings,
            session=auth.session,
            method=method,
            source_address=client_address(request),
        )
        set_session_cookie(response, runtime.settings, token)
    return EnrolledOut(
        mfa_verified=True if result.first_factor else auth.session.mfa_verified_at is not None,
        recovery_codes=result.recovery_codes,
        csrf_token=csrf_token(runtime.settings, token),
    )


def _verified(runtime: Runtime, response: Response, token: str) -> VerifiedOut:
    set_session_cookie(response, runtime.settings, token)
    return VerifiedOut(csrf_token=csrf_token(runtime.settings, token))


@router.get("/methods", summary="Enrolled second factors and whether enrolment is still required")
def methods(auth: PendingDep, runtime: RuntimeDep) -> MethodsOut:
    status = service.mfa_status(db=runtime.db, user_id=auth.user.id)
    return MethodsOut(
        methods=status.methods,
        enrolment_required=status.enrolment_required,
        mfa_verified=auth.session.mfa_verified_at is not None,
        recovery_codes_remaining=status.recovery_codes_remaining,
        webauthn_credentials=[CredentialOut(**c.__dict__) for c in status.credentials],
    )


@router.post("/totp/setup", summary="Start enrolling an authenticator app (secret, otpauth URI, QR code)")
def totp_setup(auth: PendingDep, runtime: RuntimeDep) -> TotpSetupOut:
    setup = service.start_totp_enrolment(db=runtime.db, keys=runtime.keys, session=auth.session, user=auth.user)
    return TotpSetupOut(secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_svg=setup.qr_svg)


@router.post("/totp/confirm", summary="Activate the authenticator app with a current code")
def totp_confirm(
    body: CodeIn, auth: PendingDep, runtime: RuntimeDep, request: Request, response: Response
) -> EnrolledOut:
    result = service.confirm_totp_enrolment(
        db=runtime.db,
        keys=runtime.keys,
        session=auth.session,
        user=auth.user,
        code=body.code,
        source_address=client_address(request),
    )
    return _enrolled(runtime, auth, result, "totp", request, response)


@router.delete("/totp", status_code=204, summary="Remove the authenticator app (not the last factor)")
def totp_remove(auth: AuthDep, runtime: RuntimeDep, request: Request) -> Response:
    service.remove_totp(
        db=runtime.db, session=auth.session, user_id=auth.user.id, source_address=client_address(request)
    )
    return Response(status_code=204)


@router.post("/webauthn/register/options", summary="Options for registering a security key or passkey")
def webauthn_register_options(auth: PendingDep, runtime: RuntimeDep) -> dict[str, Any]:
    return service.start_webauthn_registration(
        db=runtime.db, settings=runtime.settings, session=auth.session, user=auth.user
    )


@router.post("/webauthn/register/verify", summary="Register the security key from the browser's response")
def webauthn_register_verify(
    body: WebAuthnRegisterIn, auth: PendingDep, runtime: RuntimeDep, request: Request, response: Response
) -> EnrolledOut:
    result = service.finish_webauthn_registration(
        db=runtime.db,
        settings=runtime.settings,
        session=auth.session,
        user=auth.user,
        credential=body.credential,
        name=body.name.strip() or "Security key",
        source_address=client_address(request),
    )
    return _enrolled(runtime, auth, result, "webauthn", request, response)


@router.delete(
    "/webauthn/credentials/{credential_id}", status_code=204, summary="Remove a security key (not the last factor)"
)
def webauthn_remove(credential_id: uuid.UUID, auth: AuthDep, runtime: RuntimeDep, request: Request) -> Response:
    service.remove_webauthn_credential(
        db=runtime.db,
        session=auth.session,
        user_id=auth.user.id,
        credential_row_id=credential_id,
        source_address=client_address(request),
    )
    return Response(status_code=204)


@router.post("/webauthn/authenticate/options", summary="Options for signing in with a security key")
def webauthn_authenticate_options(auth: PendingDep, runtime: RuntimeDep) -> dict[str, Any]:
    return verification.start_webauthn_authentication(db=runtime.db, settings=runtime.settings, session=auth.session)


@router.post("/webauthn/authenticate/verify", summary="Complete the login with a security key")
def webauthn_authenticate_verify(
    body: WebAuthnAssertionIn, auth: PendingDep, runtime: RuntimeDep, request: Request, response: Response
) -> VerifiedOut:
    token = verification.complete_login(
        db=runtime.db,
        keys=runtime.keys,
        settings=runtime.settings,
        limiter=runtime.limiter,
        session=auth.session,
        method="webauthn",
        credential=body.credential,
        source_address=client_address(request),
    )
    return _verified(runtime, response, token)


@router.post("/verify", summary="Complete the login with an authenticator code or a recovery code")
def verify(body: VerifyIn, auth: PendingDep, runtime: RuntimeDep, request: Request, response: Response) -> VerifiedOut:
    token = verification.complete_login(
        db=runtime.db,
        keys=runtime.keys,
        settings=runtime.settings,
        limiter=runtime.limiter,
        session=auth.session,
        method=body.method,
        code=body.code,
        source_address=client_address(request),
    )
    return _verified(runtime, response, token)


@router.post("/reauthenticate", status_code=204, summary="Confirm password and second factor before sensitive actions")
def reauthenticate(body: ReauthIn, auth: AuthDep, runtime: RuntimeDep, request: Request) -> Response:
    verification.reauthenticate(
        db=runtime.db,
        keys=runtime.keys,
        settings=runtime.settings,
        passwords=runtime.passwords,
        limiter=runtime.limiter,
        hash_guard=runtime.hash_guard,
        session=auth.session,
        user=auth.user,
        password=body.password,
        method=body.method,
        code=body.code,
        credential=body.credential,
        source_address=client_address(request),
    )
    return Response(status_code=204)


@router.post("/recovery-codes/regenerate", summary="Replace the recovery codes (needs recent re-authentication)")
def regenerate_recovery_codes(auth: AuthDep, runtime: RuntimeDep, request: Request) -> RecoveryCodesOut:
    codes = service.regenerate_recovery_codes(
        db=runtime.db, session=auth.session, user_id=auth.user.id, source_address=client_address(request)
    )
    return RecoveryCodesOut(recovery_codes=codes)
