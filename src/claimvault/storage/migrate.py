"""Run the Alembic migrations programmatically, as the schema owner, then grant the application role.

On PostgreSQL the application connects as its own role (NOBYPASSRLS, not the table owner), which gets only the
privileges it needs: DML on ordinary tables, and append-only access (SELECT, INSERT) to the audit trail.
"""

from __future__ import annotations

import re
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text

from claimvault.storage.models import metadata

APPEND_ONLY_TABLES = ("audit_events",)
# Functions the application calls (PostgreSQL; created by migrations, EXECUTE revoked from PUBLIC).
APP_FUNCTIONS = ("public.claimvault_audit_patient_positions(text)",)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("claimvault.storage").joinpath("migrations")))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(bind: str | Engine | Connection, *, app_role: str | None = None) -> None:
    """Bring the schema to head. ``bind`` must belong to the schema owner."""
    if isinstance(bind, str):
        engine = create_engine(bind, hide_parameters=True)
        try:
            upgrade(engine, app_role=app_role)
        finally:
            engine.dispose()
        return
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            upgrade(conn, app_role=app_role)
        return
    cfg = alembic_config()
    cfg.attributes["connection"] = bind
    command.upgrade(cfg, "head")
    if bind.dialect.name == "postgresql" and app_role:
        grant_app_role(bind, app_role)


def grant_app_role(conn: Connection, role: str) -> None:
    """Give ``role`` what the application needs and nothing more (idempotent). The role must already exist."""
    if not _ROLE_NAME.match(role):
        raise ValueError("invalid role name")
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        return
    conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
    for table in metadata.sorted_tables:
        if table.name in APPEND_ONLY_TABLES:
            conn.execute(text(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{table.name}" FROM "{role}"'))
            conn.execute(text(f'GRANT SELECT, INSERT ON "{table.name}" TO "{role}"'))
        else:
            conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table.name}" TO "{role}"'))
    conn.execute(text(f'GRANT SELECT ON alembic_version TO "{role}"'))
    for function in APP_FUNCTIONS:  # a restore (pg_restore --no-privileges) brings functions back with PUBLIC's EXECUTE
        conn.execute(text(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC"))
        conn.execute(text(f'GRANT EXECUTE ON FUNCTION {function} TO "{role}"'))
