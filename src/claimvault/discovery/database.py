"""Database scanning: connect to a SQLAlchemy URL (PostgreSQL, SQLite, MySQL/MariaDB) read-only, reflect its
tables, sample each table's rows and judge every column (``db_columns``): name hints, hit rate, best type and
confidence, level and 0-100 score, row estimate, and protection (ClaimVault ciphertext, other binary, plaintext).

Sampling: PostgreSQL reads ``TABLESAMPLE BERNOULLI`` (``SYSTEM`` above a million rows) at a percentage computed
from ``pg_class.reltuples`` and falls back to ``LIMIT`` for small tables or a short sample; SQLite and MySQL order
small tables randomly and filter large ones with a random predicate, always under ``LIMIT``.

Values never leave this module: results carry counts, types, scores and the recognizers' redacted previews.
Errors say what went wrong (bad URL, unreachable server, refused login) with the password masked, never the
driver's message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from claimvault.discovery.classification import Level
from claimvault.discovery.db_columns import (
    MIN_HIT_RATE,
    ColumnEvidence,
    Protection,
    byte_entropy,
    column_hints,
    judge,
)
from claimvault.discovery.profile import DEFAULT_PROFILE, ScanProfile
from claimvault.errors import ClaimVaultError
from claimvault.security.data_policy import DataPolicy, load_data_policy

DEFAULT_SAMPLE = 200
MAX_SAMPLE = 100_000
COUNT_CAP = 100_000  # a table with no statistics is counted up to this many rows
SYSTEM_SAMPLE_ABOVE = 1_000_000  # PostgreSQL rows above which TABLESAMPLE SYSTEM (pages) replaces BERNOULLI
OVERSAMPLE = 3.0  # TABLESAMPLE percentage is computed for this many times the wanted rows (LIMIT trims)
SYSTEM_SCHEMAS = {
    "postgresql": frozenset({"information_schema", "pg_catalog"}),
    "mysql": frozenset({"information_schema", "mysql", "performance_schema", "sys"}),
    "mariadb": frozenset({"information_schema", "mysql", "performance_schema", "sys"}),
    "sqlite": frozenset({"temp"}),
}
SUPPORTED = ("postgresql", "sqlite", "mysql", "mariadb")


class DatabaseScanError(ClaimVaultError):
    """The database could not be scanned. The message names the (password-masked) URL and the kind of failure."""

    code = "database_scan_failed"


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``; an unparseable URL is not echoed at all."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"


@dataclass(frozen=True)
class ColumnResult:
    name: str
    data_type: str
    hints: tuple[str, ...]
    sampled: int  # non-null values sampled
    hits: int  # of which values with at least one finding
    types: dict[str, int]  # entity type -> sampled values holding it
    best_type: str | None
    confidence: float
    level: Level
    score: int
    basis: str
    protection: Protection
    ciphertext_values: int
    key_ids: int  # distinct ClaimVault data key ids seen in the ciphertext headers
    entropy: float | None  # bits per byte of the sampled binary values
    previews: tuple[str, ...]  # redacted, from the recognizers

    @property
    def hit_rate(self) -> float:
        return round(self.hits / self.sampled, 3) if self.sampled else 0.0

    @property
    def protected(self) -> bool:
        return self.protection == "encrypted"

    @property
    def unprotected(self) -> bool:
        """Sensitive (confidential or above) and readable as stored."""
        return self.level.rank >= Level.confidential.rank and self.protection in ("plaintext", "mixed")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "data_type": self.data_type, "hints": list(self.hints), "sampled": self.sampled,
            "hits": self.hits, "hit_rate": self.hit_rate, "types": dict(sorted(self.types.items())),
            "best_type": self.best_type, "confidence": self.confidence, "level": str(self.level), "score": self.score,
            "basis": self.basis, "protection": self.protection, "protected": self.protected,
            "unprotected": self.unprotected, "ciphertext_values": self.ciphertext_values, "key_ids": self.key_ids,
            "entropy": self.entropy, "previews": list(self.previews),
        }  # fmt: skip


@dataclass(frozen=True)
class TableResult:
    schema: str | None
    name: str
    status: str  # "scanned" or "unreadable"
    reason: str | None = None
    row_estimate: int | None = None
    row_estimate_exact: bool = False
    sample_method: str | None = None
    sampled_rows: int = 0
    columns: tuple[ColumnResult, ...] = field(default=())
    notes: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def level(self) -> Level:
        return max((c.level for c in self.columns), key=lambda lv: lv.rank, default=Level.public)

    @property
    def score(self) -> int:
        return max((c.score for c in self.columns), default=0)

    def column(self, name: str) -> ColumnResult:
        return next(c for c in self.columns if c.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "name": self.name, "status": self.status, "reason": self.reason,
            "level": str(self.level), "score": self.score, "row_estimate": self.row_estimate,
            "row_estimate_exact": self.row_estimate_exact, "sample_method": self.sample_method,
            "sampled_rows": self.sampled_rows, "notes": list(self.notes),
            "columns": [c.to_json() for c in self.columns],
        }  # fmt: skip


@dataclass(frozen=True)
class DatabaseScan:
    url: str  # password masked
    dialect: str
    tables: tuple[TableResult, ...]

    @property
    def level(self) -> Level:
        return max((t.level for t in self.tables), key=lambda lv: lv.rank, default=Level.public)

    @property
    def score(self) -> int:
        return max((t.score for t in self.tables), default=0)

    def table(self, name: str, schema: str | None = None) -> TableResult:
        return next(t for t in self.tables if t.name == name and (schema is None or t.schema == schema))

    def to_json(self) -> dict[str, Any]:
        return {"database": {"url": self.url, "dialect": self.dialect, "level": str(self.level), "score": self.score},
                "tables": [t.to_json() for t in self.tables]}  # fmt: skip


# Connecting ------------------------------------------------------------------------------------------------------
def _engine(url: str | URL) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseScanError("The database URL could not be parsed.") from None
    shown = mask_url(parsed)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise DatabaseScanError(f"Unsupported database type in {shown}: use postgresql, sqlite or mysql.")
    args: dict[str, Any] = {}
    if backend == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:" or not Path(path).is_file():
            raise DatabaseScanError(f"No SQLite database file at {shown}.")
        uri = "file:" + str(Path(path).resolve()) + "?mode=ro"
        return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=sa.pool.NullPool)
    args["connect_args"] = {"connect_timeout": 10}
    try:
        return sa.create_engine(parsed, poolclass=sa.pool.NullPool, **args)
    except (NoSuchModuleError, ImportError):
        raise DatabaseScanError(f"No database driver installed for {shown}.") from None
    except (ArgumentError, TypeError, ValueError):
        raise DatabaseScanError(f"The database URL {shown} is not usable.") from None


def _connection_failure(exc: BaseException, shown: str) -> DatabaseScanError:
    """A one-line reason for a failed connection, from the driver's error class and code (its text not shown)."""
    orig = getattr(exc, "orig", None)
    detail = str(orig or exc).lower()
    code = orig.args[0] if orig is not None and getattr(orig, "args", None) else None
    if code == 1045 or "password authentication failed" in detail or "access denied" in detail:
        return DatabaseScanError(f"Authentication failed for {shown}.")
    if code == 1049 or ("database" in detail and "does not exist" in detail) or "unknown database" in detail:
        return DatabaseScanError(f"The database named in {shown} does not exist.")
    if "unable to open" in detail:
        return DatabaseScanError(f"The SQLite database at {shown} could not be opened.")
    if code in (2003, 2005) or any(
        w in detail for w in ("connection refused", "could not connect", "can't connect", "timeout", "timed out",
                              "translate host", "name or service", "no route", "unreachable", "is the server running")
    ):  # fmt: skip
        return DatabaseScanError(f"The database server for {shown} could not be reached.")
    return DatabaseScanError(f"Could not connect to {shown}.")


