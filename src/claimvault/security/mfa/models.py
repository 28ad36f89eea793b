"""Tables of the MFA wing: the platform data key for workforce secrets, TOTP secrets (encrypted), WebAuthn
credentials and their single-use challenges, and recovery codes (hashed).

None of these is tenant-scoped: workforce accounts belong to the installation, not to one organization.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, utcnow


class PlatformKey(IdMixin, Base):
    """An installation-wide data key for workforce secrets (not patient data), stored only wrapped by the KEK."""

    __tablename__ = "platform_keys"
    __table_args__ = (UniqueConstraint("purpose", "version", name="uq_platform_keys_purpose_version"),)

    purpose: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TotpSecret(IdMixin, Base):
    """A user's TOTP seed, AES-256-GCM encrypted under the platform key. ``confirmed_at`` None: enrolment not
    finished. ``last_used_step`` is the last accepted 30-second step: a step at or below it is a replay."""

    __tablename__ = "mfa_totp_secrets"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebAuthnCredential(IdMixin, Base):
    """A registered security key or passkey: its credential id, COSE public key and signature counter."""

    __tablename__ = "webauthn_credentials"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class WebAuthnChallenge(IdMixin, Base):
    """A server-side WebAuthn challenge for one login session: single use, short-lived."""

    __tablename__ = "webauthn_challenges"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # register | authenticate
    challenge: Mapped[bytes] = mapped_column(LargeBinary(64))
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(IdMixin, Base):
    """One single-use recovery code, stored as HMAC-SHA256 under a per-code random salt (codes carry 80 random
    bits, so a fast keyed hash suffices). ``used_at`` set: consumed."""

    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
