"""Field encryption (AES-256-GCM) and blind indexes (HMAC-SHA256), bound to one organization.

Ciphertext layout: ``format version (1 byte) ‖ data key id (16 bytes) ‖ nonce (12 bytes) ‖ ciphertext+tag``.
Format 1 encrypts under the organization's field data key. Format 2 (values of a patient-linked row) encrypts
under a cell key derived (HKDF-SHA256) from that organization key AND the patient's own data key: destroying
the patient key (crypto-shredding) makes every such value unrecoverable, while the header still names the
organization key (so key rotation and re-encryption work the same for both formats).
The associated data binds organization, table, column and row id (and patient id for format 2), so a ciphertext
copied to another row, column, tenant or patient fails to decrypt. Only the PHI gate calls ``decrypt``; a test
enforces that.
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

from claimvault.errors import ClaimVaultError
from claimvault.security.crypto.keys import KeyDestroyed, KeyService
from claimvault.security.crypto.provider import KeyUnwrapError

FORMAT_V1 = 1
FORMAT_PATIENT = 2
_HEADER = 1 + 16 + 12
BLIND_INDEX_BYTES = 16


class DecryptionError(ClaimVaultError):
    """A protected value failed authentication: wrong row, column, tenant or key, or tampering. The message
    carries no data; the API answers 500 ``protected_value_unreadable`` and returns nothing of the row."""

    status_code = 500
    code = "protected_value_unreadable"

    def __init__(self, message: str = "A protected value could not be read: it failed its integrity check.") -> None:
        super().__init__(message)


class DataKeyUnavailable(DecryptionError):
    """The data key a value names is missing or cannot be unwrapped with the configured key provider."""

    code = "data_key_unavailable"


def _aad(org_id: uuid.UUID, table: str, column: str, row_id: uuid.UUID) -> bytes:
    return b"claimvault/field/v1|" + org_id.bytes + b"|" + table.encode() + b"|" + column.encode() + b"|" + row_id.bytes


def _patient_aad(org_id: uuid.UUID, table: str, column: str, row_id: uuid.UUID, patient_id: uuid.UUID) -> bytes:
    return b"claimvault/field/v2|" + patient_id.bytes + b"|" + _aad(org_id, table, column, row_id)


def _cell_key(org_key: bytes, patient_key: bytes, org_id: uuid.UUID, patient_id: uuid.UUID) -> bytes:
    info = b"claimvault/patient-field/v1|" + org_id.bytes + patient_id.bytes
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=patient_key, info=info).derive(org_key)


def header_key_id(ciphertext: bytes) -> tuple[int, uuid.UUID] | None:
    """(format, data key id) from a ciphertext's header, without decrypting; None if it has no header."""
    if len(ciphertext) < _HEADER + 16:
        return None
    return ciphertext[0], uuid.UUID(bytes=bytes(ciphertext[1:17]))


def normalize_for_index(text: str) -> str:
    """Canonical form for exact-match search: NFKC, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class OrgCrypto:
    """Encryption and blind indexes for one organization inside one database session."""

    def __init__(self, *, keys: KeyService, session: Session, org_id: uuid.UUID) -> None:
        self._keys = keys
        self._session = session
        self.org_id = org_id
        # Per transaction: a patient's key (or its shredded state) is read once, not once per field.
        self._patient_memo: dict[uuid.UUID, bytes] = {}
        self._shredded: set[uuid.UUID] = set()

    def preload_patients(self, patient_ids: set[uuid.UUID]) -> None:
        """Fetch the keys of the patients a bulk read is about to decrypt, in one query."""
        missing = {p for p in patient_ids if p not in self._patient_memo and p not in self._shredded}
        live, destroyed = self._keys.patient_keys(self._session, self.org_id, missing)
        self._patient_memo.update(live)
        self._shredded |= destroyed

    def _patient_key(self, patient_id: uuid.UUID, *, create: bool) -> bytes:
        if patient_id in self._shredded:
            raise KeyDestroyed("This patient's data was crypto-shredded.")
        key = self._patient_memo.get(patient_id)
        if key is None:
            try:
                key = self._keys.patient_key(self._session, self.org_id, patient_id, create=create)
            except KeyDestroyed:
                self._shredded.add(patient_id)
                raise
            self._patient_memo[patient_id] = key
        return key

    def active_field_key_id(self) -> uuid.UUID:
        return self._keys.active_key(self._session, self.org_id, "field")[0]

    def encrypt(
        self, *, table: str, column: str, row_id: uuid.UUID, plaintext: bytes, patient_id: uuid.UUID | None = None
    ) -> bytes:
        """Encrypt under the active organization key; with ``patient_id``, also under the patient's key (created
        on first use; ``KeyDestroyed`` if the patient was shredded)."""
        key_id, key = self._keys.active_key(self._session, self.org_id, "field")
        nonce = secrets.token_bytes(12)
        if patient_id is None:
            body = AESGCM(key).encrypt(nonce, plaintext, _aad(self.org_id, table, column, row_id))
            return bytes([FORMAT_V1]) + key_id.bytes + nonce + body
        patient_key = self._patient_key(patient_id, create=True)
        cell = _cell_key(key, patient_key, self.org_id, patient_id)
        body = AESGCM(cell).encrypt(nonce, plaintext, _patient_aad(self.org_id, table, column, row_id, patient_id))
        return bytes([FORMAT_PATIENT]) + key_id.bytes + nonce + body

    def decrypt(
        self,
        *,
        table: str,
        column: str,
        row_id: uuid.UUID,
        ciphertext: bytes,
        patient_id: uuid.UUID | None = None,
    ) -> bytes:
        """Raises ``DecryptionError`` (or ``DataKeyUnavailable``) on any failure, ``KeyDestroyed`` when the value
        belonged to a crypto-shredded patient."""
        header = header_key_id(ciphertext)
        if header is None or header[0] not in (FORMAT_V1, FORMAT_PATIENT):
            raise DecryptionError("A protected value could not be read: its format is not recognised.")
        version, key_id = header
        if version == FORMAT_PATIENT and patient_id is None:
            raise DecryptionError("A protected value could not be read: it is bound to a patient.")
        try:
            key = self._keys.key_by_id(self._session, self.org_id, key_id)
        except (LookupError, KeyUnwrapError):
            raise DataKeyUnavailable("A protected value could not be read: its data key is unavailable.") from None
        nonce, body = ciphertext[17:29], ciphertext[29:]
        try:
            if version == FORMAT_V1:
                return AESGCM(key).decrypt(nonce, body, _aad(self.org_id, table, column, row_id))
            assert patient_id is not None
            try:
                patient_key = self._patient_key(patient_id, create=False)
            except KeyDestroyed:
                raise
            except (LookupError, KeyUnwrapError):
                raise DataKeyUnavailable(
                    "A protected value could not be read: its patient data key is unavailable."
                ) from None
            cell = _cell_key(key, patient_key, self.org_id, patient_id)
            return AESGCM(cell).decrypt(nonce, body, _patient_aad(self.org_id, table, column, row_id, patient_id))
        except InvalidTag:
            raise DecryptionError() from None

    def blind_index(self, *, name: str, value: str) -> bytes:
        """Keyed, truncated HMAC of a normalized value; a separate key per index name and per organization."""
        _, root = self._keys.active_key(self._session, self.org_id, "index")
        field_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"claimvault/bidx/v1|" + name.encode()
        ).derive(root)
        return hmac.new(field_key, normalize_for_index(value).encode(), hashlib.sha256).digest()[:BLIND_INDEX_BYTES]
