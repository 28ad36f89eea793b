"""The installation's data key for workforce secrets: created on first use, stored only wrapped by the key
provider's KEK (``platform_keys``), cached unwrapped in memory. Encryption itself is ``security.crypto.platform``.
"""

from __future__ import annotations

import secrets
import threading
import uuid
import weakref

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from claimvault.ids import uuid7
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.platform import (
    decrypt_platform_secret,
    encrypt_platform_secret,
    platform_wrap_context,
)
from claimvault.security.mfa.models import PlatformKey

WORKFORCE_PURPOSE = "workforce_secret"

_caches: weakref.WeakKeyDictionary[KeyService, dict[uuid.UUID, bytes]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _cache(keys: KeyService) -> dict[uuid.UUID, bytes]:
    with _lock:
        return _caches.setdefault(keys, {})


def _unwrap(keys: KeyService, row: PlatformKey) -> bytes:
    cache = _cache(keys)
    found = cache.get(row.id)
    if found is None:
        found = keys.provider.unwrap(row.kek_id, row.wrapped_key, context=platform_wrap_context(row.purpose, row.id))
        cache[row.id] = found
    return found


def _active_row(session: Session) -> PlatformKey | None:
    return session.scalars(
        select(PlatformKey)
        .where(PlatformKey.purpose == WORKFORCE_PURPOSE, PlatformKey.is_active.is_(True))
        .order_by(PlatformKey.version.desc())
        .limit(1)
    ).first()


def active_platform_key(session: Session, keys: KeyService) -> tuple[uuid.UUID, bytes]:
    """The active workforce-secret key, created (version 1) if the installation has none yet."""
    row = _active_row(session)
    if row is None:
        key = secrets.token_bytes(32)
        row = PlatformKey(id=uuid7(), purpose=WORKFORCE_PURPOSE, version=1, kek_id="", wrapped_key=b"")
        row.kek_id, row.wrapped_key = keys.provider.wrap(key, context=platform_wrap_context(row.purpose, row.id))
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another process created it first
            row = _active_row(session)
            if row is None:
                raise
        else:
            _cache(keys)[row.id] = key
    return row.id, _unwrap(keys, row)


def seal(session: Session, keys: KeyService, *, table: str, column: str, row_id: uuid.UUID, plaintext: bytes) -> bytes:
    key_id, key = active_platform_key(session, keys)
    return encrypt_platform_secret(
        key=key, key_id=key_id, table=table, column=column, row_id=row_id, plaintext=plaintext
    )


def unseal(
    session: Session, keys: KeyService, *, table: str, column: str, row_id: uuid.UUID, ciphertext: bytes
) -> bytes:
    def key_for(key_id: uuid.UUID) -> bytes:
        row = session.get(PlatformKey, key_id)
        if row is None or row.purpose != WORKFORCE_PURPOSE:
            raise LookupError("platform key not found")
        return _unwrap(keys, row)

    return decrypt_platform_secret(key_for=key_for, table=table, column=column, row_id=row_id, ciphertext=ciphertext)