def _prepare_session(conn: Connection, dialect: str) -> None:
    if dialect == "postgresql":
        conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.exec_driver_sql("SET statement_timeout = '120s'")
    elif dialect in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    else:
        conn.exec_driver_sql("PRAGMA query_only = ON")


# Sampling ----------------------------------------------------------------------------------------------------------
def _bounded_count(conn: Connection, tbl: sa.TableClause) -> tuple[int, bool]:
    inner = sa.select(sa.literal(1).label("one")).select_from(tbl).limit(COUNT_CAP + 1).subquery()
    n = int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())
    return min(n, COUNT_CAP), n <= COUNT_CAP


def row_estimate(conn: Connection, dialect: str, tbl: sa.TableClause) -> tuple[int, bool]:
    """(rows, exact): the planner's statistics where they exist, else a count bounded at ``COUNT_CAP``."""
    if dialect == "postgresql":
        name = f"{tbl.schema}.{tbl.name}" if tbl.schema else tbl.name
        quoted = ".".join(conn.dialect.identifier_preparer.quote(p) for p in name.split(".", 1))
        est = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:n)"), {"n": quoted})
        value = est.scalar()
        if value is not None and value > 0:
            return int(value), False
    elif dialect in ("mysql", "mariadb"):
        q = sa.text(
            "SELECT table_rows FROM information_schema.tables WHERE table_schema = COALESCE(:s, DATABASE()) "
            "AND table_name = :t"
        )
        value = conn.execute(q, {"s": tbl.schema, "t": tbl.name}).scalar()
        if value is not None and int(value) > COUNT_CAP:
            return int(value), False
    return _bounded_count(conn, tbl)


