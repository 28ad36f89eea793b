"""The blob cipher: chunked AES-256-GCM for files, under the organization's data key of purpose ``blob``.

Layout: ``header ‖ chunk₀ ‖ chunk₁ ‖ …``; header = ``format version (1) ‖ data key id (16) ‖ chunk size (4, big
endian)``; each chunk = ``nonce (12) ‖ AES-GCM(plaintext chunk) ‖ tag (16)``. Every chunk but the last holds
exactly ``chunk size`` plaintext bytes; the last holds the rest (possibly nothing, for an empty file).

Each blob is encrypted under its own key, derived (HKDF-SHA256) from the data key, the organization id and the
blob id, so random nonces never meet under the same key across blobs, and an object moved to another blob or org
fails. The associated data of every chunk binds the header, the chunk index and a final-chunk flag, so a
reordered, duplicated, dropped or truncated chunk fails authentication instead of yielding wrong data.

``BlobStore`` is the service: files go in and out only through an open PHI gate (tenant, permission, patient
scope, audit). It lives here because only the gate and this package may decrypt (a test enforces it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import struct
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from claimvault.config import Settings
from claimvault.errors import ClaimVaultError, NotFound, TenantViolation, ValidationFailed
from claimvault.ids import uuid7
from claimvault.security.audit import build_event, record
from claimvault.security.crypto.keys import KeyService
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow
from claimvault.storage.blobs.backends import BlobBackend, build_blob_backend
from claimvault.storage.blobs.models import BLOB_KINDS, Blob
from claimvault.storage.blobs.service import BlobRef, blob_ref, new_storage_key

if TYPE_CHECKING:  # the gate imports this package; at run time the gate object is simply passed in
    from claimvault.security.gate import PHIGate

BLOB_FORMAT_V1 = 1
BLOB_KEY_PURPOSE = "blob"
DEFAULT_CHUNK_SIZE = 1024 * 1024  # 1 MiB
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 64 * 1024 * 1024
HEADER_SIZE = 1 + 16 + 4
NONCE_SIZE = 12
TAG_SIZE = 16
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")


class BlobIntegrityError(ClaimVaultError):
    """A stored file failed authentication or its integrity check: tampered, truncated, moved or missing."""

    status_code = 500
    code = "blob_integrity_failed"


def _blob_key(data_key: bytes, org_id: uuid.UUID, blob_id: uuid.UUID) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"claimvault/blob/v1|" + org_id.bytes + b"|" + blob_id.bytes,
    ).derive(data_key)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return b"claimvault/blob-chunk/v1|" + header + struct.pack(">QB", index, 1 if final else 0)


class BlobCipher:
    """Encrypts and decrypts whole files for one organization inside one database session."""

    def __init__(self, *, keys: KeyService, session: Session, org_id: uuid.UUID) -> None:
        self._keys = keys
        self._session = session
        self.org_id = org_id

    def encrypt(self, *, blob_id: uuid.UUID, plaintext: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> bytes:
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError("chunk size out of range")
        key_id, data_key = self._keys.active_key(self._session, self.org_id, BLOB_KEY_PURPOSE)
        header = bytes([BLOB_FORMAT_V1]) + key_id.bytes + struct.pack(">I", chunk_size)
        aead = AESGCM(_blob_key(data_key, self.org_id, blob_id))
        parts = [header]
        count = max(1, -(-len(plaintext) // chunk_size))  # an empty file still has one (final) chunk
        for index in range(count):
            chunk = plaintext[index * chunk_size : (index + 1) * chunk_size]
            nonce = secrets.token_bytes(NONCE_SIZE)
            parts.append(nonce + aead.encrypt(nonce, chunk, _aad(header, index, index == count - 1)))
        return b"".join(parts)

    def decrypt(self, *, blob_id: uuid.UUID, ciphertext: bytes) -> bytes:
        if len(ciphertext) < HEADER_SIZE + NONCE_SIZE + TAG_SIZE or ciphertext[0] != BLOB_FORMAT_V1:
            raise BlobIntegrityError("The stored file is damaged or in an unknown format.")
        header = ciphertext[:HEADER_SIZE]
        key_id = uuid.UUID(bytes=header[1:17])
        (chunk_size,) = struct.unpack(">I", header[17:21])
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise BlobIntegrityError("The stored file is damaged or in an unknown format.")
        try:
            data_key = self._keys.key_by_id(self._session, self.org_id, key_id)
        except LookupError as exc:
            raise BlobIntegrityError("The stored file failed its integrity check.") from exc
        aead = AESGCM(_blob_key(data_key, self.org_id, blob_id))
        record = NONCE_SIZE + chunk_size + TAG_SIZE
        body = memoryview(ciphertext)[HEADER_SIZE:]
        # Every record is full-size except the last, which is shorter or full; a missing final record is caught by
        # the final flag in the associated data of what is then the last one.
        count = max(1, -(-len(body) // record))
        out: list[bytes] = []
        for index in range(count):
            part = body[index * record : (index + 1) * record]
            if len(part) < NONCE_SIZE + TAG_SIZE:
                raise BlobIntegrityError("The stored file failed its integrity check.")
            try:
                out.append(
                    aead.decrypt(
                        bytes(part[:NONCE_SIZE]), bytes(part[NONCE_SIZE:]), _aad(header, index, index == count - 1)
                    )
                )
            except InvalidTag as exc:
                raise BlobIntegrityError("The stored file failed its integrity check.") from exc
        return b"".join(out)


# The blob service: files in and out through the PHI gate ---------------------------------------------------------


def _check_content_type(content_type: str) -> None:
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise ValidationFailed("The content type is not valid.")


@dataclass
class BlobStore:
    """Encrypted files of every organization: the backend (ciphertext objects) and the key service.

    Every method takes an open ``PHIGate``: the gate checks the tenant and the permission (denials are audited),
    relationship-limited roles reach only the files of their patients, and every read, write and delete is
    audited (ids and kind only, never content). One instance per process (``Runtime.blobs``).
    """

    backend: BlobBackend
    keys: KeyService
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def store(
        self,
        *,
        gate: PHIGate,
        kind: str,
        content_type: str,
        data: bytes,
        patient_id: uuid.UUID | None = None,
        permission: Permission,
    ) -> BlobRef:
        """Encrypt ``data``, write the object, then its metadata row and audit event (in the gate's transaction)."""
        if kind not in BLOB_KINDS:
            raise ValidationFailed("Unknown file kind.")
        _check_content_type(content_type)
        gate.authorize(permission, entity_type=Blob.__tablename__)
        org_id = _org(gate)
        gate.check_create_in_scope(Blob, {"patient_id": patient_id}, permission)
        if patient_id is not None:
            _check_patient(gate, org_id, patient_id)
        blob_id = uuid7()
        ciphertext = BlobCipher(keys=self.keys, session=gate.session, org_id=org_id).encrypt(
            blob_id=blob_id, plaintext=data, chunk_size=self.chunk_size
        )
        storage_key = new_storage_key(org_id)
        self.backend.put(storage_key, ciphertext)  # object first: a failure from here on leaves only an orphan
        row = Blob(
            id=blob_id,
            organization_id=org_id,
            kind=kind,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(ciphertext).digest(),
            patient_id=patient_id,
            storage_key=storage_key,
            created_by=gate.ctx.actor_id,
        )
        gate.session.add(row)
        gate.session.flush()
        _audit(gate, "create", permission, row)
        return blob_ref(row)

    def read_file(self, *, gate: PHIGate, blob_id: uuid.UUID, permission: Permission) -> tuple[BlobRef, bytes]:
        """The file's metadata and decrypted content, after authorization and integrity checks; audited."""
        row = self._load(gate, blob_id, permission)
        ciphertext = self.backend.get(row.storage_key)
        if not hmac.compare_digest(hashlib.sha256(ciphertext).digest(), row.sha256):
            raise BlobIntegrityError("The stored file failed its integrity check.")
        plaintext = BlobCipher(keys=self.keys, session=gate.session, org_id=row.organization_id).decrypt(
            blob_id=row.id, ciphertext=ciphertext
        )
        if len(plaintext) != row.size:
            raise BlobIntegrityError("The stored file failed its integrity check.")
        _audit(gate, "read", permission, row)
        return blob_ref(row), plaintext

    def read(self, *, gate: PHIGate, blob_id: uuid.UUID, permission: Permission) -> bytes:
        return self.read_file(gate=gate, blob_id=blob_id, permission=permission)[1]

    def delete(self, *, gate: PHIGate, blob_id: uuid.UUID, permission: Permission) -> None:
        """Mark the row deleted (kept as a tombstone) and remove the object once the transaction commits; if the
        removal never happens (crash), ``sweep_orphans`` removes it later."""
        row = self._load(gate, blob_id, permission)
        row.deleted_at = utcnow()
        gate.session.flush()
        _audit(gate, "delete", permission, row)
        storage_key, backend = row.storage_key, self.backend

        def _remove_object(_session: Session) -> None:
            backend.delete(storage_key)

        event.listen(gate.session, "after_commit", _remove_object, once=True)

    def _load(self, gate: PHIGate, blob_id: uuid.UUID, permission: Permission) -> Blob:
        gate.authorize(permission, entity_type=Blob.__tablename__, entity_id=blob_id)
        row = gate.session.get(Blob, blob_id)  # tenant-scoped: another organization's file is simply not found
        if row is None or row.deleted_at is not None:
            raise NotFound("No such file.")
        gate.check_in_scope(Blob, blob_id, permission)
        return row


def _org(gate: PHIGate) -> uuid.UUID:
    org_id = gate.ctx.organization_id
    if org_id is None:
        raise TenantViolation("This operation needs an organization context.")
    return org_id


def _check_patient(gate: PHIGate, org_id: uuid.UUID, patient_id: uuid.UUID) -> None:
    """The patient must exist in this organization (a foreign key alone would accept another tenant's patient)."""
    patients = next(iter(Blob.__table__.c.patient_id.foreign_keys)).column.table
    stmt = (
        select(func.count())
        .select_from(patients)
        .where(patients.c.id == patient_id, patients.c.organization_id == org_id)
    )
    if not gate.session.scalar(stmt):
        raise NotFound("No such patient.")


def _audit(gate: PHIGate, action: str, permission: Permission, row: Blob) -> None:
    record(
        gate.session,
        build_event(
            gate.ctx,
            action=action,
            permission=permission.value,
            entity_type=Blob.__tablename__,
            entity_id=row.id,
            patient_ids=[row.patient_id] if row.patient_id is not None else [],
            detail={"kind": row.kind},
        ),
    )


def build_blob_store(settings: Settings, *, keys: KeyService) -> BlobStore:
    return BlobStore(backend=build_blob_backend(settings), keys=keys)


def store_blob(
    *,
    blobs: BlobStore,
    gate: PHIGate,
    kind: str,
    content_type: str,
    data: bytes,
    patient_id: uuid.UUID | None = None,
    permission: Permission,
) -> BlobRef:
    return blobs.store(
        gate=gate, kind=kind, content_type=content_type, data=data, patient_id=patient_id, permission=permission
    )


def read_blob(*, blobs: BlobStore, gate: PHIGate, blob_id: uuid.UUID, permission: Permission) -> bytes:
    return blobs.read(gate=gate, blob_id=blob_id, permission=permission)


def delete_blob(*, blobs: BlobStore, gate: PHIGate, blob_id: uuid.UUID, permission: Permission) -> None:
    blobs.delete(gate=gate, blob_id=blob_id, permission=permission)
