"""Tables of the account-lifecycle wing: API tokens and access-review campaigns with their entries.

All three are tenant-scoped: a token acts for one organization, and a review covers one organization's members.
Rows hold ids, workforce names, codes and times; token secrets exist only as keyed hashes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class ApiToken(IdMixin, TenantScoped, Base):
    """An integration token of one organization, limited to permissions its creator held there."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)  # the creator it acts as
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessReviewCampaign(IdMixin, TenantScoped, Base):
    """A periodic review of who holds which role. Closed campaigns are kept as evidence, never deleted."""

    __tablename__ = "access_review_campaigns"

    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    started_by_name: Mapped[str | None] = mapped_column(String(120), default=None)  # system command + operator
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    closed_by_name: Mapped[str | None] = mapped_column(String(120), default=None)


class AccessReviewEntry(IdMixin, TenantScoped, Base):
    """One membership (user, role) as it stood when the campaign started, and the reviewer's decision."""

    __tablename__ = "access_review_entries"

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_review_campaigns.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str | None] = mapped_column(String(8), default=None)  # keep | revoke
    defaulted: Mapped[bool] = mapped_column(default=False)  # undecided at close: kept by default, flagged
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_by_name: Mapped[str | None] = mapped_column(String(120), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    applied_at: Mapped[datetime | None] = mapped_column(default=None)