def sample_statement(dialect: str, tbl: sa.TableClause, rows: int, sample: int) -> tuple[sa.Select[Any], str]:
    """The SELECT that samples up to ``sample`` rows of a table estimated at ``rows``, and its description."""
    cols = list(tbl.c)
    if rows <= sample:
        return sa.select(*cols).select_from(tbl).limit(sample), "all rows"
    if dialect == "postgresql":
        if rows <= 10 * sample:
            return sa.select(*cols).select_from(tbl).order_by(sa.func.random()).limit(sample), "random order"
        pct = min(100.0, 100.0 * OVERSAMPLE * sample / rows)
        method = "system" if rows > SYSTEM_SAMPLE_ABOVE else "bernoulli"
        sampled = sa.tablesample(tbl, getattr(sa.func, method)(sa.literal_column(f"{pct:.6f}")), name="s")
        return sa.select(*sampled.c).select_from(sampled).limit(sample), f"tablesample {method} {pct:.4g}%"
    rand = sa.func.rand() if dialect in ("mysql", "mariadb") else sa.func.random()
    if rows <= COUNT_CAP:
        return sa.select(*cols).select_from(tbl).order_by(rand).limit(sample), "random order"
    share = min(1.0, OVERSAMPLE * sample / rows)
    # SQLite's random() is a signed 64-bit integer; MySQL's rand() a float in [0, 1).
    where = rand < share if dialect in ("mysql", "mariadb") else sa.func.abs(rand) < int(share * 9.2e18)
    return sa.select(*cols).select_from(tbl).where(where).limit(sample), f"random filter {share * 100:.4g}%"


def _notes(conn: Connection, dialect: str, tbl: sa.TableClause) -> tuple[str, ...]:
    if dialect != "postgresql":
        return ()
    q = sa.text(
        "SELECT c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls OR (c.relowner = r.oid AND NOT "
        "c.relforcerowsecurity)) FROM pg_class c, pg_roles r WHERE c.oid = to_regclass(:n) AND r.rolname = current_user"
    )
    name = ".".join(
        conn.dialect.identifier_preparer.quote(p) for p in ([tbl.schema] if tbl.schema else []) + [tbl.name]
    )
    hidden = conn.execute(q, {"n": name}).scalar()
    return ("row-level security applies to this role: the sample may miss rows",) if hidden else ()


# Scanning ----------------------------------------------------------------------------------------------------------
def _scan_table(
    conn: Connection,
    dialect: str,
    schema: str | None,
    name: str,
    columns: Sequence[Mapping[str, Any]],
    *,
    sample: int,
    profile: ScanProfile,
    policy: DataPolicy,
    min_hit_rate: float,
) -> TableResult:
    tbl = sa.table(name, *[sa.column(c["name"]) for c in columns], schema=schema)
    rows, exact = row_estimate(conn, dialect, tbl)
    stmt, method = sample_statement(dialect, tbl, rows, sample)
    fetched = conn.execute(stmt).all()
    if dialect == "postgresql" and method.startswith("tablesample") and len(fetched) < min(sample, rows) // 2:
        stmt, method = sa.select(*tbl.c).select_from(tbl).limit(sample), "limit (short tablesample)"
        fetched = conn.execute(stmt).all()
    evidence = [ColumnEvidence(c["name"], str(c["type"]), column_hints(c["name"])) for c in columns]
    for row in fetched:
        for ev, value in zip(evidence, row, strict=True):
            ev.add(value, profile)
    sampled_rows = len(fetched)
    del fetched
    results = []
    for ev in evidence:
        verdict = judge(ev, policy.columns.get((name, ev.name)), min_hit_rate)
        shown = tuple(ev.previews.get(verdict.best_type or "", [])) if ev.text else ()
        entropy = round(byte_entropy(bytes(ev.binary_sample)), 2) if ev.binary else None
        results.append(
            ColumnResult(
                name=ev.name, data_type=ev.data_type, hints=ev.hints, sampled=ev.non_null, hits=ev.hit_values,
                types=dict(ev.type_values), best_type=verdict.best_type, confidence=round(verdict.confidence, 3),
                level=verdict.level, score=verdict.score, basis=verdict.basis, protection=ev.protection,
                ciphertext_values=ev.ciphertext, key_ids=len(ev.key_ids), entropy=entropy, previews=shown,
            )
        )  # fmt: skip
    return TableResult(
        schema, name, "scanned", None, rows, exact, method, sampled_rows, tuple(results), _notes(conn, dialect, tbl)
    )


