"""Checking a second factor: completing a pending login, and re-authentication (password + factor) before
sensitive actions.

Every check is throttled before any code is looked at, under MFA keys (per account and per source address)
that are separate from the password counters. Failures are recorded (``mfa.failed``) in a transaction of their
own, so they stay on record although the request fails; a failure that locks a key out adds ``login.locked``.
A TOTP step, a recovery code and a WebAuthn challenge each work once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from claimvault.accounts.login import TooManyAttempts
from claimvault.accounts.models import AuthSession, User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.sessions import complete_mfa, mark_reauthenticated
from claimvault.config import Settings
from claimvault.errors import AuthenticationRequired, Conflict, NotFound, PermissionDenied
from claimvault.security.crypto.keys import KeyService
from claimvault.security.hash_guard import HashGuard, TooBusy
from claimvault.security.mfa import recovery, totp, webauthn_flow
from claimvault.security.mfa.models import TotpSecret
from claimvault.security.mfa.secrets import unseal
from claimvault.security.mfa.service import TOTP_COLUMN, TOTP_TABLE
from claimvault.security.passwords import PasswordHashing
from claimvault.security.throttle import AttemptLimiter, Throttled, mfa_keys, password_keys
from claimvault.storage.database import Database

CODE_METHODS = frozenset({"totp", "recovery"})
METHODS = CODE_METHODS | {"webauthn"}


def _check_totp(db: Database, keys: KeyService, user_id: uuid.UUID, code: str) -> bool:
    with db.session(tenant_id=None) as s:
        row = s.scalars(
            select(TotpSecret).where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_not(None)).limit(1)
        ).first()
        if row is None:
            return False
        secret = unseal(s, keys, table=TOTP_TABLE, column=TOTP_COLUMN, row_id=row.id, ciphertext=row.secret).decode()
        step = totp.matching_step(secret, code, last_used_step=row.last_used_step)
        if step is None:
            return False
        # Conditional update: of two concurrent uses of one code, only one moves the step forward.
        last = TotpSecret.last_used_step
        moved = s.execute(
            update(TotpSecret)
            .where(TotpSecret.id == row.id, (last.is_(None)) | (last < step))
            .values(last_used_step=step)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(moved, "rowcount", 0) or 0) == 1


def _check_recovery(db: Database, user_id: uuid.UUID, code: str, source_address: str | None) -> bool:
    with db.session(tenant_id=None) as s:
        if not recovery.consume(s, user_id=user_id, code=code):
            return False
        left = recovery.remaining(s, user_id=user_id)
        add_security_event(
            s, user_id=user_id, kind="recovery_code.used", source_address=source_address, detail={"remaining": left}
        )
        return True


def _check_webauthn(
    db: Database, settings: Settings, session_id: uuid.UUID, user_id: uuid.UUID, credential: dict[str, Any] | None
) -> bool:
    challenge = webauthn_flow.take_challenge(db=db, session_id=session_id, purpose=webauthn_flow.AUTHENTICATE)
    if challenge is None or not isinstance(credential, dict):
        return False
    try:
        webauthn_flow.check_assertion(
            db=db, settings=settings, user_id=user_id, challenge=challenge, credential=credential
        )
    except webauthn_flow.WebAuthnRejected:
        return False
    return True


def start_webauthn_authentication(*, db: Database, settings: Settings, session: AuthSession) -> dict[str, Any]:
    """Options for ``navigator.credentials.get()`` with the user's keys; the challenge is kept for this session."""
    if not webauthn_flow.credentials_of(db=db, user_id=session.user_id):
        raise NotFound("No security key is registered.", code="no_security_key")
    return webauthn_flow.authentication_options(
        db=db, settings=settings, session_id=session.id, user_id=session.user_id
    )


def _throttle_check(limiter: AttemptLimiter, keys: list[str]) -> None:
    try:
        limiter.check(keys)
    except Throttled as exc:
        raise TooManyAttempts(exc.retry_after) from None


