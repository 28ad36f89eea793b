"""Tables owned by the security core: wrapped data keys. (Audit tables live in ``security.audit.models``.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, utcnow


class DataKey(IdMixin, TenantScoped, Base):
    """A per-organization data key, stored only wrapped by the key provider's KEK.

    ``purpose`` is ``field`` (AES-256-GCM field encryption) or ``index`` (HMAC key material for blind indexes).
    """

    __tablename__ = "data_keys"
    __table_args__ = (
        UniqueConstraint("organization_id", "purpose", "version", name="uq_data_keys_org_purpose_version"),
    )

    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The audit tables moved to their own module; imported here so existing imports keep working.
from claimvault.security.audit.models import AuditEvent, PendingAuditEvent  # noqa: E402

__all__ = ["AuditEvent", "DataKey", "PendingAuditEvent"]
