"""Recovery codes: ten single-use codes of 16 base32 characters (80 random bits each), shown once.

Stored as HMAC-SHA256 under a random 16-byte salt per code, over the user id and the normalized code. Argon2 is
for guessable secrets; a code of 80 random bits cannot be brute-forced from its hash, so a fast keyed hash is
enough and keeps checking ten codes cheap. Attempts are throttled like every other second factor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from claimvault.accounts.sessions import now_utc
from claimvault.security.mfa.models import RecoveryCode

CODE_COUNT = 10
_CODE_CHARS = 16
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits -> 16 characters, no padding
    return "-".join(raw[i : i + 4] for i in range(0, _CODE_CHARS, 4))


def normalize(code: str) -> str | None:
    """Upper-cased, without spaces and dashes; None if it cannot be a recovery code."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -\t")
    if len(cleaned) != _CODE_CHARS or not set(cleaned) <= _ALPHABET:
        return None
    return cleaned


def _hash(salt: bytes, user_id: uuid.UUID, normalized: str) -> bytes:
    return hmac.new(
        salt, b"claimvault/recovery/v1|" + user_id.bytes + b"|" + normalized.encode(), hashlib.sha256
    ).digest()


def replace_codes(session: Session, *, user_id: uuid.UUID) -> list[str]:
    """Invalidate every existing code of the user and return ten new ones (the only time they are shown)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(CODE_COUNT)]
    for code in codes:
        salt = secrets.token_bytes(16)
        normalized = normalize(code)
        assert normalized is not None
        session.add(RecoveryCode(user_id=user_id, salt=salt, code_hash=_hash(salt, user_id, normalized)))
    session.flush()
    return codes


def consume(session: Session, *, user_id: uuid.UUID, code: str) -> bool:
    """Use up the matching unused code. False when none matches (or it was used already, or concurrently)."""
    normalized = normalize(code)
    rows = list(
        session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)))
    )
    match = None
    for row in rows:  # compare against every code, so timing does not tell which one matched
        if normalized is not None and hmac.compare_digest(row.code_hash, _hash(row.salt, user_id, normalized)):
            match = row
    if match is None:
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=now_utc())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def remaining(session: Session, *, user_id: uuid.UUID) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


def remove_all(session: Session, *, user_id: uuid.UUID) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
