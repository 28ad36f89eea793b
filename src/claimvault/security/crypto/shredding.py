"""Crypto-shredding: destroy a patient's data key so every value encrypted for them is unrecoverable.

``shred_patient`` is refused while a retention hold covers the patient or the organization. Otherwise, in one
transaction: values of the patient still under the organization key alone are first moved under the patient key
(so nothing escapes), the patient key is destroyed (wrapped bytes deleted, ``destroyed_at`` set), the blind
indexes of the patient's rows are cleared (search finds nothing), an audit event is written, and an entry is
appended to the shred ledger. Caches of the unwrapped key are evicted; other processes are covered too, because
every use of a patient key re-reads its row.

The shred ledger is a JSON-lines file kept beside the keyring, outside database backups: ids, key ids, time and
actor only (never patient data). Each line carries the SHA-256 of the previous line, so an edit or a removed line
is evident (``verify_ledger``). ``reapply_shred_ledger`` runs after a database restore: an old backup that still
holds a shredded patient's key gets it destroyed again, so a restore never brings a shredded patient back.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.errors import ClaimVaultError, Conflict, NotFound
from claimvault.privacy.holds import active_hold
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext, system_context
from claimvault.security.crypto.keys import KeyDestroyed, KeyService
from claimvault.security.crypto.models import PatientKey
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.permissions import Permission
from claimvault.storage.base import Base, utcnow
from claimvault.storage.database import Database

SHRED_PERMISSION = Permission.PATIENT_SHRED
GENESIS = "0" * 64
_ledger_lock = threading.Lock()


class RetentionHoldActive(Conflict):
    code = "retention_hold"


class ShredLedgerError(ClaimVaultError):
    """The shred ledger is malformed or its hash chain is broken (an entry was edited or removed)."""

    status_code = 500
    code = "shred_ledger_invalid"


@dataclass(frozen=True)
class ShredReport:
    patient_id: uuid.UUID
    key_ids: tuple[uuid.UUID, ...]
    entry_hash: str


def _patient_models() -> list[type[Base]]:
    return [
        m.class_
        for m in Base.registry.mappers
        if getattr(m.class_, "__patient_key__", None) and hasattr(m.class_, "organization_id")
    ]


def _patient_exists(session: Session, patient_id: uuid.UUID) -> bool:
    return any(
        session.get(model, patient_id) is not None
        for model in _patient_models()
        if model.__patient_key__ == "id"  # type: ignore[attr-defined]
    )


def _destroy(gate: PHIGate, keys: KeyService, patient_id: uuid.UUID) -> tuple[list[uuid.UUID], bool]:
    """Destroy the patient's keys and clear their indexes; (key ids, whether anything had to change)."""
    session, org_id = gate.session, gate.ctx.organization_id
    assert org_id is not None
    changed = False
    # Values still under the organization key alone would survive the shred: move them under the patient key.
    for model in _patient_models():
        column = getattr(model, model.__patient_key__)  # type: ignore[attr-defined]
        ids = list(session.scalars(select(model.id).where(column == patient_id)))  # type: ignore[attr-defined]
        if ids:
            changed |= gate.reencrypt_rows(model, ids, permission=SHRED_PERMISSION) > 0
    rows = list(session.scalars(select(PatientKey).where(PatientKey.patient_id == patient_id)))
    if not rows:  # no key yet: create one to destroy, a tombstone that refuses any later write for this patient
        keys.patient_key(session, org_id, patient_id, create=True)
        rows = list(session.scalars(select(PatientKey).where(PatientKey.patient_id == patient_id)))
    for row in rows:
        if row.destroyed_at is None or row.wrapped_key is not None:
            row.wrapped_key = None
            row.destroyed_at = row.destroyed_at or utcnow()
            changed = True
    for model in _patient_models():
        indexes = getattr(model, "__blind_indexes__", {})
        if not indexes:
            continue
        column = getattr(model, model.__patient_key__)  # type: ignore[attr-defined]
        for target in session.scalars(select(model).where(column == patient_id)):
            for index in indexes:
                value = getattr(target, index)
                if value is None or (len(value) == 17 and value[0] == 0xFF):
                    continue
                # NULL where the column allows it; else a random token that no search can ever produce.
                nullable = model.__table__.c[index].nullable
                setattr(target, index, None if nullable else b"\xff" + secrets.token_bytes(16))
                changed = True
    session.flush()
    return [r.id for r in rows], changed


