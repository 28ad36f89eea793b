"""MFA services: which factors a user has, enrolment (TOTP, WebAuthn), recovery codes, removal and the
administrator's MFA reset. Checking a factor at login or re-authentication is ``security.mfa.verification``.

Enrolment rules (mandatory MFA):
- a session still pending its second factor may enrol only while the user has **no** confirmed factor (first
  enrolment right after the password; otherwise a stolen password could add the attacker's factor);
- a fully logged-in session may add a factor, but once the user has one, only after a recent re-authentication;
- the first confirmed factor also yields ten recovery codes, shown once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select

from claimvault.accounts.models import AuthSession, User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.sessions import now_utc, recently_reauthenticated, revoke_all_for_user
from claimvault.config import Settings
from claimvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from claimvault.ids import uuid7
from claimvault.security.crypto.keys import KeyService
from claimvault.security.mfa import recovery, totp, webauthn_flow
from claimvault.security.mfa.models import TotpSecret, WebAuthnChallenge, WebAuthnCredential
from claimvault.security.mfa.secrets import seal, unseal
from claimvault.storage.database import Database

TOTP_TABLE = "mfa_totp_secrets"
TOTP_COLUMN = "secret"


def enrolled_methods(*, db: Database, user_id: uuid.UUID) -> list[str]:
    """The confirmed second factors of a user: any of "totp", "webauthn" (recovery codes are a fallback)."""
    with db.session(tenant_id=None) as s:
        return _methods(s, user_id)


def _methods(s: Any, user_id: uuid.UUID) -> list[str]:
    has_totp = s.scalar(select(exists().where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_not(None))))
    has_key = s.scalar(select(exists().where(WebAuthnCredential.user_id == user_id)))
    return [m for m, on in (("totp", has_totp), ("webauthn", has_key)) if on]


@dataclass(frozen=True)
class CredentialInfo:
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class MfaStatus:
    methods: list[str]
    recovery_codes_remaining: int
    credentials: list[CredentialInfo]

    @property
    def enrolment_required(self) -> bool:
        return not self.methods


def mfa_status(*, db: Database, user_id: uuid.UUID) -> MfaStatus:
    with db.session(tenant_id=None) as s:
        creds = s.scalars(
            select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id).order_by(WebAuthnCredential.id)
        )
        return MfaStatus(
            methods=_methods(s, user_id),
            recovery_codes_remaining=recovery.remaining(s, user_id=user_id),
            credentials=[CredentialInfo(c.id, c.name, c.created_at, c.last_used_at) for c in creds],
        )


# --- enrolment -------------------------------------------------------------------------------------------------


def _check_enrolment(methods: list[str], session: AuthSession, user: User) -> bool:
    """Apply the enrolment rules; return True when the factor being added is the user's first."""
    if session.mfa_verified_at is None:
        if methods:
            raise PermissionDenied("Complete the second factor first.", code="mfa_required")
        return True
    if user.must_change_password:
        raise PermissionDenied("Change your password before continuing.", code="password_change_required")
    if methods and not recently_reauthenticated(session):
        raise PermissionDenied("Confirm your password and second factor to continue.", code="reauthentication_required")
    return not methods


def ensure_may_enrol(*, db: Database, session: AuthSession, user: User) -> bool:
    """Raise unless this session may add a factor now; return True if it would be the first factor."""
    return _check_enrolment(enrolled_methods(db=db, user_id=user.id), session, user)


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, for manual entry; shown once
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Enrolled:
    first_factor: bool
    recovery_codes: list[str]  # the new codes when this was the first factor; otherwise empty


def start_totp_enrolment(*, db: Database, keys: KeyService, session: AuthSession, user: User) -> TotpSetup:
    """Create an unconfirmed TOTP secret (replacing any earlier unconfirmed one), stored encrypted."""
    ensure_may_enrol(db=db, session=session, user=user)
    secret = totp.new_secret()
    with db.session(tenant_id=None) as s:
        s.execute(delete(TotpSecret).where(TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_(None)))
        row = TotpSecret(id=uuid7(), user_id=user.id, secret=b"")
        row.secret = seal(s, keys, table=TOTP_TABLE, column=TOTP_COLUMN, row_id=row.id, plaintext=secret.encode())
        s.add(row)
    uri = totp.provisioning_uri(secret, account=user.username)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def _finish_enrolment(s: Any, *, first: bool, user: User, method: str, source_address: str | None) -> Enrolled:
    """Inside the enrolling transaction: record the event, issue recovery codes for a first factor."""
    add_security_event(
        s, user_id=user.id, kind="mfa.enrolled", source_address=source_address, detail={"method": method}
    )
    codes: list[str] = []
    if first:
        codes = recovery.replace_codes(s, user_id=user.id)
        add_security_event(
            s,
            user_id=user.id,
            kind="recovery_codes.generated",
            source_address=source_address,
            detail={"count": len(codes)},
        )
    return Enrolled(first_factor=first, recovery_codes=codes)


