"""Platform secrets: AES-256-GCM for installation-wide workforce secrets (TOTP seeds), not patient data.

Patient data is encrypted per organization and decrypted only by the PHI gate. Workforce accounts belong to no
organization, so their few secrets use one installation data key instead (kept wrapped by the key provider;
``security.mfa.secrets`` stores and loads it). This module is pure: it takes key bytes, never a database.

Ciphertext layout: ``format version (1) ‖ platform key id (16) ‖ nonce (12) ‖ ciphertext+tag``; the associated
data binds table, column and row id, so a value copied to another row or column does not decrypt.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PLATFORM_FORMAT_V1 = 1
_HEADER = 1 + 16 + 12
_TAG = 16


class PlatformSecretError(Exception):
    """A platform secret failed authentication: wrong row, column or key, or tampering."""


def platform_wrap_context(purpose: str, key_id: uuid.UUID) -> bytes:
    """Associated data for wrapping a platform data key with the key provider's KEK."""
    return b"claimvault/platform-key/v1|" + purpose.encode() + b"|" + key_id.bytes


def _aad(table: str, column: str, row_id: uuid.UUID) -> bytes:
    return b"claimvault/platform/v1|" + table.encode() + b"|" + column.encode() + b"|" + row_id.bytes


def key_id_of(ciphertext: bytes) -> uuid.UUID:
    """The platform key a ciphertext was made with (raises on an unrecognised format)."""
    if len(ciphertext) < _HEADER + _TAG or ciphertext[0] != PLATFORM_FORMAT_V1:
        raise PlatformSecretError("unrecognised ciphertext format")
    return uuid.UUID(bytes=ciphertext[1:17])


def encrypt_platform_secret(
    *, key: bytes, key_id: uuid.UUID, table: str, column: str, row_id: uuid.UUID, plaintext: bytes
) -> bytes:
    nonce = secrets.token_bytes(12)
    body = AESGCM(key).encrypt(nonce, plaintext, _aad(table, column, row_id))
    return bytes([PLATFORM_FORMAT_V1]) + key_id.bytes + nonce + body


def decrypt_platform_secret(
    *, key_for: Callable[[uuid.UUID], bytes], table: str, column: str, row_id: uuid.UUID, ciphertext: bytes
) -> bytes:
    """Decrypt with the key ``key_for`` returns for the ciphertext's key id (it raises ``LookupError`` if none)."""
    key_id = key_id_of(ciphertext)
    try:
        key = key_for(key_id)
        return AESGCM(key).decrypt(ciphertext[17:29], ciphertext[29:], _aad(table, column, row_id))
    except (InvalidTag, LookupError) as exc:
        raise PlatformSecretError("platform secret failed authentication") from exc