def _targets(conn: Connection, dialect: str, schema: str | None, tables: Sequence[str]) -> list[tuple[str | None, str]]:
    inspector = sa.inspect(conn)
    if dialect == "sqlite":
        schemas: list[str | None] = [None]
    elif schema is not None:
        schemas = [schema]
    else:
        system = SYSTEM_SCHEMAS.get(dialect, frozenset())
        names = inspector.get_schema_names()
        schemas = [s for s in names if s not in system and not s.startswith(("pg_toast", "pg_temp"))]
    wanted = set(tables)
    found = [(s, t) for s in schemas for t in sorted(inspector.get_table_names(schema=s))]
    if wanted:
        found = [(s, t) for s, t in found if t in wanted or (s is not None and f"{s}.{t}" in wanted)]
        missing = wanted - {t for _, t in found} - {f"{s}.{t}" for s, t in found}
        if missing:
            raise DatabaseScanError(f"No such table to scan: {', '.join(sorted(missing))}.")
    return found


def scan_database(
    url: str | URL,
    *,
    schema: str | None = None,
    tables: Sequence[str] = (),
    sample: int = DEFAULT_SAMPLE,
    profile: ScanProfile = DEFAULT_PROFILE,
    policy: DataPolicy | None = None,
    min_hit_rate: float = MIN_HIT_RATE,
    progress: Callable[[int, int], None] | None = None,
) -> DatabaseScan:
    """Scan the tables of ``url`` (all non-system schemas, or ``schema``; all tables, or ``tables`` by name or
    ``schema.name``), sampling up to ``sample`` rows each. ``progress(done, total)`` is called per table.
    ``policy``: ClaimVault's data policy (the default), which names the protected columns of its own schema."""
    if not 1 <= sample <= MAX_SAMPLE:
        raise DatabaseScanError(f"The sample size must be between 1 and {MAX_SAMPLE}.")
    shown = mask_url(url)
    policy = policy or load_data_policy()
    engine = _engine(url)
    dialect = engine.dialect.name
    try:
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            raise _connection_failure(exc, shown) from None
        except SQLAlchemyError:
            raise DatabaseScanError(f"Could not connect to {shown}.") from None
        with conn:
            try:
                _prepare_session(conn, dialect)
                conn.commit()
                targets = _targets(conn, dialect, schema, tables)
                conn.rollback()
            except SQLAlchemyError:
                raise DatabaseScanError(f"Could not list the tables of {shown}.") from None
            results: list[TableResult] = []
            for done, (sch, name) in enumerate(targets, start=1):
                results.append(
                    _scan_one(conn, dialect, sch, name, sample=sample, profile=profile, policy=policy,
                              min_hit_rate=min_hit_rate)
                )  # fmt: skip
                if progress is not None:
                    progress(done, len(targets))
    finally:
        engine.dispose()
    return DatabaseScan(shown, dialect, tuple(results))


def _scan_one(
    conn: Connection,
    dialect: str,
    schema: str | None,
    name: str,
    *,
    sample: int,
    profile: ScanProfile,
    policy: DataPolicy,
    min_hit_rate: float,
) -> TableResult:
    """One table, in its own transaction: a table that cannot be read is reported with a reason, not raised."""
    try:
        columns = sa.inspect(conn).get_columns(name, schema=schema)
        return _scan_table(conn, dialect, schema, name, columns, sample=sample, profile=profile, policy=policy,
                           min_hit_rate=min_hit_rate)  # fmt: skip
    except DBAPIError as exc:
        detail = str(exc.orig).lower()
        reason = "permission denied" if "permission denied" in detail or "denied" in detail else "could not be sampled"
        return TableResult(schema, name, "unreadable", reason)
    except SQLAlchemyError:
        return TableResult(schema, name, "unreadable", "could not be sampled")
    finally:
        conn.rollback()  # read-only: ends the table's transaction (and clears an aborted one)
