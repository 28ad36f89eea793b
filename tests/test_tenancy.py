"""Session-level tenant scoping: reads filtered, writes checked, the gate bound to its session's tenant."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from claimvault.billing.patients.models import Patient
from claimvault.errors import NotFound, PermissionDenied, TenantViolation
from claimvault.ids import uuid7
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.data_policy import load_data_policy
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.models import AuditEvent, DataKey
from claimvault.security.permissions import Permission
from claimvault.storage.base import Base, TenantScoped
from claimvault.storage.database import Database
from claimvault.storage.models import metadata
from tests.conftest import World

Tenants = tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], list[uuid.UUID]]  # alpha, beta, alpha's ids, beta's ids


def _create_patient(runtime: Runtime, org_id: uuid.UUID, family_name: str) -> uuid.UUID:
    ctx = system_context("test-seed", organization_id=org_id, permissions={Permission.PATIENT_CREATE})
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        record = gate.create(
            Patient,
            {"given_name": "Test", "family_name": family_name, "birth_date": date(1970, 1, 2)},
            permission=Permission.PATIENT_CREATE,
        )
    return record.id


def _ids(db: Database, org_id: uuid.UUID) -> set[uuid.UUID]:
    with db.session(tenant_id=org_id) as session:
        return set(session.scalars(select(Patient.id)))


def _raw_patient(**values: Any) -> Patient:
    """A row written directly through the ORM (bypassing the gate): only the tenant check stands in the way."""
    return Patient(id=uuid7(), given_name=b"g", family_name=b"f", birth_date=b"d", name_dob_bidx=bytes(16), **values)


@pytest.fixture
def two_tenants(runtime: Runtime, world: World) -> Tenants:
    a, b = world.org("alpha"), world.org("beta")
    a_ids = [_create_patient(runtime, a, f"Alpha{i}") for i in range(2)]
    b_ids = [_create_patient(runtime, b, f"Beta{i}") for i in range(3)]
    return a, b, a_ids, b_ids


# Reads ----------------------------------------------------------------------------------------------------------


def test_reads_see_only_the_session_tenant(db: Database, two_tenants: Tenants) -> None:
    a, b, a_ids, b_ids = two_tenants
    with db.session(tenant_id=a) as session:
        rows = session.scalars(select(Patient)).all()
        assert {p.id for p in rows} == set(a_ids) and all(p.organization_id == a for p in rows)
        assert session.scalar(select(func.count()).select_from(Patient)) == len(a_ids)
        # Filtering explicitly on another tenant does not widen the scope.
        assert session.scalars(select(Patient).where(Patient.organization_id == b)).all() == []
        assert session.get(Patient, b_ids[0]) is None
        assert session.get(Patient, a_ids[0]) is not None
        keys = session.scalars(select(DataKey)).all()
        assert keys and {k.organization_id for k in keys} == {a}
    assert _ids(db, b) == set(b_ids)


def test_orm_update_affects_only_the_session_tenant(db: Database, two_tenants: Tenants) -> None:
    a, b, a_ids, b_ids = two_tenants
    with db.session(tenant_id=a) as session:
        result = session.execute(update(Patient).values(row_version=99))
        assert result.rowcount == len(a_ids)  # type: ignore[attr-defined]
        targeted = session.execute(update(Patient).where(Patient.id == b_ids[0]).values(row_version=77))
        assert targeted.rowcount == 0  # type: ignore[attr-defined]
    with db.session(tenant_id=a) as session:
        assert set(session.scalars(select(Patient.row_version))) == {99}
    with db.session(tenant_id=b) as session:
        assert set(session.scalars(select(Patient.row_version))) == {1}


def test_orm_delete_affects_only_the_session_tenant(db: Database, two_tenants: Tenants) -> None:
    a, b, a_ids, b_ids = two_tenants
    with db.session(tenant_id=a) as session:
        targeted = session.execute(delete(Patient).where(Patient.id.in_(b_ids)))
        assert targeted.rowcount == 0  # type: ignore[attr-defined]
        result = session.execute(delete(Patient))
        assert result.rowcount == len(a_ids)  # type: ignore[attr-defined]
    assert _ids(db, a) == set()
    assert _ids(db, b) == set(b_ids)


@pytest.mark.parametrize(
    "query",
    [
        lambda s, pid: s.scalars(select(Patient)).all(),
        lambda s, pid: s.scalars(select(Patient.id)).all(),
        lambda s, pid: s.get(Patient, pid),
        lambda s, pid: s.scalars(select(DataKey)).all(),
        lambda s, pid: s.execute(update(Patient).values(row_version=5)),
        lambda s, pid: s.execute(delete(DataKey)),
    ],
    ids=["select_patient", "select_patient_id", "get_patient", "select_data_key", "update", "delete"],
)
def test_session_without_tenant_is_refused(db: Database, two_tenants: Tenants, query: Any) -> None:
    a, _, a_ids, _ = two_tenants
    with pytest.raises(TenantViolation), db.session(tenant_id=None) as session:
        query(session, a_ids[0])
    assert _ids(db, a) == set(a_ids)  # nothing was changed


# Writes ---------------------------------------------------------------------------------------------------------


def test_flushing_another_tenants_row_is_refused(db: Database, two_tenants: Tenants) -> None:
    a, b, _, b_ids = two_tenants
    stray = _raw_patient(organization_id=b)
    with pytest.raises(TenantViolation), db.session(tenant_id=a) as session:
        session.add(stray)
        session.flush()
    assert _ids(db, b) == set(b_ids)


def test_moving_a_row_to_another_tenant_is_refused(db: Database, two_tenants: Tenants) -> None:
    a, b, a_ids, b_ids = two_tenants
    with pytest.raises(TenantViolation), db.session(tenant_id=a) as session:
        patient = session.get(Patient, a_ids[0])
        assert patient is not None
        patient.organization_id = b
        session.flush()
    assert _ids(db, a) == set(a_ids) and _ids(db, b) == set(b_ids)


def test_new_row_without_organization_gets_the_session_tenant(db: Database, two_tenants: Tenants) -> None:
    a, _, a_ids, _ = two_tenants
    with db.session(tenant_id=a) as session:
        patient = _raw_patient()
        assert patient.organization_id is None
        session.add(patient)
        session.flush()
        assert patient.organization_id == a
    assert _ids(db, a) == {*a_ids, patient.id}


def test_writing_without_tenant_is_refused(db: Database, two_tenants: Tenants) -> None:
    a, _, a_ids, _ = two_tenants
    with pytest.raises(TenantViolation), db.session(tenant_id=None) as session:
        session.add(_raw_patient(organization_id=a))
        session.flush()
    assert _ids(db, a) == set(a_ids)


# The gate -------------------------------------------------------------------------------------------------------


def test_gate_refuses_a_context_of_another_tenant(runtime: Runtime, two_tenants: Tenants) -> None:
    a, b, _, b_ids = two_tenants
    ctx_b = system_context("test-cross", organization_id=b, permissions=set(Permission))
    with runtime.db.session(tenant_id=a) as session:
        gate = PHIGate(session=session, ctx=ctx_b, keys=runtime.keys, denials=[])
        with pytest.raises(TenantViolation):
            gate.get(Patient, b_ids[0], permission=Permission.PATIENT_READ)
        with pytest.raises(TenantViolation):
            gate.select(select(Patient), model=Patient, permission=Permission.PATIENT_LIST)
        with pytest.raises(TenantViolation):
            gate.create(
                Patient,
                {"given_name": "X", "family_name": "Y", "birth_date": date(1980, 1, 1)},
                permission=Permission.PATIENT_CREATE,
            )
    # Control: the same context through open_gate (its own tenant) reads the row.
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx_b) as gate:
        assert gate.get(Patient, b_ids[0], permission=Permission.PATIENT_READ)["family_name"] == "Beta0"


def test_gate_needs_an_organization(runtime: Runtime) -> None:
    ctx = system_context("test-none", organization_id=None, permissions=set(Permission))
    with pytest.raises(TenantViolation), open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx):
        pass


def test_gate_reads_another_tenants_id_as_not_found(runtime: Runtime, two_tenants: Tenants) -> None:
    a, _, a_ids, b_ids = two_tenants
    ctx = system_context("test-probe", organization_id=a, permissions={Permission.PATIENT_READ})
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        assert gate.get(Patient, a_ids[0], permission=Permission.PATIENT_READ)["family_name"] == "Alpha0"
    with pytest.raises(NotFound), open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        gate.get(Patient, b_ids[0], permission=Permission.PATIENT_READ)


def test_denial_is_audited_although_the_transaction_rolled_back(runtime: Runtime, world: World) -> None:
    a = world.org("alpha")
    ctx = system_context("test-deny-cmd", organization_id=a, permissions={Permission.PATIENT_CREATE})
    with pytest.raises(PermissionDenied), open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        created = gate.create(
            Patient,
            {"given_name": "Rolled", "family_name": "Back", "birth_date": date(1980, 1, 1)},
            permission=Permission.PATIENT_CREATE,
        )
        gate.get(Patient, created.id, permission=Permission.PATIENT_READ)  # not declared: denied

    with runtime.db.session(tenant_id=a) as session:
        assert session.scalars(select(Patient)).all() == []  # the create rolled back ...
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "patients")).all()
    # ... and so did its audit event, but the denial was recorded on its own.
    assert [(e.action, e.outcome) for e in events] == [("denied", "denied")]
    denial = events[0]
    assert denial.actor_type == "system" and denial.actor_name and "test-deny-cmd" in denial.actor_name
    assert denial.permission == Permission.PATIENT_READ.value and denial.organization_id == a
    assert denial.entity_id == created.id and denial.reason == "permission_not_granted"
    assert denial.request_id == ctx.request_id


# Schema coverage ------------------------------------------------------------------------------------------------

PROTECTED_PLAIN_CLASSES = frozenset({"blind_index", "wrapped_key"})


# Workforce secrets belong to the installation, not an organization: encrypted under the platform key
# (security/crypto/platform.py). Such tables may hold only class "secret", never PHI, PII or financial data.
PLATFORM_TABLES = frozenset({"platform_keys", "mfa_totp_secrets"})


def test_every_table_with_protected_data_is_tenant_scoped() -> None:
    policy = load_data_policy()
    mapped = {m.local_table.name: m.class_ for m in Base.registry.mappers}
    checked: list[str] = []
    for table in metadata.sorted_tables:
        classes = {c.classification for (t, _), c in policy.columns.items() if t == table.name}
        encrypted = bool(policy.encrypted_columns(table.name))
        if not (encrypted or classes & PROTECTED_PLAIN_CLASSES):
            continue
        checked.append(table.name)
        if table.name in PLATFORM_TABLES:
            assert all(c.classification == "secret" for c in policy.encrypted_columns(table.name)), table.name
            assert not issubclass(mapped[table.name], TenantScoped), table.name
            continue
        assert "organization_id" in table.columns, f"{table.name} holds protected data but has no organization_id"
        assert issubclass(mapped[table.name], TenantScoped), f"{table.name} holds protected data: make it TenantScoped"
        assert table.columns["organization_id"].nullable is False, table.name
    assert "patients" in checked and "data_keys" in checked


def test_data_policy_covers_the_tables_checked_above() -> None:
    """The coverage test above is only as good as the policy: every table needs an entry."""
    policy_tables = {t for (t, _) in load_data_policy().columns}
    assert {t.name for t in metadata.sorted_tables} <= policy_tables
