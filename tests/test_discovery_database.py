"""The database scanner (``claimvault scan-db``): ClaimVault's own database shows every protected column as
ClaimVault ciphertext; a plaintext copy of those columns shows them restricted and unprotected; MySQL/MariaDB,
sampling (TABLESAMPLE on PostgreSQL), password masking, ``--fail-on`` and the JSON shape. Synthetic values only."""

from __future__ import annotations

import json
import os
import random
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.dialects import postgresql
from typer.testing import CliRunner

from claimvault.billing.claims.schemas import ClaimCreate
from claimvault.billing.claims.service import create_claim
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.cli.scan_db import scan_db
from claimvault.config import Settings
from claimvault.discovery.classification import Level
from claimvault.discovery.database import DatabaseScan, DatabaseScanError, sample_statement, scan_database
from claimvault.ids import uuid7
from claimvault.runtime import build_runtime
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.data_policy import load_data_policy
from claimvault.security.permissions import Permission
from claimvault.storage.base import Base
from tests.billing_world import BillingWorld, build_billing_world

MYSQL_ENV = "CLAIMVAULT_TEST_MYSQL_URL"
MYSQL_DEFAULT = "mysql+pymysql://root@127.0.0.1:3306/test"
POLICY_LEVEL = {"PHI": Level.restricted, "financial": Level.restricted, "secret": Level.restricted,
                "PII": Level.confidential}  # fmt: skip


def _ssn(rng: random.Random) -> str:
    """A synthetic SSN that passes the validator: issued area, group and serial, not a well-known sample."""
    area = rng.choice([a for a in range(100, 666) if a not in (123, 219)])
    return f"{area:03d}-{rng.randrange(10, 99):02d}-{rng.randrange(1000, 9999):04d}"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(scan_db)
    return app


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(_app(), list(args), terminal_width=400)


def _field_ciphertext(plaintext: bytes, key: bytes, key_id: uuid.UUID) -> bytes:
    """ClaimVault's format-1 field ciphertext layout (fields.OrgCrypto.encrypt), under a throwaway key."""
    nonce = secrets.token_bytes(12)
    return bytes([1]) + key_id.bytes + nonce + AESGCM(key).encrypt(nonce, plaintext, b"test")


# ClaimVault's own database and a plaintext copy ------------------------------------------------------------------
def _populate(world: BillingWorld, rng: random.Random) -> dict[str, str]:
    """Patients (one with every contact field), coverage, encounters and claims; returns the SSNs by patient id."""
    ssns: dict[str, str] = {}
    for n in range(4):
        _, encounter_id = world.patient(family=f"Scanfamily{n}", seed=n + 1)
        with world.gate() as gate:
            create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id))
        with world.gate() as gate:
            patient = create_patient(
                gate=gate,
                data=PatientCreate(
                    given_name="Grace", family_name=f"Contact{n}", birth_date=date(1980, 2, 1 + n), sex="F",
                    ssn=_ssn(rng), mrn=f"MRN{rng.randrange(10**7):07d}", phone=f"217-555-01{10 + n}",
                    email=f"patient{n}@example.com", address_line1=f"{10 + n} Oak Avenue", city="Springfield",
                    state="IL", postal_code="62704",
                ),
                confirm_new=True,
            )  # fmt: skip
            ssns[str(patient.id)] = "set"
    return ssns


