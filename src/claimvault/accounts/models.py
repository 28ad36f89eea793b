"""Tables for organizations, users, memberships and server-side login sessions.

These are not tenant-scoped: a user may belong to several organizations, and membership is what decides which
tenant a request may act for. Users here are workforce accounts; patients live in ``billing.patients``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TimestampMixin, utcnow


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="practice")  # practice | billing_company
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    terminated_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)  # dormant, or awaiting re-activation
    disabled_reason: Mapped[str | None] = mapped_column(String(32), default=None)  # a code: dormant, terminated...
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def can_log_in(self) -> bool:
        return self.is_active and self.terminated_at is None and self.disabled_at is None


class Membership(IdMixin, TimestampMixin, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id", "role", name="uq_memberships_user_org_role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))


class AuthSession(IdMixin, Base):
    """A server-side, revocable login session. Only a keyed hash of the cookie token is stored."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    source_address: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    mfa_verified_at: Mapped[datetime | None] = mapped_column(default=None)  # None: second factor still pending
    reauthenticated_at: Mapped[datetime | None] = mapped_column(default=None)  # last password + MFA re-check


class SecurityEvent(IdMixin, Base):
    """A security event of one user (login, MFA change, password change, token...), shown to that user and to
    administrators, and mirrored in the audit trail. Holds codes, never secrets or protected values."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_user_time", "user_id", "created_at"),)

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    kind: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    source_address: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
