"""Password login: throttled before any hash is computed, the same work for unknown and known users, bounded
Argon2 concurrency, and a security event for every outcome. The second factor follows (``security.mfa``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from claimvault.accounts.models import User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.services import normalize_username
from claimvault.accounts.sessions import now_utc
from claimvault.errors import AuthenticationRequired, ClaimVaultError
from claimvault.security.hash_guard import HashGuard, TooBusy
from claimvault.security.password_policy import normalize_password
from claimvault.security.passwords import PasswordHashing
from claimvault.security.throttle import AttemptLimiter, Throttled, password_keys
from claimvault.storage.database import Database


class TooManyAttempts(ClaimVaultError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many attempts. Wait a moment and try again.")
        self.retry_after = retry_after


INVALID = "Invalid username or password."


@dataclass(frozen=True)
class PasswordOk:
    user_id: uuid.UUID
    username: str
    must_change_password: bool


def check_password(
    *,
    db: Database,
    passwords: PasswordHashing,
    limiter: AttemptLimiter,
    hash_guard: HashGuard,
    username: str,
    password: str,
    source_address: str | None,
) -> PasswordOk:
    """Verify a username and password or raise. Unknown users run exactly the same code path and hash work."""
    name = normalize_username(username)[:64]
    keys = password_keys(name, source_address)
    try:
        limiter.check(keys)
    except Throttled as exc:
        raise TooManyAttempts(exc.retry_after) from None
    # Read, then hash with no transaction open: on SQLite a transaction holds the database write lock, and
    # holding it across Argon2 would queue every other request (and the hash guard would never refuse).
    with db.session(tenant_id=None) as session:
        user = session.scalar(select(User).where(User.username == name))
        user_id = user.id if user is not None else None
        stored = user.password_hash if user is not None and user.can_log_in else None
    normalized = normalize_password(password)
    try:
        with hash_guard.slot():
            ok, needs_rehash = passwords.verify(stored, normalized)
            if not ok and normalized != password:
                # Hashes made before passwords were NFC-normalized; the next login re-hashes them.
                ok, _ = passwords.verify(stored, password)
                needs_rehash = needs_rehash or ok
    except TooBusy:
        raise TooManyAttempts(1) from None
    new_hash = passwords.hash(normalized) if ok and needs_rehash else None
    with db.session(tenant_id=None) as session:
        user = session.get(User, user_id) if user_id is not None else None
        if ok and user is not None and user.can_log_in and user.password_hash == stored:
            if new_hash is not None:
                user.password_hash = new_hash
            user.last_login_at = now_utc()
            add_security_event(
                session, user_id=user.id, kind="login", source_address=source_address, detail={"step": "password"}
            )
            result = PasswordOk(user.id, user.username, user.must_change_password)
        else:
            add_security_event(
                session,
                user_id=user_id,
                kind="login",
                outcome="failure",
                source_address=source_address,
                detail={"step": "password"},
                reason="invalid_credentials",
                anonymous_actor=True,
            )
            result = None
    if result is None:
        if limiter.failed(keys):
            with db.session(tenant_id=None) as session:
                add_security_event(
                    session,
                    user_id=user_id,
                    kind="login.locked",
                    outcome="denied",
                    source_address=source_address,
                    detail={"factor": "password"},
                    anonymous_actor=True,
                )
        raise AuthenticationRequired(INVALID, code="invalid_credentials")
    limiter.succeeded([keys[0]])
    return result