def shred_patient(
    *, db: Database, keys: KeyService, ctx: AccessContext, patient_id: uuid.UUID, ledger_path: Path
) -> ShredReport:
    """Crypto-shred one patient of ``ctx``'s organization (see the module docstring)."""
    with open_gate(db=db, keys=keys, ctx=ctx) as gate:
        gate.authorize(SHRED_PERMISSION, entity_type="patients", entity_id=patient_id)
        session = gate.session
        if not _patient_exists(session, patient_id):
            raise NotFound("No such record.")
        if active_hold(session, patient_id):
            raise RetentionHoldActive("A retention hold applies to this patient; their data cannot be destroyed.")
        if session.scalars(
            select(PatientKey.id).where(PatientKey.patient_id == patient_id, PatientKey.destroyed_at.is_not(None))
        ).first():
            raise Conflict("This patient was already shredded.", code="already_shredded")
        key_ids, _ = _destroy(gate, keys, patient_id)
        org_id = gate.ctx.organization_id
        assert org_id is not None
        record(
            session,
            build_event(
                ctx,
                action="patient.shred",
                permission=SHRED_PERMISSION.value,
                entity_type="patients",
                entity_id=patient_id,
                patient_ids={patient_id},
                detail={"key_ids": [str(k) for k in key_ids]},
            ),
        )
        session.flush()
        # Written before the commit: if the commit then failed, a restore would only shred again what was
        # authorized to be shredded; the reverse order could lose the entry and resurrect the patient.
        entry_hash = append_ledger_entry(
            ledger_path,
            {
                "org_id": str(org_id),
                "patient_id": str(patient_id),
                "key_ids": [str(k) for k in key_ids],
                "shredded_at": utcnow().isoformat(),
                "actor": _actor(ctx),
            },
        )
    for key_id in key_ids:
        keys.forget(org_id, key_id)
    return ShredReport(patient_id=patient_id, key_ids=tuple(key_ids), entry_hash=entry_hash)


def _actor(ctx: AccessContext) -> dict[str, Any]:
    return {"type": ctx.actor_type, "id": str(ctx.actor_id) if ctx.actor_id else None, "name": ctx.actor_name}


# The ledger -----------------------------------------------------------------------------------------------------
def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def append_ledger_entry(path: Path, entry: dict[str, Any]) -> str:
    """Append one chained entry (file created 0600); return the new line's hash."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _ledger_lock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "rb") as reader:
                lines = reader.read().splitlines()
            prev = _line_hash(lines[-1]) if lines else GENESIS
            doc = {**entry, "seq": len(lines) + 1, "prev": prev}
            line = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    return _line_hash(line)


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Every entry in order, tolerating a broken chain (a restore must re-apply all it can)."""
    if not path.exists():
        return []
    entries = []
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
            uuid.UUID(doc["org_id"]), uuid.UUID(doc["patient_id"])
        except (ValueError, KeyError, TypeError):
            raise ShredLedgerError("The shred ledger has a malformed entry.") from None
        entries.append(doc)
    return entries


def verify_ledger(path: Path) -> int:
    """Check the hash chain; return the number of entries. Raises ``ShredLedgerError`` if it is broken."""
    prev = GENESIS
    lines = path.read_bytes().splitlines() if path.exists() else []
    for seq, raw in enumerate(lines, start=1):
        try:
            doc = json.loads(raw)
        except ValueError:
            raise ShredLedgerError("The shred ledger has a malformed entry.") from None
        if doc.get("prev") != prev or doc.get("seq") != seq:
            raise ShredLedgerError("The shred ledger's hash chain is broken: an entry was edited or removed.")
        prev = _line_hash(raw)
    return len(lines)


def reapply_shred_ledger(*, db: Database, keys: KeyService, ledger_path: Path) -> int:
    """Make every shred in the ledger hold again (after a restore); idempotent. Returns how many entries needed
    re-applying (a patient whose key or indexes had come back). Entries of organizations absent from the
    database are skipped."""
    from claimvault.accounts.models import Organization

    reapplied = 0
    for entry in read_ledger(ledger_path):
        org_id, patient_id = uuid.UUID(entry["org_id"]), uuid.UUID(entry["patient_id"])
        with db.session(tenant_id=None) as s:
            if s.get(Organization, org_id) is None:
                continue
        ctx = system_context("shred-ledger-reapply", organization_id=org_id, permissions={SHRED_PERMISSION})
        with open_gate(db=db, keys=keys, ctx=ctx) as gate:
            gate.authorize(SHRED_PERMISSION, entity_type="patients", entity_id=patient_id)
            session = gate.session
            if (
                not _patient_exists(session, patient_id)
                and not session.scalars(select(PatientKey.id).where(PatientKey.patient_id == patient_id)).first()
            ):
                continue  # the backup predates the patient
            key_ids, changed = _destroy(gate, keys, patient_id)
            if changed:
                reapplied += 1
                record(
                    session,
                    build_event(
                        ctx,
                        action="patient.shred_reapplied",
                        permission=SHRED_PERMISSION.value,
                        entity_type="patients",
                        entity_id=patient_id,
                        patient_ids={patient_id},
                        detail={"key_ids": [str(k) for k in key_ids]},
                    ),
                )
        for key_id in [*key_ids, *(uuid.UUID(k) for k in entry.get("key_ids", []))]:
            keys.forget(org_id, key_id)
    return reapplied


def is_shredded(session: Session, patient_id: uuid.UUID) -> bool:
    """True once the patient's data key was destroyed (tenant-scoped session)."""
    return (
        session.scalars(
            select(PatientKey.id).where(PatientKey.patient_id == patient_id, PatientKey.destroyed_at.is_not(None))
        ).first()
        is not None
    )


__all__ = [
    "KeyDestroyed",
    "RetentionHoldActive",
    "ShredLedgerError",
    "ShredReport",
    "append_ledger_entry",
    "is_shredded",
    "read_ledger",
    "reapply_shred_ledger",
    "shred_patient",
    "verify_ledger",
]
