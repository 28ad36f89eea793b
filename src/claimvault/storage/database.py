"""Engines and transactional sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on and real transactions (``BEGIN`` emitted by us, not by the
driver). On PostgreSQL each transaction starts with ``set_config('claimvault.org_id', …, true)`` so that
row-level security sees the same tenant as the ORM scoping; without a tenant the setting is empty and RLS
denies every protected row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import claimvault.storage.tenancy  # noqa: F401 - registers the tenant scoping events
from claimvault.storage.tenancy import TENANT_KEY

TENANT_SETTING = "claimvault.org_id"
# Cross-tenant access to the audit log, for the sequencer (moves pending events into the log) and for readers of
# the whole log (verify, prove, export). PostgreSQL's row-level security policies on the audit tables check it.
AUDIT_ROLE_SETTING = "claimvault.audit_role"
AUDIT_SEQUENCER = "sequencer"
AUDIT_READER = "reader"
AUDIT_PENDING_FLAG = "claimvault.audit_pending"  # set by audit.record on a session that wrote events
AUDIT_ROWS_KEY = "claimvault.audit_rows"  # session.info: audit events recorded, written when their transaction commits


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_db_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Create an engine with ClaimVault's safety settings for either backend.

    ``hide_parameters`` keeps bound values (protected data) out of SQLAlchemy's exception messages and logs.
    """
    if is_sqlite(url):
        engine = create_engine(
            url,
            hide_parameters=True,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        url,
        hide_parameters=True,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted ciphertext and indexes are zeroed, not left in pages
    finally:
        cursor.close()


READ_ONLY_OPTION = "claimvault_read_only"


def _sqlite_on_begin(conn: Connection) -> None:
    # The driver runs in autocommit mode (isolation_level=None); we emit BEGIN so transactions and SAVEPOINTs
    # behave as SQLAlchemy expects. IMMEDIATE takes the write lock up front, avoiding upgrade deadlocks; a
    # read-only session takes no write lock, so long readers (audit verification) run beside writers.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY_OPTION) else "BEGIN IMMEDIATE")


class Database:
    """The application's handle on storage: an engine plus a session factory bound to it.

    ``bind`` may be a ``Connection`` holding an outer transaction (tests on PostgreSQL roll every test back);
    sessions then nest in savepoints.
    """

    def __init__(self, engine: Engine, *, bind: Engine | Connection | None = None) -> None:
        self.engine = engine
        self.bind = bind if bind is not None else engine
        self.dialect = engine.dialect.name
        mode = "create_savepoint" if isinstance(self.bind, Connection) else "conditional_savepoint"
        self._factory = sessionmaker(bind=self.bind, expire_on_commit=False, join_transaction_mode=mode)
        # Called after a transaction that wrote audit events commits (the runtime plugs the sequencer in).
        self.on_audit_commit: Callable[[], None] | None = None

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def shares_one_connection(self) -> bool:
        """True when every session nests in one outer connection (tests): no parallel sessions then."""
        return isinstance(self.bind, Connection)

    @contextmanager
    def session(
        self, *, tenant_id: uuid.UUID | None, audit_role: str | None = None, read_only: bool = False
    ) -> Iterator[Session]:
        """One transaction, committed on success and rolled back on any exception.

        ``tenant_id`` must come from a checked membership or a system context, never from request input.
        ``audit_role`` (``sequencer`` or ``reader``) is only for the audit log's own machinery. ``read_only`` (for
        long reads) takes no write lock on SQLite.
        """
        session = self._factory()
        session.info[TENANT_KEY] = tenant_id
        try:
            with session.begin():
                if read_only and not self.is_postgresql and not isinstance(self.bind, Connection):
                    session.connection(execution_options={READ_ONLY_OPTION: True})
                if self.is_postgresql:
                    session.execute(
                        text("SELECT set_config(:name, :value, true), set_config(:audit, :role, true)"),
                        {
                            "name": TENANT_SETTING,
                            "value": str(tenant_id) if tenant_id else "",
                            "audit": AUDIT_ROLE_SETTING,
                            "role": audit_role or "",
                        },
                    )
                yield session
                if session.get_nested_transaction() is not None:
                    # Audit events recorded in a savepoint are written when it is released; committing around an
                    # open one would leave them unwritten. Every savepoint must end (with or try/finally) first.
                    raise RuntimeError("a savepoint is still open at commit")
            wrote_events = session.info.pop(AUDIT_PENDING_FLAG, False)
        finally:
            session.close()
        if wrote_events and self.on_audit_commit is not None:
            self.on_audit_commit()

    def dispose(self) -> None:
        self.engine.dispose()


def connection_role_problems(engine: Engine) -> list[str]:
    """Why the role ``engine`` connects as would not be bound by row-level security (PostgreSQL; data-free).

    Row-level security binds neither a superuser nor a BYPASSRLS role, and a table's owner only where the table
    forces it (the audit log does not force it on its owner: see migration 0023). The application must connect as
    its own role, granted DML only.
    """
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        superuser, bypass, owned = conn.execute(
            text(
                "SELECT r.rolsuper, r.rolbypassrls, (SELECT count(*) FROM pg_tables t "
                "WHERE t.schemaname = 'public' AND t.tableowner = current_user) "
                "FROM pg_roles r WHERE r.rolname = current_user"
            )
        ).one()
    problems = []
    if superuser:
        problems.append("the application connects to PostgreSQL as a superuser, which row-level security never binds")
    if bypass:
        problems.append("the application's PostgreSQL role has BYPASSRLS")
    if owned:
        problems.append("the application's PostgreSQL role owns tables: use the schema owner for migrations only")
    return problems
