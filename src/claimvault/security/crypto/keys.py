"""Data keys: per-organization keys (created at set-up, wrapped by the key provider's KEK) and per-patient keys
(wrapped by the organization's field key), both cached unwrapped in memory.

A patient key is what crypto-shredding destroys. Its row is read from the database on every use, so a key
destroyed by another process is refused here even if its unwrapped bytes are still cached.
"""

from __future__ import annotations

import secrets
import threading
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from claimvault.errors import ClaimVaultError
from claimvault.ids import uuid7
from claimvault.security.crypto.models import PatientKey
from claimvault.security.crypto.provider import KeyProvider, KeyUnwrapError
from claimvault.security.models import DataKey

PURPOSES = ("field", "index")


class KeyDestroyed(ClaimVaultError):
    """The patient's data key was destroyed (crypto-shredded): their protected values are gone for good."""

    status_code = 410
    code = "patient_shredded"


def _wrap_context(org_id: uuid.UUID, purpose: str, key_id: uuid.UUID) -> bytes:
    return b"claimvault/dek/v1|" + org_id.bytes + b"|" + purpose.encode() + b"|" + key_id.bytes


def _patient_wrap_aad(row: PatientKey) -> bytes:
    return (
        b"claimvault/patient-key/v1|"
        + row.organization_id.bytes
        + row.patient_id.bytes
        + row.id.bytes
        + row.wrapping_key_id.bytes
    )


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

    def new_version(self, session: Session, org_id: uuid.UUID, purpose: str) -> uuid.UUID:
        """Make a fresh data key the active one for ``purpose``; older versions stay for decryption."""
        current = self._active(session, org_id, purpose, create=True)
        session.execute(
            update(DataKey).where(DataKey.organization_id == org_id, DataKey.purpose == purpose).values(is_active=False)
        )
        return self._create(session, org_id, purpose, current.version + 1).id

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
            row = self._create(session, org_id, purpose, 1)
        return row

    def _create(self, session: Session, org_id: uuid.UUID, purpose: str, version: int) -> DataKey:
        key = secrets.token_bytes(32)
        # The id is bound into the wrapping context, so it is generated before the insert.
        row = DataKey(id=uuid7(), organization_id=org_id, purpose=purpose, version=version, kek_id="", wrapped_key=b"")
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

    # Patient keys -----------------------------------------------------------------------------------------------
    def patient_key(self, session: Session, org_id: uuid.UUID, patient_id: uuid.UUID, *, create: bool) -> bytes:
        """The patient's data key, created on first use when ``create``. Raises ``KeyDestroyed`` once shredded,
        ``LookupError`` when missing (and not created)."""
        rows = list(
            session.scalars(
                select(PatientKey)
                .where(PatientKey.organization_id == org_id, PatientKey.patient_id == patient_id)
                .order_by(PatientKey.version.desc())
            )
        )
        if any(r.destroyed_at is not None for r in rows):
            raise KeyDestroyed("This patient's data was crypto-shredded.")
        if rows:
            return self._unwrap_patient(session, rows[0])
        if not create:
            raise LookupError("patient data key not found")
        return self._create_patient_key(session, org_id, patient_id)

    def patient_keys(
        self, session: Session, org_id: uuid.UUID, patient_ids: set[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, bytes], set[uuid.UUID]]:
        """Live keys of many patients in one query, and the set of those crypto-shredded (for bulk reads)."""
        if not patient_ids:
            return {}, set()
        rows = session.scalars(
            select(PatientKey)
            .where(PatientKey.organization_id == org_id, PatientKey.patient_id.in_(patient_ids))
            .order_by(PatientKey.patient_id, PatientKey.version.desc())
        )
        live: dict[uuid.UUID, bytes] = {}
        destroyed: set[uuid.UUID] = set()
        for row in rows:
            if row.destroyed_at is not None:
                destroyed.add(row.patient_id)
            elif row.patient_id not in live:
                live[row.patient_id] = self._unwrap_patient(session, row)
        for patient_id in destroyed:
            live.pop(patient_id, None)
        return live, destroyed

    def _create_patient_key(self, session: Session, org_id: uuid.UUID, patient_id: uuid.UUID) -> bytes:
        key = secrets.token_bytes(32)
        wrapping_id, wrapping = self.active_key(session, org_id, "field")
        row = PatientKey(id=uuid7(), organization_id=org_id, patient_id=patient_id, version=1)
        row.wrapping_key_id = wrapping_id
        self._seal_patient(row, key, wrapping)
        session.add(row)
        session.flush()
        with self._lock:
            self._cache[(org_id, row.id)] = key
        return key

    @staticmethod
    def _seal_patient(row: PatientKey, key: bytes, wrapping: bytes) -> None:
        nonce = secrets.token_bytes(12)
        row.wrapped_key = nonce + AESGCM(wrapping).encrypt(nonce, key, _patient_wrap_aad(row))

    def _unwrap_patient(self, session: Session, row: PatientKey) -> bytes:
        cached = self._cache.get((row.organization_id, row.id))
        if cached is not None:
            return cached
        if row.wrapped_key is None:
            raise KeyDestroyed("This patient's data was crypto-shredded.")
        wrapping = self.key_by_id(session, row.organization_id, row.wrapping_key_id)
        try:
            key = AESGCM(wrapping).decrypt(row.wrapped_key[:12], row.wrapped_key[12:], _patient_wrap_aad(row))
        except (InvalidTag, ValueError) as exc:
            raise KeyUnwrapError("patient data key failed authentication") from exc
        with self._lock:
            self._cache[(row.organization_id, row.id)] = key
        return key

    def rewrap_patient_key(self, session: Session, row: PatientKey) -> bool:
        """Re-wrap a live patient key under the organization's active field key; False if already there."""
        wrapping_id, wrapping = self.active_key(session, row.organization_id, "field")
        if row.destroyed_at is not None or row.wrapping_key_id == wrapping_id:
            return False
        key = self._unwrap_patient(session, row)
        row.wrapping_key_id = wrapping_id
        self._seal_patient(row, key, wrapping)
        return True

    def forget(self, org_id: uuid.UUID, key_id: uuid.UUID) -> None:
        """Drop an unwrapped key from this process's cache (after it was destroyed)."""
        with self._lock:
            self._cache.pop((org_id, key_id), None)