def confirm_totp_enrolment(
    *, db: Database, keys: KeyService, session: AuthSession, user: User, code: str, source_address: str | None
) -> Enrolled:
    """Activate the pending TOTP secret with a current code (that step then counts as used). A confirmed TOTP
    replaces any earlier one."""
    ensure_may_enrol(db=db, session=session, user=user)
    with db.session(tenant_id=None) as s:
        row = s.scalars(
            select(TotpSecret)
            .where(TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_(None))
            .order_by(TotpSecret.created_at.desc(), TotpSecret.id.desc())
            .limit(1)
        ).first()
        if row is None:
            raise Conflict("Start TOTP setup first.", code="no_pending_enrolment")
        secret = unseal(s, keys, table=TOTP_TABLE, column=TOTP_COLUMN, row_id=row.id, ciphertext=row.secret).decode()
        step = totp.matching_step(secret, code, last_used_step=None)
        if step is not None:
            # Re-checked inside the enrolling transaction, before this factor counts.
            first = _check_enrolment(_methods(s, user.id), session, user)
            row.confirmed_at = now_utc()
            row.last_used_step = step
            s.execute(delete(TotpSecret).where(TotpSecret.user_id == user.id, TotpSecret.id != row.id))
            s.flush()
            return _finish_enrolment(s, first=first, user=user, method="totp", source_address=source_address)
    raise ValidationFailed("The code is not valid. Check the device clock and try again.", code="invalid_mfa_code")


def start_webauthn_registration(
    *, db: Database, settings: Settings, session: AuthSession, user: User
) -> dict[str, Any]:
    ensure_may_enrol(db=db, session=session, user=user)
    return webauthn_flow.registration_options(
        db=db, settings=settings, session_id=session.id, user_id=user.id, username=user.username
    )


def finish_webauthn_registration(
    *,
    db: Database,
    settings: Settings,
    session: AuthSession,
    user: User,
    credential: dict[str, Any],
    name: str,
    source_address: str | None,
) -> Enrolled:
    ensure_may_enrol(db=db, session=session, user=user)
    challenge = webauthn_flow.take_challenge(db=db, session_id=session.id, purpose=webauthn_flow.REGISTER)
    if challenge is None:
        raise ValidationFailed("The security key request expired. Start again.", code="webauthn_challenge_expired")
    try:
        new = webauthn_flow.check_registration(settings=settings, challenge=challenge, credential=credential)
    except webauthn_flow.WebAuthnRejected:
        raise ValidationFailed("The security key response could not be verified.", code="webauthn_rejected") from None
    with db.session(tenant_id=None) as s:
        first = _check_enrolment(_methods(s, user.id), session, user)
        if s.scalar(select(exists().where(WebAuthnCredential.credential_id == new.credential_id))):
            raise Conflict("This security key is already registered.", code="credential_exists")
        s.add(
            WebAuthnCredential(
                user_id=user.id,
                credential_id=new.credential_id,
                public_key=new.public_key,
                sign_count=new.sign_count,
                transports=new.transports,
                name=name,
            )
        )
        s.flush()
        return _finish_enrolment(s, first=first, user=user, method="webauthn", source_address=source_address)


# --- recovery codes and removal (fully logged in, recently re-authenticated) -----------------------------------


def _require_recent(session: AuthSession) -> None:
    if session.mfa_verified_at is None:
        raise PermissionDenied("Complete the second factor first.", code="mfa_required")
    if not recently_reauthenticated(session):
        raise PermissionDenied("Confirm your password and second factor to continue.", code="reauthentication_required")