def _decrypted_copy(world: BillingWorld, scan: DatabaseScan) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables whose encrypted columns hold values, decrypted through the PHI gate as the system."""
    policy = load_data_policy()
    models = {str(getattr(m.class_, "__tablename__", "")): m.class_ for m in Base.registry.mappers}
    copy: dict[str, list[dict[str, Any]]] = {}
    with world.gate("scan-db plaintext copy") as gate:
        for table in scan.tables:
            wanted = [c.column for c in policy.encrypted_columns(table.name) if table.column(c.column).sampled]
            if not wanted or table.name not in models:
                continue
            model = models[table.name]
            records = gate.select(sa.select(model), model=model, permission=Permission.PATIENT_READ)
            copy[table.name] = [{"id": str(r.id), **{c: r.values[c] for c in wanted}} for r in records]
    return copy


def _write_copy(engine: sa.Engine, copy: dict[str, list[dict[str, Any]]], schema: str | None) -> None:
    policy = load_data_policy()
    meta = sa.MetaData(schema=schema)
    for table, rows in copy.items():
        columns = [
            sa.Column(name, sa.Date if policy.column(table, name).value_type == "date" else sa.Text)
            for name in rows[0]
            if name != "id"
        ]
        sa.Table(table, meta, sa.Column("id", sa.String(36), primary_key=True), *columns)
    meta.create_all(engine)
    with engine.begin() as conn:
        for table, rows in copy.items():
            conn.execute(meta.tables[f"{schema}.{table}" if schema else table].insert(), rows)


@contextmanager
def _claimvault_database(backend: Any, tmp_path: Path, settings: Settings) -> Iterator[tuple[BillingWorld, str]]:
    """A populated ClaimVault database whose rows are committed, and the URL a scanner reads it with (PostgreSQL:
    the run's own database as its owner, truncated afterwards)."""
    with backend.database(tmp_path, committed=True) as db:
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        try:
            world = build_billing_world(rt, slug=f"scan{uuid.uuid4().hex[:8]}")
            _populate(world, random.Random(9))
            url = backend.owner_url if backend.name == "postgresql" else f"sqlite:///{db.engine.url.database}"
            yield world, url
        finally:
            rt.close()


def test_claimvault_database_shows_protected_columns_and_a_plaintext_copy_does_not(
    backend: Any, tmp_path: Path, settings: Settings
) -> None:
    policy = load_data_policy()
    with _claimvault_database(backend, tmp_path, settings) as (world, url):
        scan = scan_database(url, schema="public" if backend.name == "postgresql" else None, sample=100)
        assert all(t.status == "scanned" for t in scan.tables), [t.name for t in scan.tables if t.status != "scanned"]
        checked, mistakes = [], []
        for table in scan.tables:
            for col in table.columns:
                entry = policy.columns.get((table.name, col.name))
                if entry is not None and entry.encrypted and col.sampled:
                    checked.append(f"{table.name}.{col.name}")
                    assert col.protection == "encrypted" and col.protected, (table.name, col.name, col.protection)
                    assert col.ciphertext_values == col.sampled and col.key_ids >= 1
                    assert col.level == max(POLICY_LEVEL[entry.classification], col.level, key=lambda lv: lv.rank)
                    assert not col.unprotected and col.previews == ()
                elif col.level == Level.restricted and col.unprotected:
                    mistakes.append(f"{table.name}.{col.name}")
        expected = {"patients.ssn", "patients.birth_date", "patients.mrn", "patients.email", "coverages.member_id",
                    "encounter_diagnoses.code", "service_lines.procedure_code", "providers.tax_id"}  # fmt: skip
        assert expected <= set(checked), expected - set(checked)
        assert not mistakes, f"plain columns reported restricted and unprotected: {mistakes}"
        assert scan.table("patients").column("ssn_bidx").protection == "binary"  # a blind index: not ciphertext
        assert scan.table("patients").level == Level.restricted

        copy = _decrypted_copy(world, scan)
        assert {"patients", "coverages", "encounter_diagnoses", "service_lines", "providers"} <= set(copy)
        plain_path = tmp_path / "plain.db"
        plain_engine = sa.create_engine(f"sqlite:///{plain_path}")
        _write_copy(plain_engine, copy, None)
        plain_engine.dispose()
        targets: list[tuple[str, str | None]] = [(f"sqlite:///{plain_path}", None)]
        schema = f"cv_plain_{uuid.uuid4().hex[:10]}"
        owner = sa.create_engine(url) if backend.name == "postgresql" else None
        try:
            if owner is not None:
                with owner.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
                _write_copy(owner, copy, schema)
                targets.append((url, schema))
            for target, target_schema in targets:
                plain = scan_database(target, schema=target_schema, sample=100)
                for copied, rows in copy.items():
                    for name in rows[0]:
                        if name == "id" or all(r[name] is None for r in rows):
                            continue
                        col = plain.table(copied).column(name)
                        entry = policy.column(copied, name)
                        assert col.protection == "plaintext" and col.unprotected, (copied, name, col.protection)
                        assert col.level == max(POLICY_LEVEL[entry.classification], col.level, key=lambda lv: lv.rank)
                        if entry.classification in ("PHI", "financial", "secret"):
                            assert col.level == Level.restricted, (copied, name)
                ssn = plain.table("patients").column("ssn")
                assert (ssn.best_type, ssn.level, ssn.hit_rate) == ("US_SSN", Level.restricted, 1.0)
                assert "evidence" in ssn.basis and ssn.previews and all(p.startswith("*****") for p in ssn.previews)
                assert plain.table("patients").column("email").types.get("EMAIL")
        finally:
            if owner is not None:
                with owner.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                owner.dispose()


# MySQL / MariaDB ---------------------------------------------------------------------------------------------------
@pytest.fixture
def mysql_url() -> Iterator[str]:
    url = os.environ.get(MYSQL_ENV, MYSQL_DEFAULT)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError:
        pytest.skip(f"no MySQL/MariaDB server reachable at {MYSQL_ENV} (default {MYSQL_DEFAULT})")
    finally:
        engine.dispose()
    yield url


def test_mysql_tables_are_scanned_sampled_and_dropped(mysql_url: str) -> None:
    rng = random.Random(5)
    name = f"cvscan_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(mysql_url)
    meta = sa.MetaData()
    people = sa.Table(
        name, meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("ssn", sa.String(11)),
        sa.Column("contact_email", sa.String(80)), sa.Column("visits", sa.Integer),
        sa.Column("notes_enc", sa.LargeBinary), sa.Column("blob_random", sa.LargeBinary),
    )  # fmt: skip
    key, key_id = AESGCM.generate_key(256), uuid7()
    rows = [
        {"id": i + 1, "ssn": _ssn(rng), "contact_email": f"member{i}@example.org", "visits": rng.randrange(1, 9),
         "notes_enc": _field_ciphertext(f"note {i}".encode(), key, key_id), "blob_random": secrets.token_bytes(48)}
        for i in range(60)
    ]  # fmt: skip
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(people.insert(), rows)
        scan = scan_database(mysql_url, schema=make_db(mysql_url), tables=[name], sample=20)
        (table,) = scan.tables
        assert scan.dialect in ("mysql", "mariadb") and table.sampled_rows == 20 and table.row_estimate == 60
        assert table.sample_method == "random order"
        ssn, email, visits = table.column("ssn"), table.column("contact_email"), table.column("visits")
        assert (ssn.best_type, ssn.level, ssn.protection, ssn.unprotected) == ("US_SSN", Level.restricted,
                                                                                "plaintext", True)  # fmt: skip
        assert ssn.hints == ("US_SSN",) and ssn.sampled == 20 and ssn.hit_rate == 1.0
        assert email.best_type == "EMAIL" and email.level == Level.confidential
        assert visits.level == Level.public and visits.score == 0
        enc, rnd = table.column("notes_enc"), table.column("blob_random")
        assert (enc.protection, enc.protected, enc.key_ids, enc.level) == ("encrypted", True, 1, Level.confidential)
        assert rnd.protection == "binary" and not rnd.protected and rnd.entropy is not None and rnd.entropy > 6
        assert table.level == Level.restricted and table.score == ssn.score
        text = json.dumps(scan.to_json())
        assert not any(str(r["ssn"]) in text or str(r["contact_email"]) in text for r in rows)
    finally:
        meta.drop_all(engine)
        engine.dispose()
    with sa.create_engine(mysql_url).connect() as conn:
        assert name not in sa.inspect(conn).get_table_names()


def make_db(url: str) -> str:
    database = sa.make_url(url).database
    assert database
    return database


# Sampling ----------------------------------------------------------------------------------------------------------
def _sqlite_file(tmp_path: Path, rows: int, *, ssn: bool) -> Path:
    path = tmp_path / f"sample-{rows}-{ssn}.db"
    rng = random.Random(rows)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY, patient_ssn TEXT, room INTEGER)")
        conn.executemany(
            "INSERT INTO visits VALUES (?, ?, ?)",
            [(i, _ssn(rng) if ssn else None, rng.randrange(100)) for i in range(rows)],
        )
    conn.close()
    return path


