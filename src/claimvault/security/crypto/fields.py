"""Field encryption (AES-256-GCM) and blind indexes (HMAC-SHA256), bound to one organization.

Ciphertext layout: ``format version (1 byte) ‖ data key id (16 bytes) ‖ nonce (12 bytes) ‖ ciphertext+tag``.
The associated data binds organization, table, column and row id, so a ciphertext copied to another row,
column or tenant fails to decrypt. Only the PHI gate calls ``decrypt``; a test enforces that.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from claimvault.security.crypto.keys import KeyService

FORMAT_V1 = 1
_HEADER = 1 + 16 + 12
BLIND_INDEX_BYTES = 16


class DecryptionError(Exception):
    """A protected value failed authentication: wrong row, column, tenant or key, or tampering."""


def _aad(org_id: uuid.UUID, table: str, column: str, row_id: uuid.UUID) -> bytes:
    return b"claimvault/field/v1|" + org_id.bytes + b"|" + table.encode() + b"|" + column.encode() + b"|" + row_id.bytes


def normalize_for_index(text: str) -> str:
    """Canonical form for exact-match search: NFKC, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class OrgCrypto:
    """Encryption and blind indexes for one organization inside one database session."""

    def __init__(self, *, keys: KeyService, session: Session, org_id: uuid.UUID) -> None:
        self._keys = keys
        self._session = session
        self.org_id = org_id

    def encrypt(self, *, table: str, column: str, row_id: uuid.UUID, plaintext: bytes) -> bytes:
        key_id, key = self._keys.active_key(self._session, self.org_id, "field")
        nonce = secrets.token_bytes(12)
        body = AESGCM(key).encrypt(nonce, plaintext, _aad(self.org_id, table, column, row_id))
        return bytes([FORMAT_V1]) + key_id.bytes + nonce + body

    def decrypt(self, *, table: str, column: str, row_id: uuid.UUID, ciphertext: bytes) -> bytes:
        if len(ciphertext) < _HEADER + 16 or ciphertext[0] != FORMAT_V1:
            raise DecryptionError("unrecognised ciphertext format")
        key_id = uuid.UUID(bytes=ciphertext[1:17])
        try:
            key = self._keys.key_by_id(self._session, self.org_id, key_id)
            return AESGCM(key).decrypt(ciphertext[17:29], ciphertext[29:], _aad(self.org_id, table, column, row_id))
        except (InvalidTag, LookupError) as exc:
            raise DecryptionError("protected value failed authentication") from exc

    def blind_index(self, *, name: str, value: str) -> bytes:
        """Keyed, truncated HMAC of a normalized value; a separate key per index name and per organization."""
        _, root = self._keys.active_key(self._session, self.org_id, "index")
        field_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"claimvault/bidx/v1|" + name.encode()
        ).derive(root)
        return hmac.new(field_key, normalize_for_index(value).encode(), hashlib.sha256).digest()[:BLIND_INDEX_BYTES]
