"""KEK rotation support: re-wrap every stored data key under the provider's current KEK, and count how many
stored values each data key still protects.

Re-wrapping is online: a data key's bytes never change, only their wrapping, so readers and writers keep
working (their caches hold unwrapped keys). Rows are re-wrapped in small transactions; rows already wrapped by
the current KEK are skipped, so an interrupted run is resumed by running it again. Nothing here reads or
decrypts protected values: counting looks only at each ciphertext's key-id header (bytes 1..17).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.accounts.models import Organization
from claimvault.security.crypto.keys import KeyService, _wrap_context
from claimvault.security.crypto.platform import platform_wrap_context
from claimvault.security.data_policy import load_data_policy
from claimvault.security.mfa.models import PlatformKey
from claimvault.security.models import DataKey
from claimvault.storage import models as storage_models
from claimvault.storage.database import Database

Progress = Callable[[int, int], None]
BATCH_SIZE = 50


@dataclass
class RewrapReport:
    kek_id: str
    rewrapped: int = 0
    already_current: int = 0
    organizations: int = 0
    per_kek_before: Counter[str] = field(default_factory=Counter)


def organization_ids(db: Database) -> list[uuid.UUID]:
    with db.session(tenant_id=None) as s:
        return list(s.scalars(select(Organization.id).order_by(Organization.id)))


def _stale_data_keys(s: Session, org_id: uuid.UUID, kek_id: str, limit: int) -> list[DataKey]:
    return list(
        s.scalars(
            select(DataKey)
            .where(DataKey.organization_id == org_id, DataKey.kek_id != kek_id)
            .order_by(DataKey.id)
            .limit(limit)
        )
    )


def _count_keys(db: Database, orgs: list[uuid.UUID], kek_id: str) -> tuple[int, int, Counter[str]]:
    """(stale rows, current rows, rows per KEK) over data keys and platform keys."""
    per_kek: Counter[str] = Counter()
    for org_id in orgs:
        with db.session(tenant_id=org_id) as s:
            per_kek.update(s.scalars(select(DataKey.kek_id).where(DataKey.organization_id == org_id)))
    with db.session(tenant_id=None) as s:
        per_kek.update(s.scalars(select(PlatformKey.kek_id)))
    current = per_kek.get(kek_id, 0)
    return sum(per_kek.values()) - current, current, per_kek


def rewrap_all(
    *, db: Database, keys: KeyService, batch_size: int = BATCH_SIZE, progress: Progress | None = None
) -> RewrapReport:
    """Re-wrap every data key and platform key not yet under the provider's current KEK."""
    provider = keys.provider
    kek_id = provider.current_kek_id()
    orgs = organization_ids(db)
    stale, current, per_kek = _count_keys(db, orgs, kek_id)
    report = RewrapReport(kek_id=kek_id, already_current=current, organizations=len(orgs), per_kek_before=per_kek)
    if progress:
        progress(0, stale)
    for org_id in orgs:
        while True:
            with db.session(tenant_id=org_id) as s:
                rows = _stale_data_keys(s, org_id, kek_id, batch_size)
                for row in rows:
                    context = _wrap_context(row.organization_id, row.purpose, row.id)
                    key = provider.unwrap(row.kek_id, row.wrapped_key, context=context)
                    row.kek_id, row.wrapped_key = provider.wrap(key, context=context)
            report.rewrapped += len(rows)
            if progress and rows:
                progress(report.rewrapped, stale)
            if len(rows) < batch_size:
                break
    while True:
        with db.session(tenant_id=None) as s:
            platform_rows = list(
                s.scalars(
                    select(PlatformKey).where(PlatformKey.kek_id != kek_id).order_by(PlatformKey.id).limit(batch_size)
                )
            )
            for prow in platform_rows:
                context = platform_wrap_context(prow.purpose, prow.id)
                key = provider.unwrap(prow.kek_id, prow.wrapped_key, context=context)
                prow.kek_id, prow.wrapped_key = provider.wrap(key, context=context)
        report.rewrapped += len(platform_rows)
        if progress and platform_rows:
            progress(report.rewrapped, stale)
        if len(platform_rows) < batch_size:
            break
    return report


def _encrypted_tables() -> dict[str, list[str]]:
    policy = load_data_policy()
    found: dict[str, list[str]] = {}
    for name, table in storage_models.metadata.tables.items():
        columns = [c.column for c in policy.encrypted_columns(name) if c.column in table.c]
        if columns:
            found[name] = columns
    return found


def _count_table(
    s: Session, table_name: str, columns: list[str], org_id: uuid.UUID | None, into: Counter[uuid.UUID]
) -> None:
    table = storage_models.metadata.tables[table_name]
    statement = select(*(table.c[c] for c in columns))
    if org_id is not None:
        statement = statement.where(table.c["organization_id"] == org_id)
    for row in s.execute(statement.execution_options(yield_per=500)):
        for value in row:
            if isinstance(value, bytes | memoryview) and len(value) > 17:
                into[uuid.UUID(bytes=bytes(value[1:17]))] += 1


def values_per_key(*, db: Database) -> dict[uuid.UUID, int]:
    """How many stored encrypted values name each data key (or platform key) in their header."""
    counts: Counter[uuid.UUID] = Counter()
    tables = _encrypted_tables()
    scoped = set(storage_models.tenant_scoped_tables())
    tenant_tables = {n: c for n, c in tables.items() if n in scoped}
    for org_id in organization_ids(db):
        with db.session(tenant_id=org_id) as s:
            for name, columns in tenant_tables.items():
                _count_table(s, name, columns, org_id, counts)
    with db.session(tenant_id=None) as s:
        for name, columns in tables.items():
            if name not in tenant_tables:
                _count_table(s, name, columns, None, counts)
    return dict(counts)


@dataclass(frozen=True)
class StoredKey:
    """One stored data key (``owner`` is an organization slug, or ``platform`` for installation keys)."""

    id: uuid.UUID
    owner: str
    purpose: str
    version: int
    is_active: bool
    kek_id: str
    created_at: datetime


def stored_keys(*, db: Database) -> list[StoredKey]:
    """Every data key and platform key with its metadata (never key material)."""
    with db.session(tenant_id=None) as s:
        orgs = [(o.id, o.slug) for o in s.scalars(select(Organization).order_by(Organization.slug))]
        found = [
            StoredKey(p.id, "platform", p.purpose, p.version, p.is_active, p.kek_id, p.created_at)
            for p in s.scalars(select(PlatformKey).order_by(PlatformKey.purpose, PlatformKey.version))
        ]
    for org_id, slug in orgs:
        with db.session(tenant_id=org_id) as s:
            rows = s.scalars(
                select(DataKey).where(DataKey.organization_id == org_id).order_by(DataKey.purpose, DataKey.version)
            )
            found.extend(StoredKey(r.id, slug, r.purpose, r.version, r.is_active, r.kek_id, r.created_at) for r in rows)
    return found