def test_sqlite_sample_size_is_honoured(tmp_path: Path) -> None:
    path = _sqlite_file(tmp_path, 500, ssn=True)
    (table,) = scan_database(f"sqlite:///{path}", sample=25).tables
    assert (table.row_estimate, table.row_estimate_exact, table.sampled_rows) == (500, True, 25)
    assert table.sample_method == "random order" and table.column("patient_ssn").sampled == 25
    (small,) = scan_database(f"sqlite:///{path}", sample=1000).tables
    assert (small.sampled_rows, small.sample_method) == (500, "all rows")


def test_postgres_statement_uses_tablesample() -> None:
    tbl = sa.table("claims", sa.column("id"), sa.column("member_id"), schema="billing")
    stmt, method = sample_statement("postgresql", tbl, 50_000, 100)
    sql = str(stmt.compile(dialect=postgresql.dialect()))
    assert method == "tablesample bernoulli 0.6%" and "TABLESAMPLE bernoulli(0.600000)" in sql and "LIMIT" in sql
    stmt, method = sample_statement("postgresql", tbl, 5_000_000, 100)
    assert method.startswith("tablesample system") and "TABLESAMPLE system" in str(
        stmt.compile(dialect=postgresql.dialect())
    )
    assert sample_statement("postgresql", tbl, 80, 100)[1] == "all rows"


