"""Per-user security events (login, MFA, password, recovery code, token), mirrored into the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.accounts.models import SecurityEvent
from claimvault.security.audit import build_event, record
from claimvault.storage.database import Database

KINDS = frozenset(
    {
        "login",
        "login.locked",
        "logout",
        "mfa.enrolled",
        "mfa.removed",
        "mfa.verified",
        "mfa.failed",
        "mfa.reset",
        "password.changed",
        "password.change_forced",
        "recovery_code.used",
        "recovery_codes.generated",
        "token.created",
        "token.revoked",
        "user.terminated",
        "user.disabled",
        "user.reactivated",
        "reauthenticated",
    }
)


def add_security_event(
    session: Session,
    *,
    user_id: uuid.UUID | None,
    kind: str,
    outcome: str = "success",
    source_address: str | None = None,
    organization_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    anonymous_actor: bool = False,
    reason: str | None = None,
) -> None:
    """Write the event and its audit mirror in the caller's transaction. ``detail`` holds codes and ids only.

    ``anonymous_actor``: the attempt was not made *as* the user (a failed login): the audit mirror names no
    actor and no user, so failures against existing and unknown accounts are recorded identically.
    """
    if kind not in KINDS:
        raise ValueError("unknown security event kind")
    session.add(
        SecurityEvent(
            user_id=user_id,
            organization_id=organization_id,
            kind=kind,
            outcome=outcome,
            source_address=source_address,
            detail={**(detail or {}), **({"reason": reason} if reason else {})},
        )
    )
    record(
        session,
        build_event(
            None,
            action=kind,
            outcome=outcome,
            actor_id=None if anonymous_actor else user_id,
            source_address=source_address,
            organization_id=organization_id,
            entity_type=None if anonymous_actor else "users",
            entity_id=None if anonymous_actor else user_id,
            reason=reason,
            detail=detail,
        ),
    )


def security_events_of(*, db: Database, user_id: uuid.UUID, limit: int = 100) -> list[SecurityEvent]:
    with db.session(tenant_id=None) as session:
        return list(
            session.scalars(
                select(SecurityEvent)
                .where(SecurityEvent.user_id == user_id)
                .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc())
                .limit(limit)
            )
        )
