"""PostgreSQL row-level security: the second layer of tenant isolation, proven with the app's own role and with
the application-level scoping bypassed (raw SQL, no ORM criteria)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError

from claimvault.billing.patients.models import Patient
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.storage.database import Database, connection_role_problems
from claimvault.storage.models import tenant_scoped_tables
from tests.conftest import World


@pytest.fixture
def pg(db: Database, backend: Any) -> Connection:
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    assert isinstance(db.bind, Connection)
    return db.bind


@pytest.fixture
def two_orgs(world: World, pg: Connection) -> dict[str, uuid.UUID]:
    ids = {}
    for slug in ("alpha", "bravo"):
        org_id = world.org(slug)
        ctx = system_context("test", organization_id=org_id, permissions={Permission.PATIENT_CREATE})
        with open_gate(db=world.runtime.db, keys=world.runtime.keys, ctx=ctx) as gate:
            gate.create(
                Patient,
                {"given_name": slug, "family_name": slug, "birth_date": date(1970, 1, 1)},
                permission=Permission.PATIENT_CREATE,
            )
        ids[slug] = org_id
    return ids


def _as_tenant(conn: Connection, org_id: uuid.UUID | None, *, audit_role: str = "") -> None:
    # Transaction-local settings: in these rolled-back tests they outlive the app's own sessions, so reset both.
    conn.execute(
        text("SELECT set_config('claimvault.org_id', :v, true), set_config('claimvault.audit_role', :r, true)"),
        {"v": str(org_id) if org_id else "", "r": audit_role},
    )


@pytest.fixture
def savepoint(pg: Connection) -> Iterator[Connection]:
    nested = pg.begin_nested()
    try:
        yield pg
    finally:
        if nested.is_active:
            nested.rollback()


def test_app_role_is_not_privileged(pg: Connection) -> None:
    row = pg.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
    assert tuple(row) == (False, False)
    owners = {
        r.tablename: r.tableowner
        for r in pg.execute(text("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"))
    }
    current = pg.execute(text("SELECT current_user")).scalar()
    assert owners and current not in set(owners.values())


def test_every_protected_table_forces_rls(pg: Connection) -> None:
    rows = pg.execute(
        text("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relkind = 'r'")
    ).all()
    flags = {r.relname: (r.relrowsecurity, r.relforcerowsecurity) for r in rows}
    for table in tenant_scoped_tables():
        assert flags[table] == (True, True), table
    # The audit log's policies bind every role but its owner, whose SECURITY DEFINER function answers "who accessed
    # patient X" through an index that row-level security would not let any query use (migration 0023).
    assert flags["audit_events"] == (True, False)


def test_raw_sql_sees_only_current_tenant(two_orgs: dict[str, uuid.UUID], savepoint: Connection) -> None:
    _as_tenant(savepoint, two_orgs["alpha"])
    orgs = {r[0] for r in savepoint.execute(text("SELECT organization_id FROM patients"))}
    assert orgs == {two_orgs["alpha"]}
    # Asking for B's rows explicitly still returns nothing.
    count = savepoint.execute(
        text("SELECT count(*) FROM patients WHERE organization_id = :b"), {"b": two_orgs["bravo"]}
    ).scalar()
    assert count == 0
    keys = savepoint.execute(
        text("SELECT count(*) FROM data_keys WHERE organization_id = :b"), {"b": two_orgs["bravo"]}
    ).scalar()
    assert keys == 0


def test_missing_tenant_setting_denies_everything(two_orgs: dict[str, uuid.UUID], savepoint: Connection) -> None:
    _as_tenant(savepoint, None)
    for table in tenant_scoped_tables():
        assert savepoint.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == 0, table
    for table in ("audit_events", "audit_pending"):
        assert savepoint.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_never_set_tenant_setting_denies_everything(two_orgs: dict[str, uuid.UUID], backend: Any) -> None:
    # A fresh connection that never set the tenant at all (not even to empty).
    with backend.app_engine.connect() as fresh:
        for table in tenant_scoped_tables():
            assert fresh.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == 0, table


def test_cross_tenant_writes_are_refused(two_orgs: dict[str, uuid.UUID], pg: Connection) -> None:
    nested = pg.begin_nested()
    _as_tenant(pg, two_orgs["alpha"])
    updated = pg.execute(
        text("UPDATE patients SET row_version = row_version + 1 WHERE organization_id = :b"), {"b": two_orgs["bravo"]}
    ).rowcount
    deleted = pg.execute(text("DELETE FROM patients WHERE organization_id = :b"), {"b": two_orgs["bravo"]}).rowcount
    assert (updated, deleted) == (0, 0)
    nested.rollback()

    nested = pg.begin_nested()
    _as_tenant(pg, two_orgs["alpha"])
    with pytest.raises(DBAPIError) as refused:
        pg.execute(
            text(
                "INSERT INTO patients (id, organization_id, given_name, family_name, birth_date, name_dob_bidx, "
                "row_version, created_at, updated_at) "
                "VALUES (:id, :b, '\\x00', '\\x00', '\\x00', '\\x00', 1, now(), now())"
            ),
            {"id": uuid.uuid4(), "b": two_orgs["bravo"]},
        )
    assert getattr(refused.value.orig, "sqlstate", None) == "42501"  # insufficient_privilege: RLS violation
    nested.rollback()

    nested = pg.begin_nested()
    _as_tenant(pg, two_orgs["alpha"])
    with pytest.raises(DBAPIError):
        # Moving one of A's rows into B is refused by WITH CHECK.
        pg.execute(text("UPDATE patients SET organization_id = :b"), {"b": two_orgs["bravo"]})
    nested.rollback()


def test_audit_trail_is_append_only_for_the_app(two_orgs: dict[str, uuid.UUID], pg: Connection) -> None:
    # Two events (the patients' creations) were sequenced into the log.
    _as_tenant(pg, None, audit_role="reader")
    assert pg.execute(text("SELECT count(*) FROM audit_events")).scalar() >= 2
    for table in ("audit_events",):
        for audit_role in ("", "sequencer", "reader"):
            for statement in (
                f"UPDATE {table} SET organization_id = NULL",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
            ):
                nested = pg.begin_nested()
                _as_tenant(pg, two_orgs["alpha"], audit_role=audit_role)
                with pytest.raises(DBAPIError) as refused:
                    pg.execute(text(statement))
                assert getattr(refused.value.orig, "sqlstate", None) == "42501", (statement, audit_role)
                nested.rollback()


def test_audit_trigger_refuses_even_the_table_owner(two_orgs: dict[str, uuid.UUID], backend: Any) -> None:
    """Grants stop the app role; the trigger stops anyone else who can reach the table, the owner included."""
    from sqlalchemy import create_engine

    engine = create_engine(backend.owner_url)
    try:
        with engine.connect() as owner, owner.begin():
            owner.execute(
                text(
                    "INSERT INTO audit_events (position, id, recorded_at, action, outcome, patient_count, body, "
                    "chain_hash) VALUES (987654321, gen_random_uuid(), now(), 'read', 'success', 0, 'x', '\\x00')"
                )
            )
            for statement in (
                "UPDATE audit_events SET action = 'x' WHERE position = 987654321",
                "DELETE FROM audit_events WHERE position = 987654321",
            ):  # (TRUNCATE would wait on the test's own open transaction; its trigger is the same function)
                with pytest.raises(DBAPIError, match="append-only"), owner.begin_nested():
                    owner.execute(text(statement))
            owner.rollback()
    finally:
        engine.dispose()


def test_pending_audit_events_are_write_only_for_requests(two_orgs: dict[str, uuid.UUID], pg: Connection) -> None:
    nested = pg.begin_nested()
    _as_tenant(pg, two_orgs["alpha"])
    pg.execute(
        text(
            "INSERT INTO audit_pending (id, organization_id, recorded_at, action, outcome, actor_type, roles, "
            "patient_ids, fields, detail) "
            "VALUES (:id, :org, now(), 'read', 'success', 'system', '[]', '[]', '[]', '{}')"
        ),
        {"id": uuid.uuid4(), "org": two_orgs["alpha"]},
    )
    # A tenant can add events but neither read nor take them: only the sequencer can.
    assert pg.execute(text("SELECT count(*) FROM audit_pending")).scalar() == 0
    assert pg.execute(text("DELETE FROM audit_pending")).rowcount == 0
    # Nor may it write an event in another tenant's name.
    with pytest.raises(DBAPIError), pg.begin_nested():
        pg.execute(
            text(
                "INSERT INTO audit_pending (id, organization_id, recorded_at, action, outcome, actor_type, roles, "
                "patient_ids, fields, detail) VALUES (:id, :org, now(), 'read', 'success', 'system', '[]', '[]', "
                "'[]', '{}')"
            ),
            {"id": uuid.uuid4(), "org": two_orgs["bravo"]},
        )
    _as_tenant(pg, None, audit_role="sequencer")
    assert pg.execute(text("SELECT count(*) FROM audit_pending")).scalar() == 1
    nested.rollback()


def test_tenant_reads_only_its_own_audit_events(two_orgs: dict[str, uuid.UUID], pg: Connection) -> None:
    _as_tenant(pg, two_orgs["alpha"])
    orgs = {row[0] for row in pg.execute(text("SELECT organization_id FROM audit_events"))}
    assert orgs == {two_orgs["alpha"]}
    # Appending to the log directly (bypassing the sequencer's role) is refused.
    with pytest.raises(DBAPIError), pg.begin_nested():
        pg.execute(
            text(
                "INSERT INTO audit_events (position, id, organization_id, recorded_at, action, outcome, "
                "patient_count, body, chain_hash) VALUES (999999, :id, :org, now(), 'read', 'success', 0, 'x', "
                "'\\x00')"
            ),
            {"id": uuid.uuid4(), "org": two_orgs["alpha"]},
        )


def test_connection_role_problems_name_what_row_level_security_would_not_bind(backend: Any) -> None:
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    assert connection_role_problems(backend.app_engine) == []
    owner = create_engine(backend.owner_url)  # the tests' schema owner is the superuser "postgres"
    try:
        problems = connection_role_problems(owner)
    finally:
        owner.dispose()
    assert any("superuser" in p for p in problems) and any("owns tables" in p for p in problems)
