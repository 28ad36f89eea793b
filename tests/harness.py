"""Test harness for both backends: a migrated SQLite template copied per test, or a PostgreSQL database
created per run, migrated by the superuser, and used by a dedicated NOBYPASSRLS application role.

PostgreSQL tests run inside one outer transaction that is rolled back; the app's own transactions nest as
savepoints. Tests that need real commits (several connections) ask for ``committed`` mode.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from claimvault.storage.database import Database, create_db_engine
from claimvault.storage.migrate import upgrade
from claimvault.storage.models import metadata

PG_ENV = "CLAIMVAULT_TEST_DATABASE_URL"
APP_ROLE = "claimvault_app_test"
APP_ROLE_PASSWORD = "claimvault-test-role"


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@dataclass
class SQLiteBackend:
    template: Path
    name: str = "sqlite"

    @contextmanager
    def database(self, workdir: Path, *, committed: bool = False) -> Iterator[Database]:
        path = workdir / "claimvault.db"
        shutil.copyfile(self.template, path)
        db = Database(create_db_engine(f"sqlite:///{path}"))
        try:
            yield db
        finally:
            db.dispose()

    @property
    def owner_url(self) -> str:
        return f"sqlite:///{self.template}"


@dataclass
class PostgresBackend:
    owner_url: str  # the superuser (schema owner) URL of the per-run database
    app_url: str
    app_engine: Engine
    name: str = "postgresql"

    @contextmanager
    def database(self, workdir: Path, *, committed: bool = False) -> Iterator[Database]:
        if committed:
            db = Database(self.app_engine)
            try:
                yield db
            finally:
                self.truncate_all()
            return
        connection = self.app_engine.connect()
        outer = connection.begin()
        try:
            yield Database(self.app_engine, bind=connection)
        finally:
            outer.rollback()
            connection.close()

    def truncate_all(self) -> None:
        engine = create_engine(self.owner_url)
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            # The audit log's triggers refuse TRUNCATE; replica mode (superuser only) skips triggers for cleanup.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        engine.dispose()


@contextmanager
def sqlite_backend(tmp_root: Path) -> Iterator[SQLiteBackend]:
    template = tmp_root / "template.db"
    upgrade(f"sqlite:///{template}")
    # Fold the WAL into the main file so a plain copy carries the whole schema.
    engine = create_engine(f"sqlite:///{template}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    yield SQLiteBackend(template=template)


@contextmanager
def postgres_backend() -> Iterator[PostgresBackend]:
    admin_url = make_url(os.environ[PG_ENV])
    dbname = f"claimvault_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}).first()
        if not exists:
            conn.execute(
                text(
                    f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                    f"PASSWORD '{APP_ROLE_PASSWORD}'"
                )
            )
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    owner_url: URL = admin_url.set(database=dbname)
    app_url: URL = owner_url.set(username=APP_ROLE, password=APP_ROLE_PASSWORD)
    owner_str = owner_url.render_as_string(hide_password=False)
    app_str = app_url.render_as_string(hide_password=False)
    upgrade(owner_str, app_role=APP_ROLE)
    app_engine = create_db_engine(app_str, pool_size=5)
    try:
        yield PostgresBackend(owner_url=owner_str, app_url=app_str, app_engine=app_engine)
    finally:
        app_engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()
