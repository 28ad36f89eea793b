"""Re-encryption: move every stored protected value to a fresh organization field data key, online.

For each organization a new field key version becomes active (older versions stay, for decryption); then every
encrypted column of every tenant table (from the data policy) is walked in id order, in batches, and rows whose
values are not yet under the active key are re-encrypted through the PHI gate (tenant check, ``key:manage``
authorization, decrypt, encrypt, one audit event per batch). Each batch is its own small transaction, so reads
and writes keep working; new writes already use the new key, and rows written meanwhile under the old key are
caught by a final pass. Progress is derived from the data itself (a value's header names its key), so an
interrupted run is resumed by running it again: it finds the values still under the old key and continues
without making yet another key. Afterwards the patients' data keys are re-wrapped under the new field key.

Not covered: platform keys (MFA secrets, installation-wide; not tenant data), the blind-index key (an index
cannot be recomputed without the plaintext search terms of every row; its key stays), file blobs (their own
``blob`` key), and values of crypto-shredded patients (gone by design; skipped).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from claimvault.errors import TenantViolation
from claimvault.security.context import AccessContext, SystemContext
from claimvault.security.crypto.fields import FORMAT_PATIENT, FORMAT_V1, header_key_id
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.models import PatientKey
from claimvault.security.crypto.rotation import organization_ids
from claimvault.security.data_policy import load_data_policy
from claimvault.security.gate import open_gate
from claimvault.storage.base import Base, TenantScoped
from claimvault.storage.database import Database

Progress = Callable[[int, int], None]
MAX_PASSES = 5


@dataclass
class ReencryptReport:
    organizations: int = 0
    new_keys: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # org id -> new field key id
    resumed: list[uuid.UUID] = field(default_factory=list)  # orgs whose earlier run was continued
    rows_reencrypted: int = 0
    patient_keys_rewrapped: int = 0


def _models() -> list[tuple[type[Base], list[str]]]:
    policy = load_data_policy()
    found: list[tuple[type[Base], list[str]]] = []
    for mapper in sorted(Base.registry.mappers, key=lambda m: str(m.local_table.description)):
        model: type[Base] = mapper.class_
        if not issubclass(model, TenantScoped):
            continue
        columns = [c.column for c in policy.encrypted_columns(str(mapper.local_table.description))]
        if columns:
            found.append((model, columns))
    return found


def _org_ctx(ctx: AccessContext, org_id: uuid.UUID) -> AccessContext:
    if isinstance(ctx, SystemContext):
        return dataclasses.replace(ctx, organization_id=org_id)
    if ctx.organization_id != org_id:
        raise TenantViolation("The request is not scoped to this organization.")
    return ctx


def _stale_batches(
    db: Database, org_id: uuid.UUID, model: type[Base], columns: list[str], batch_size: int
) -> Iterator[list[uuid.UUID]]:
    """Ids of rows holding a value not under the active key (and not of a shredded patient), batch by batch."""
    table: Any = model.__table__
    key = getattr(model, "__patient_key__", None)
    wanted = FORMAT_PATIENT if key else FORMAT_V1
    last: uuid.UUID | None = None
    while True:
        with db.session(tenant_id=org_id) as s:
            active = _active_field_key(s, org_id)
            shredded = set(
                s.scalars(
                    select(PatientKey.patient_id).where(
                        PatientKey.organization_id == org_id, PatientKey.destroyed_at.is_not(None)
                    )
                )
            )
            cols = [table.c.id, *(table.c[c] for c in columns)]
            if key:
                cols.append(table.c[model.__mapper__.attrs[key].columns[0].name])
            stmt = select(*cols).where(table.c.organization_id == org_id).order_by(table.c.id).limit(batch_size)
            if last is not None:
                stmt = stmt.where(table.c.id > last)
            rows = list(s.execute(stmt))
        if not rows:
            return
        last = rows[-1][0]
        stale = []
        for row in rows:
            if key and row[-1] in shredded:
                continue
            values = row[1 : 1 + len(columns)]
            if any(v is not None and header_key_id(bytes(v)) != (wanted, active) for v in values):
                stale.append(row[0])
        yield stale
        if len(rows) < batch_size:
            return


def _active_field_key(s: Any, org_id: uuid.UUID) -> uuid.UUID:
    from claimvault.security.models import DataKey

    found = s.scalars(
        select(DataKey.id)
        .where(DataKey.organization_id == org_id, DataKey.purpose == "field", DataKey.is_active.is_(True))
        .order_by(DataKey.version.desc())
        .limit(1)
    ).first()
    return found or uuid.UUID(int=0)


def _count_stale(db: Database, org_id: uuid.UUID, batch_size: int) -> int:
    return sum(len(b) for model, cols in _models() for b in _stale_batches(db, org_id, model, cols, batch_size))


def run_reencryption(
    *,
    db: Database,
    keys: KeyService,
    ctx: AccessContext,
    batch_size: int = 500,
    progress: Progress | None = None,
    resume: bool = True,
) -> ReencryptReport:
    """Re-encrypt every organization's protected values under a fresh field key (see the module docstring).
    ``progress(done, total)`` is called after each batch. With ``resume``, an organization that still has values
    under an older key continues that earlier run instead of starting another key version."""
    orgs = organization_ids(db) if isinstance(ctx, SystemContext) else [ctx.organization_id]
    report = ReencryptReport(organizations=len(orgs))
    totals: dict[uuid.UUID, int] = {}
    for org_id in orgs:
        assert org_id is not None
        pending = _count_stale(db, org_id, batch_size)
        if pending and resume:
            report.resumed.append(org_id)
        else:
            with db.session(tenant_id=org_id) as s:
                report.new_keys[org_id] = keys.new_version(s, org_id, "field")
            pending = _count_stale(db, org_id, batch_size)
        totals[org_id] = pending
    total, done = sum(totals.values()), 0
    if progress:
        progress(0, total)
    models = _models()
    for org_id in orgs:
        assert org_id is not None
        org_ctx = _org_ctx(ctx, org_id)
        for _ in range(MAX_PASSES):  # later passes catch rows written under the old key while the walk ran
            moved_this_pass = 0
            for model, columns in models:
                for ids in _stale_batches(db, org_id, model, columns, batch_size):
                    if not ids:
                        continue
                    with open_gate(db=db, keys=keys, ctx=org_ctx) as gate:
                        moved = gate.reencrypt_rows(model, ids)
                    moved_this_pass += moved
                    done += moved
                    if progress:
                        progress(min(done, max(total, done)), max(total, done))
            report.rows_reencrypted += moved_this_pass
            if moved_this_pass == 0:
                break
        report.patient_keys_rewrapped += _rewrap_patient_keys(db, keys, org_id, batch_size)
    return report


def _rewrap_patient_keys(db: Database, keys: KeyService, org_id: uuid.UUID, batch_size: int) -> int:
    count = 0
    last: uuid.UUID | None = None
    while True:
        with db.session(tenant_id=org_id) as s:
            stmt = (
                select(PatientKey)
                .where(PatientKey.organization_id == org_id, PatientKey.destroyed_at.is_(None))
                .order_by(PatientKey.id)
                .limit(batch_size)
                .with_for_update()
            )
            if last is not None:
                stmt = stmt.where(PatientKey.id > last)
            rows = list(s.scalars(stmt))
            count += sum(keys.rewrap_patient_key(s, row) for row in rows)
            if rows:
                last = rows[-1].id
        if len(rows) < batch_size:
            return count
