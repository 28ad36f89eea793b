"""Server-side login sessions: created after the password, completed by the second factor, revocable.

A session is *pending* until a second factor is verified (``mfa_verified_at``); pending sessions reach only
MFA enrolment and challenge routes. The session id (cookie token) rotates at login and whenever privileges
change (MFA completed). Only a keyed hash of the token is stored. CSRF tokens are derived from the session
token, so they rotate with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from claimvault.accounts.models import AuthSession, User
from claimvault.config import Settings
from claimvault.storage.database import Database

REAUTH_WINDOW = timedelta(minutes=5)


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def token_hash(settings: Settings, token: str) -> bytes:
    return hmac.new(settings.secret_key.get_secret_value().encode(), token.encode(), hashlib.sha256).digest()


def csrf_token(settings: Settings, token: str) -> str:
    """The CSRF token that goes with a session token (sent back in ``X-CSRF-Token`` or a form field)."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"csrf|" + token.encode(), hashlib.sha256).hexdigest()


def csrf_matches(settings: Settings, token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(settings, token), presented or "")


def start_session(
    *,
    db: Database,
    settings: Settings,
    user_id: uuid.UUID,
    source_address: str | None,
    user_agent: str | None = None,
    mfa_verified: bool = False,
) -> tuple[str, AuthSession]:
    """Create a session (pending MFA unless ``mfa_verified``); return the cookie token (shown once) and the row."""
    token = secrets.token_urlsafe(32)
    now = now_utc()
    row = AuthSession(
        token_hash=token_hash(settings, token),
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_absolute_timeout_seconds),
        source_address=source_address,
        user_agent=(user_agent or "")[:200] or None,
        mfa_verified_at=now if mfa_verified else None,
        reauthenticated_at=now if mfa_verified else None,
    )
    with db.session(tenant_id=None) as session:
        session.add(row)
    return token, row


def resolve_session(*, db: Database, settings: Settings, token: str) -> tuple[AuthSession, User] | None:
    """The live session and user behind ``token``, enforcing revocation, account state and both timeouts."""
    now = now_utc()
    with db.session(tenant_id=None) as session:
        row = session.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(settings, token)))
        if row is None or row.revoked_at is not None:
            return None
        idle_limit = aware(row.last_seen_at) + timedelta(seconds=settings.session_idle_timeout_seconds)
        if now >= aware(row.expires_at) or now >= idle_limit:
            row.revoked_at = now
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.can_log_in:
            row.revoked_at = now
            return None
        if (now - aware(row.last_seen_at)).total_seconds() >= 30:
            row.last_seen_at = now
        return row, user


def complete_mfa(*, db: Database, settings: Settings, session_id: uuid.UUID) -> str:
    """Mark the session's second factor verified and rotate its id; return the new cookie token."""
    token = secrets.token_urlsafe(32)
    now = now_utc()
    with db.session(tenant_id=None) as session:
        row = session.get(AuthSession, session_id)
        if row is None or row.revoked_at is not None:
            raise LookupError("session ended")
        row.token_hash = token_hash(settings, token)
        row.mfa_verified_at = now
        row.reauthenticated_at = now
        row.last_seen_at = now
    return token


def mark_reauthenticated(*, db: Database, session_id: uuid.UUID) -> None:
    with db.session(tenant_id=None) as session:
        row = session.get(AuthSession, session_id)
        if row is not None:
            row.reauthenticated_at = now_utc()


def recently_reauthenticated(row: AuthSession) -> bool:
    return row.reauthenticated_at is not None and now_utc() - aware(row.reauthenticated_at) <= REAUTH_WINDOW


def revoke_session(*, db: Database, settings: Settings, token: str) -> None:
    with db.session(tenant_id=None) as session:
        row = session.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(settings, token)))
        if row is not None and row.revoked_at is None:
            row.revoked_at = now_utc()


def revoke_all_for_user(*, db: Database, user_id: uuid.UUID) -> int:
    """End every live session of a user (termination, MFA reset, password change). Returns how many."""
    with db.session(tenant_id=None) as session:
        result = session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now_utc())
        )
        return int(getattr(result, "rowcount", 0) or 0)