def regenerate_recovery_codes(
    *, db: Database, session: AuthSession, user_id: uuid.UUID, source_address: str | None
) -> list[str]:
    """Ten new codes; every earlier code stops working."""
    _require_recent(session)
    with db.session(tenant_id=None) as s:
        if not _methods(s, user_id):
            raise Conflict("Enrol a second factor first.", code="no_second_factor")
        codes = recovery.replace_codes(s, user_id=user_id)
        add_security_event(
            s,
            user_id=user_id,
            kind="recovery_codes.generated",
            source_address=source_address,
            detail={"count": len(codes)},
        )
        return codes


def _factor_count(s: Any, user_id: uuid.UUID) -> int:
    totps = s.scalar(
        select(func.count())
        .select_from(TotpSecret)
        .where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_not(None))
    )
    keys = s.scalar(select(func.count()).select_from(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id))
    return int(totps or 0) + int(keys or 0)


def _refuse_last_factor(s: Any, user_id: uuid.UUID) -> None:
    if _factor_count(s, user_id) <= 1:
        raise Conflict("This is your only second factor; add another one before removing it.", code="last_factor")


def remove_totp(*, db: Database, session: AuthSession, user_id: uuid.UUID, source_address: str | None) -> None:
    _require_recent(session)
    with db.session(tenant_id=None) as s:
        if not s.scalar(select(exists().where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_not(None)))):
            raise NotFound("No authenticator app is enrolled.")
        _refuse_last_factor(s, user_id)
        s.execute(delete(TotpSecret).where(TotpSecret.user_id == user_id))
        add_security_event(
            s, user_id=user_id, kind="mfa.removed", source_address=source_address, detail={"method": "totp"}
        )


def remove_webauthn_credential(
    *, db: Database, session: AuthSession, user_id: uuid.UUID, credential_row_id: uuid.UUID, source_address: str | None
) -> None:
    _require_recent(session)
    with db.session(tenant_id=None) as s:
        row = s.get(WebAuthnCredential, credential_row_id)
        if row is None or row.user_id != user_id:
            raise NotFound("No such security key.")
        _refuse_last_factor(s, user_id)
        s.delete(row)
        add_security_event(
            s,
            user_id=user_id,
            kind="mfa.removed",
            source_address=source_address,
            detail={"method": "webauthn", "credential": str(credential_row_id)},
        )


# --- MFA reset by administrators (two-person rule) -------------------------------------------------------------


@dataclass(frozen=True)
class MfaResetRequest:
    """What the approval workflow stores and shows: the action, its target and who asked."""

    action: str
    target_user_id: uuid.UUID
    requested_by: uuid.UUID


def request_mfa_reset(*, db: Database, target_user_id: uuid.UUID, requested_by: uuid.UUID) -> MfaResetRequest:
    """Validate a reset request (both users exist; nobody resets their own MFA) and describe it. Changes nothing:
    the approvals workflow (``security.approvals``) records it and, once a *different* administrator approves,
    calls ``apply_mfa_reset``. Whether the requester may ask at all is the caller's permission check."""
    if target_user_id == requested_by:
        raise PermissionDenied("You cannot reset your own second factor.", code="self_mfa_reset")
    with db.session(tenant_id=None) as s:
        if s.get(User, target_user_id) is None or s.get(User, requested_by) is None:
            raise NotFound("No such user.")
    return MfaResetRequest(action="mfa_reset", target_user_id=target_user_id, requested_by=requested_by)


def apply_mfa_reset(
    *,
    db: Database,
    target_user_id: uuid.UUID,
    requested_by: uuid.UUID | None = None,
    approved_by: uuid.UUID | None = None,
) -> int:
    """Remove every factor and recovery code of the user and end all their sessions (the next login enrols
    afresh). Call only once the two-person approval is complete. Returns how many sessions were revoked."""
    with db.session(tenant_id=None) as s:
        if s.get(User, target_user_id) is None:
            raise NotFound("No such user.")
        s.execute(delete(TotpSecret).where(TotpSecret.user_id == target_user_id))
        s.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == target_user_id))
        recovery.remove_all(s, user_id=target_user_id)
        sessions = select(AuthSession.id).where(AuthSession.user_id == target_user_id)
        s.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.session_id.in_(sessions)))
        detail = {k: str(v) for k, v in (("requested_by", requested_by), ("approved_by", approved_by)) if v}
        add_security_event(s, user_id=target_user_id, kind="mfa.reset", detail=detail)
    return revoke_all_for_user(db=db, user_id=target_user_id)
