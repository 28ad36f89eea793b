"""WebAuthn ceremonies (security keys and passkeys) on top of the ``webauthn`` library.

Challenges are kept server-side per login session (``webauthn_challenges``): one per session and purpose, valid
five minutes, and consumed in a transaction of its own before the response is checked, so a failed or replayed
response cannot reuse it. Attestation is not requested ("none"); user presence is required, user verification
preferred. A signature counter that does not increase (when either side is non-zero) is refused as a cloned key.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from claimvault.accounts.sessions import aware, now_utc
from claimvault.config import Settings
from claimvault.security.mfa.models import WebAuthnChallenge, WebAuthnCredential
from claimvault.storage.database import Database

CHALLENGE_TTL = timedelta(minutes=5)
REGISTER = "register"
AUTHENTICATE = "authenticate"
_BAD_INPUT = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


class WebAuthnRejected(Exception):
    """The browser's response did not verify (bad signature, wrong origin, stale challenge, cloned key...)."""


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    rp_name: str
    origin: str

    @classmethod
    def from_settings(cls, settings: Settings) -> RelyingParty:
        return cls(
            rp_id=getattr(settings, "webauthn_rp_id", "localhost"),
            rp_name=getattr(settings, "webauthn_rp_name", "ClaimVault"),
            origin=getattr(settings, "webauthn_origin", "https://localhost:8443"),
        )


def _store_challenge(db: Database, *, session_id: uuid.UUID, purpose: str, challenge: bytes) -> None:
    with db.session(tenant_id=None) as s:
        s.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.session_id == session_id))
        s.add(
            WebAuthnChallenge(
                session_id=session_id, purpose=purpose, challenge=challenge, expires_at=now_utc() + CHALLENGE_TTL
            )
        )


def take_challenge(*, db: Database, session_id: uuid.UUID, purpose: str) -> bytes | None:
    """Remove and return the session's live challenge for ``purpose`` (None if absent, expired or used)."""
    with db.session(tenant_id=None) as s:
        row = s.scalars(
            select(WebAuthnChallenge).where(
                WebAuthnChallenge.session_id == session_id, WebAuthnChallenge.purpose == purpose
            )
        ).first()
        if row is None:
            return None
        challenge, expires_at = row.challenge, aware(row.expires_at)
        gone = s.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.id == row.id))
        if int(getattr(gone, "rowcount", 0) or 0) != 1 or now_utc() >= expires_at:
            return None
        return challenge


def _descriptors(rows: list[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for row in rows:
        transports = [
            AuthenticatorTransport(t) for t in row.transports if t in AuthenticatorTransport._value2member_map_
        ]
        out.append(PublicKeyCredentialDescriptor(id=row.credential_id, transports=transports or None))
    return out


def credentials_of(*, db: Database, user_id: uuid.UUID) -> list[WebAuthnCredential]:
    with db.session(tenant_id=None) as s:
        return list(
            s.scalars(
                select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id).order_by(WebAuthnCredential.id)
            )
        )


def registration_options(
    *, db: Database, settings: Settings, session_id: uuid.UUID, user_id: uuid.UUID, username: str
) -> dict[str, Any]:
    """Options for ``navigator.credentials.create()`` (JSON form); the challenge is kept for this session."""
    rp = RelyingParty.from_settings(settings)
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.rp_name,
        user_name=username,
        user_id=user_id.bytes,
        exclude_credentials=_descriptors(credentials_of(db=db, user_id=user_id)),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    _store_challenge(db, session_id=session_id, purpose=REGISTER, challenge=options.challenge)
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: list[str]


def check_registration(*, settings: Settings, challenge: bytes, credential: dict[str, Any]) -> NewCredential:
    rp = RelyingParty.from_settings(settings)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id, expected_origin=rp.origin
        )
    except _BAD_INPUT:
        raise WebAuthnRejected("registration response did not verify") from None
    raw_transports = (credential.get("response") or {}).get("transports") or []
    transports = [t for t in raw_transports if isinstance(t, str) and t in AuthenticatorTransport._value2member_map_]
    return NewCredential(verified.credential_id, verified.credential_public_key, verified.sign_count, transports[:8])


def authentication_options(
    *, db: Database, settings: Settings, session_id: uuid.UUID, user_id: uuid.UUID
) -> dict[str, Any]:
    """Options for ``navigator.credentials.get()`` listing the user's keys; None-free JSON form."""
    rp = RelyingParty.from_settings(settings)
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        allow_credentials=_descriptors(credentials_of(db=db, user_id=user_id)),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _store_challenge(db, session_id=session_id, purpose=AUTHENTICATE, challenge=options.challenge)
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def check_assertion(
    *, db: Database, settings: Settings, user_id: uuid.UUID, challenge: bytes, credential: dict[str, Any]
) -> uuid.UUID:
    """Verify an assertion by one of the user's credentials and advance its counter; return the credential's row
    id. Raises ``WebAuthnRejected`` on any failure, including a counter that did not increase."""
    rp = RelyingParty.from_settings(settings)
    try:
        parsed = parse_authentication_credential_json(credential)
    except _BAD_INPUT:
        raise WebAuthnRejected("assertion did not parse") from None
    with db.session(tenant_id=None) as s:
        row = s.scalars(
            select(WebAuthnCredential).where(
                WebAuthnCredential.credential_id == parsed.raw_id, WebAuthnCredential.user_id == user_id
            )
        ).first()
        if row is None:
            raise WebAuthnRejected("unknown credential")
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=rp.rp_id,
                expected_origin=rp.origin,
                credential_public_key=row.public_key,
                credential_current_sign_count=row.sign_count,
            )
        except _BAD_INPUT:
            raise WebAuthnRejected("assertion did not verify") from None
        # Conditional update: a concurrent use of the same counter value loses.
        moved = s.execute(
            update(WebAuthnCredential)
            .where(WebAuthnCredential.id == row.id, WebAuthnCredential.sign_count == row.sign_count)
            .values(sign_count=verified.new_sign_count, last_used_at=now_utc())
            .execution_options(synchronize_session=False)
        )
        if int(getattr(moved, "rowcount", 0) or 0) != 1:
            raise WebAuthnRejected("counter raced")
        return row.id