def check_second_factor(
    *,
    db: Database,
    keys: KeyService,
    settings: Settings,
    limiter: AttemptLimiter,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    method: str,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
    source_address: str | None,
    purpose: str = "login",
) -> None:
    """Verify one second factor or raise (429 when throttled, 401 ``invalid_mfa_code`` otherwise)."""
    limiter_keys = mfa_keys(str(user_id), source_address)
    _throttle_check(limiter, limiter_keys)
    if method == "totp":
        ok = _check_totp(db, keys, user_id, code or "")
    elif method == "recovery":
        ok = _check_recovery(db, user_id, code or "", source_address)
    elif method == "webauthn":
        ok = _check_webauthn(db, settings, session_id, user_id, credential)
    else:
        ok = False
    if ok:
        limiter.succeeded([limiter_keys[0]])
        return
    with db.session(tenant_id=None) as s:
        add_security_event(
            s,
            user_id=user_id,
            kind="mfa.failed",
            outcome="failure",
            source_address=source_address,
            detail={"method": method if method in METHODS else "unknown", "purpose": purpose},
            reason="invalid_code",
        )
    if limiter.failed(limiter_keys):
        with db.session(tenant_id=None) as s:
            add_security_event(
                s,
                user_id=user_id,
                kind="login.locked",
                outcome="denied",
                source_address=source_address,
                detail={"factor": "mfa"},
            )
    raise AuthenticationRequired("The second factor was not accepted.", code="invalid_mfa_code")


def complete_login(
    *,
    db: Database,
    keys: KeyService,
    settings: Settings,
    limiter: AttemptLimiter,
    session: AuthSession,
    method: str,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
    source_address: str | None,
) -> str:
    """Check the second factor of a pending session, mark it verified and rotate its id. Returns the new cookie
    token (the old one stops working)."""
    if session.mfa_verified_at is not None:
        raise Conflict("The second factor is already verified.", code="mfa_already_verified")
    check_second_factor(
        db=db,
        keys=keys,
        settings=settings,
        limiter=limiter,
        session_id=session.id,
        user_id=session.user_id,
        method=method,
        code=code,
        credential=credential,
        source_address=source_address,
    )
    return finish_login(db=db, settings=settings, session=session, method=method, source_address=source_address)


def finish_login(
    *, db: Database, settings: Settings, session: AuthSession, method: str, source_address: str | None
) -> str:
    """Record ``mfa.verified`` and complete the session (also used right after a first enrolment)."""
    token = complete_mfa(db=db, settings=settings, session_id=session.id)
    with db.session(tenant_id=None) as s:
        add_security_event(
            s, user_id=session.user_id, kind="mfa.verified", source_address=source_address, detail={"method": method}
        )
    return token


def reauthenticate(
    *,
    db: Database,
    keys: KeyService,
    settings: Settings,
    passwords: PasswordHashing,
    limiter: AttemptLimiter,
    hash_guard: HashGuard,
    session: AuthSession,
    user: User,
    password: str,
    method: str,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
    source_address: str | None,
) -> None:
    """Password and a second factor again; on success the session counts as recently re-authenticated."""
    if session.mfa_verified_at is None:
        raise PermissionDenied("Complete the second factor first.", code="mfa_required")
    pw_keys = password_keys(user.username, source_address)
    _throttle_check(limiter, pw_keys)
    _throttle_check(limiter, mfa_keys(str(user.id), source_address))
    try:
        with hash_guard.slot():
            ok, _ = passwords.verify(user.password_hash, password)
    except TooBusy:
        raise TooManyAttempts(1) from None
    if not ok:
        with db.session(tenant_id=None) as s:
            add_security_event(
                s,
                user_id=user.id,
                kind="reauthenticated",
                outcome="failure",
                source_address=source_address,
                detail={"step": "password"},
                reason="invalid_credentials",
            )
        if limiter.failed(pw_keys):
            with db.session(tenant_id=None) as s:
                add_security_event(
                    s,
                    user_id=user.id,
                    kind="login.locked",
                    outcome="denied",
                    source_address=source_address,
                    detail={"factor": "password"},
                )
        raise PermissionDenied("The password or second factor was not accepted.", code="reauthentication_failed")
    try:
        check_second_factor(
            db=db,
            keys=keys,
            settings=settings,
            limiter=limiter,
            session_id=session.id,
            user_id=user.id,
            method=method,
            code=code,
            credential=credential,
            source_address=source_address,
            purpose="reauthentication",
        )
    except AuthenticationRequired:
        raise PermissionDenied(
            "The password or second factor was not accepted.", code="reauthentication_failed"
        ) from None
    limiter.succeeded([pw_keys[0]])
    mark_reauthenticated(db=db, session_id=session.id)
    with db.session(tenant_id=None) as s:
        add_security_event(
            s, user_id=user.id, kind="reauthenticated", source_address=source_address, detail={"method": method}
        )
