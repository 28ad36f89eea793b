"""Per-organization data keys: created at organization set-up, stored wrapped, cached unwrapped in memory."""

from __future__ import annotations

import secrets
import threading
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.ids import uuid7
from claimvault.security.crypto.provider import KeyProvider
from claimvault.security.models import DataKey

PURPOSES = ("field", "index")


def _wrap_context(org_id: uuid.UUID, purpose: str, key_id: uuid.UUID) -> bytes:
    return b"claimvault/dek/v1|" + org_id.bytes + b"|" + purpose.encode() + b"|" + key_id.bytes


class KeyService:
    """Finds, creates and unwraps data keys. One instance per process; the cache holds unwrapped keys."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self._cache: dict[tuple[uuid.UUID, uuid.UUID], bytes] = {}
        self._lock = threading.Lock()

    def provision(self, session: Session, org_id: uuid.UUID) -> None:
        """Create the organization's first data keys if it has none (idempotent)."""
        for purpose in PURPOSES:
            self._active(session, org_id, purpose, create=True)

    def active_key(self, session: Session, org_id: uuid.UUID, purpose: str) -> tuple[uuid.UUID, bytes]:
        row = self._active(session, org_id, purpose, create=True)
        return row.id, self._unwrap(row)

    def key_by_id(self, session: Session, org_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
        cached = self._cache.get((org_id, key_id))
        if cached is not None:
            return cached
        row = session.get(DataKey, key_id)
        if row is None or row.organization_id != org_id:
            raise LookupError("data key not found for this organization")
        return self._unwrap(row)

    def _active(self, session: Session, org_id: uuid.UUID, purpose: str, *, create: bool) -> DataKey:
        row = session.scalars(
            select(DataKey)
            .where(DataKey.organization_id == org_id, DataKey.purpose == purpose, DataKey.is_active.is_(True))
            .order_by(DataKey.version.desc())
            .limit(1)
        ).first()
        if row is None:
            if not create:
                raise LookupError("no active data key")
            key = secrets.token_bytes(32)
            # The id is bound into the wrapping context, so it is generated before the insert.
            row = DataKey(id=uuid7(), organization_id=org_id, purpose=purpose, version=1, kek_id="", wrapped_key=b"")
            row.kek_id, row.wrapped_key = self.provider.wrap(key, context=_wrap_context(org_id, purpose, row.id))
            session.add(row)
            session.flush()
            with self._lock:
                self._cache[(org_id, row.id)] = key
        return row

    def _unwrap(self, row: DataKey) -> bytes:
        cached = self._cache.get((row.organization_id, row.id))
        if cached is not None:
            return cached
        key = self.provider.unwrap(
            row.kek_id, row.wrapped_key, context=_wrap_context(row.organization_id, row.purpose, row.id)
        )
        with self._lock:
            self._cache[(row.organization_id, row.id)] = key
        return key