def test_postgres_scan_samples_a_large_table_with_tablesample(backend: Any) -> None:
    if backend.name != "postgresql":
        pytest.skip("TABLESAMPLE is PostgreSQL's")
    schema = f"cv_sample_{uuid.uuid4().hex[:10]}"
    owner = sa.create_engine(backend.owner_url)
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    try:
        with owner.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            conn.execute(sa.text(f'CREATE TABLE "{schema}".events (id int PRIMARY KEY, code text)'))
            conn.execute(sa.text(f"INSERT INTO \"{schema}\".events SELECT g, 'E' || g FROM generate_series(1, 6000) g"))
        with owner.connect() as conn:
            conn.execute(sa.text(f'ANALYZE "{schema}".events'))
            conn.commit()
        sa.event.listen(sa.Engine, "before_cursor_execute", capture)
        try:
            (table,) = scan_database(backend.owner_url, schema=schema, sample=40).tables
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", capture)
        assert table.row_estimate == 6000 and not table.row_estimate_exact
        assert table.sample_method == "tablesample bernoulli 2%" and 0 < table.sampled_rows <= 40
        assert any(f"FROM {schema}.events AS s TABLESAMPLE bernoulli(2.000000)" in s for s in seen), seen
    finally:
        with owner.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        owner.dispose()


# Errors, exit codes and JSON ---------------------------------------------------------------------------------------
def test_errors_are_one_line_and_mask_the_password(tmp_path: Path) -> None:
    out = _invoke("postgresql+psycopg://scanner:hunter2secret@127.0.0.1:1/claims")
    assert out.exit_code == 1
    assert "could not be reached" in out.output and "scanner:***@127.0.0.1:1" in out.output
    assert "hunter2secret" not in out.output
    bad = _invoke("::not a url hunter2secret::")
    assert bad.exit_code == 1 and "could not be parsed" in bad.output and "hunter2secret" not in bad.output
    missing = tmp_path / "absent.db"
    gone = _invoke(f"sqlite:///{missing}")
    assert gone.exit_code == 1 and "No SQLite database file" in gone.output and not missing.exists()
    with pytest.raises(DatabaseScanError, match="Unsupported database type"):
        scan_database("oracle://u:hunter2secret@host/db")


def test_authentication_failure_is_reported_without_the_password(mysql_url: str) -> None:
    url = sa.make_url(mysql_url).set(username=f"nobody{secrets.token_hex(3)}", password="hunter2secret")
    out = _invoke(url.render_as_string(hide_password=False))
    assert out.exit_code == 1 and "Authentication failed" in out.output and "***" in out.output
    assert "hunter2secret" not in out.output


def test_fail_on_exit_codes_and_json_shape(tmp_path: Path) -> None:
    hot = f"sqlite:///{_sqlite_file(tmp_path, 30, ssn=True)}"
    cold = f"sqlite:///{_sqlite_file(tmp_path, 30, ssn=False)}"
    assert _invoke(hot, "--fail-on", "restricted").exit_code == 1
    assert _invoke(cold, "--fail-on", "restricted").exit_code == 0
    assert _invoke(cold, "--fail-on", "public").exit_code == 1
    assert _invoke(hot).exit_code == 0
    out = _invoke(hot, "--format", "json", "--sample", "10", "--table", "visits")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert list(doc) == ["database", "tables"]
    assert doc["database"] == {
        "url": hot,
        "dialect": "sqlite",
        "level": "restricted",
        "score": doc["database"]["score"],
    }
    (table,) = doc["tables"]
    assert list(table) == ["schema", "name", "status", "reason", "level", "score", "row_estimate",
                           "row_estimate_exact", "sample_method", "sampled_rows", "notes", "columns"]  # fmt: skip
    assert (table["name"], table["sampled_rows"], table["level"]) == ("visits", 10, "restricted")
    column = next(c for c in table["columns"] if c["name"] == "patient_ssn")
    assert list(column) == ["name", "data_type", "hints", "sampled", "hits", "hit_rate", "types", "best_type",
                            "confidence", "level", "score", "basis", "protection", "protected", "unprotected",
                            "ciphertext_values", "key_ids", "entropy", "previews"]  # fmt: skip
    assert column["types"] == {"US_SSN": 10} and column["unprotected"] is True and column["score"] >= 90
    assert _invoke(hot, "--table", "nope").exit_code == 1
