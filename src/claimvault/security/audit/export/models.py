"""The audit export cursor: how far one named export (to one SIEM, one directory, one FHIR server) has got.

A cursor is platform-level, not a tenant row: it holds no event data, only a position in the global log, and the
``audit export`` command that moves it runs as a system command. ``organization_id`` set means the cursor exports
that organization's events only (its position still counts in the global log; other organizations' positions are
simply passed over). ``format`` is fixed when the cursor is created, so a cursor never mixes destinations' styles.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, utcnow


class AuditExportCursor(Base):
    __tablename__ = "audit_export_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    format: Mapped[str] = mapped_column(String(16))  # fhir | jsonl | syslog
    next_position: Mapped[int] = mapped_column(BigInteger, default=0)  # every event before it was sent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
