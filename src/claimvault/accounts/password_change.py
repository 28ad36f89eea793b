"""Password change by the user (current password, policy, no reuse, other sessions ended) and forced change by an
administrator on evidence of compromise (every session ended, a new password required at the next login).

Both write a security event; neither ever puts a password, or any part of one, in a message, event or log.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from claimvault.accounts.login import TooManyAttempts
from claimvault.accounts.models import AuthSession, Membership, Organization, User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.sessions import now_utc
from claimvault.errors import AuthenticationRequired, NotFound, ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext
from claimvault.security.hash_guard import HashGuard, TooBusy
from claimvault.security.password_policy import (
    PasswordPolicyViolation,
    check_password,
    normalize_password,
)
from claimvault.security.passwords import PasswordHashing
from claimvault.security.throttle import AttemptLimiter, Throttled, password_keys
from claimvault.storage.database import Database

WRONG_CURRENT = "The current password is not correct."


def context_words_for(*, db: Database, user_id: uuid.UUID, username: str) -> list[str]:
    """The words a password of the user must not contain: the username and the user's organizations' names
    and slugs (the policy adds the service's name)."""
    with db.session(tenant_id=None) as session:
        rows = session.execute(
            select(Organization.name, Organization.slug)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == user_id)
            .distinct()
        ).all()
    return [username, *(value for row in rows for value in row)]


def _verify(passwords: PasswordHashing, stored: str, password: str) -> tuple[bool, bool]:
    """Verify the normalized form (what is hashed now), then the form as typed (hashes made before)."""
    ok, rehash = passwords.verify(stored, normalize_password(password))
    if not ok and normalize_password(password) != password:
        ok, rehash = passwords.verify(stored, password)
    return ok, rehash


def change_password(
    *,
    db: Database,
    passwords: PasswordHashing,
    user_id: uuid.UUID,
    current_password: str,
    new_password: str,
    source_address: str | None,
    keep_session_id: uuid.UUID | None,
    limiter: AttemptLimiter | None = None,
    hash_guard: HashGuard | None = None,
) -> int:
    """Change the user's password; return how many other sessions were ended.

    Order: throttle with ``limiter`` (the API passes the runtime's; failures count with login failures, per
    account and address), verify the current password, apply the policy (``PasswordPolicyViolation`` carries the
    problems), refuse the current password as the new one, hash the normalized password with Argon2id, clear
    ``must_change_password``, end every session except ``keep_session_id``, write ``password.changed``.
    """
    guard = hash_guard or HashGuard(1)
    with db.session(tenant_id=None) as session:
        user = session.get(User, user_id)
        if user is None or not user.can_log_in:
            raise AuthenticationRequired("Your session has ended; log in again.")
        username, stored = user.username, user.password_hash
    keys = password_keys(username, source_address)
    try:
        if limiter is not None:
            limiter.check(keys)
        with guard.slot():
            current_ok, _ = _verify(passwords, stored, current_password)
    except Throttled as exc:
        raise TooManyAttempts(exc.retry_after) from None
    except TooBusy:
        raise TooManyAttempts(1) from None
    if not current_ok:
        with db.session(tenant_id=None) as session:
            add_security_event(
                session,
                user_id=user_id,
                kind="password.changed",
                outcome="failure",
                source_address=source_address,
                reason="invalid_current_password",
            )
        if limiter is not None:
            limiter.failed(keys)
        raise ValidationFailed(WRONG_CURRENT, code="invalid_current_password")
    if limiter is not None:
        limiter.succeeded([keys[0]])

    result = check_password(new_password, context_words=context_words_for(db=db, user_id=user_id, username=username))
    if not result.ok:
        raise PasswordPolicyViolation(result)
    new_normalized = normalize_password(new_password)
    try:
        with guard.slot():
            reused, _ = passwords.verify(stored, new_normalized)
            new_hash = None if reused else passwords.hash(new_normalized)
    except TooBusy:
        raise TooManyAttempts(1) from None
    if reused or new_hash is None:
        raise ValidationFailed("Choose a password different from the current one.", code="password_reused")

    now = now_utc()
    with db.session(tenant_id=None) as session:
        user = session.get(User, user_id)
        if user is None or user.password_hash != stored:
            raise ValidationFailed("The password was changed meanwhile; try again.", code="password_changed_meanwhile")
        user.password_hash = new_hash
        user.password_changed_at = now
        user.must_change_password = False
        conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
        if keep_session_id is not None:
            conditions.append(AuthSession.id != keep_session_id)
        ended = session.execute(update(AuthSession).where(*conditions).values(revoked_at=now))
        revoked = int(getattr(ended, "rowcount", 0) or 0)
        add_security_event(
            session,
            user_id=user_id,
            kind="password.changed",
            source_address=source_address,
            detail={"sessions_ended": revoked},
        )
    return revoked


def force_password_change(
    *,
    db: Database,
    user_id: uuid.UUID,
    actor_user_id: uuid.UUID,
    ctx: AccessContext | None = None,
    source_address: str | None = None,
) -> int:
    """On evidence of compromise: require a new password at the next login and end every session of the user
    now; return how many ended. With ``ctx`` (an administrator acting for an organization) the user must be a
    member of that organization (else ``NotFound``), and the administrator's action is audited under it."""
    organization_id = ctx.organization_id if ctx is not None else None
    now = now_utc()
    with db.session(tenant_id=organization_id) as session:
        user = session.get(User, user_id)
        member = organization_id is None or (
            session.scalar(
                select(Membership.id)
                .where(Membership.user_id == user_id, Membership.organization_id == organization_id)
                .limit(1)
            )
            is not None
        )
        if user is None or not member:
            raise NotFound("No such user.")
        user.must_change_password = True
        ended = session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        revoked = int(getattr(ended, "rowcount", 0) or 0)
        add_security_event(
            session,
            user_id=user_id,
            kind="password.change_forced",
            organization_id=organization_id,
            source_address=source_address if ctx is None else ctx.source_address,
            detail={"actor_user_id": str(actor_user_id), "sessions_ended": revoked},
        )
        record(
            session,
            build_event(
                ctx,
                action="user.password_change_forced",
                permission="user:manage" if ctx is not None else None,
                entity_type="users",
                entity_id=user_id,
                actor_id=actor_user_id,
                source_address=source_address,
                detail={"sessions_ended": revoked},
            ),
        )
    return revoked
