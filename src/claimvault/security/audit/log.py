"""Reading the sequenced audit log in bulk: the event stream, leaf hashes, and the column/body consistency checks.

These run with the audit ``reader`` role (every tenant's events) and use plain SQL for speed: verification reads
every event. The column checks compare the queryable columns, and the patient references, with each body's header
inside the database, so a tampered column is found without parsing a million bodies in Python. ``range_rows`` and
``range_refs`` feed the one-pass range verifier instead: each event row comes once, with the header its columns
give and its references aggregated beside it, straight from the driver's cursor as bytes, to be hashed and compared
in the same pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

FETCH = 20_000

_SQLITE_HEADER = (
    "'cv1|' || e.position || '|' || e.id || '|' || e.recorded_at || '|' || coalesce(e.organization_id, '') || '|' || "
    "coalesce(e.actor_id, '') || '|' || e.action || '|' || e.outcome || '|' || coalesce(e.entity_type, '') || '|' "
    "|| coalesce(e.entity_id, '') || '|' || e.patient_count || '|'"
)
_PG_HEADER = (
    "'cv1|' || e.position::text || '|' || replace(e.id::text, '-', '') || '|' || "
    "to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '|' || "
    "coalesce(replace(e.organization_id::text, '-', ''), '') || '|' || "
    "coalesce(replace(e.actor_id::text, '-', ''), '') || '|' || e.action || '|' || e.outcome || '|' || "
    "coalesce(e.entity_type, '') || '|' || "
    "coalesce(replace(e.entity_id::text, '-', ''), '') || '|' || e.patient_count::text || '|'"
)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def stream_batches(
    session: Session, *, start: int = 0, stop: int | None = None
) -> Iterator[list[tuple[int, str, bytes]]]:
    """Yield lists of ``(position, body, chain_hash)`` rows in position order, straight from the driver's cursor
    (a server-side cursor on PostgreSQL): verification reads every event, so per-row overhead matters."""
    pg = _is_pg(session)
    mark = "%s" if pg else "?"
    sql = f"SELECT position, body, chain_hash FROM audit_events WHERE position >= {mark}"  # noqa: S608 - constant
    params: list[int] = [start]
    if stop is not None:
        sql += f" AND position < {mark}"
        params.append(stop)
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    cursor: Any = raw.cursor(name="claimvault_audit_stream") if pg else raw.cursor()
    try:
        if pg:
            cursor.itersize = FETCH
        cursor.execute(sql + " ORDER BY position", params)
        while rows := cursor.fetchmany(FETCH):
            yield rows
    finally:
        cursor.close()


_PG_HEADER_FAST = (  # _PG_HEADER with cheaper uuid text (hex of the raw bytes): the same string
    "'cv1|' || e.position::text || '|' || encode(uuid_send(e.id), 'hex') || '|' || "
    "to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '|' || "
    "coalesce(encode(uuid_send(e.organization_id), 'hex'), '') || '|' || "
    "coalesce(encode(uuid_send(e.actor_id), 'hex'), '') || '|' || e.action || '|' || e.outcome || '|' || "
    "coalesce(e.entity_type, '') || '|' || "
    "coalesce(encode(uuid_send(e.entity_id), 'hex'), '') || '|' || e.patient_count::text || '|'"
)


def _range(start: int, stop: int, column: str = "position") -> str:
    return f"{column} >= {int(start)} AND {column} < {int(stop)}"  # ints, formatted: no input reaches the SQL


def _bytes_cursor(session: Session, name: str | None = None) -> Any:
    """A binary psycopg cursor that loads text as bytes (server-side when named)."""
    from psycopg.types.string import ByteaBinaryLoader

    raw: Any = session.connection().connection.dbapi_connection
    cursor = raw.cursor(name=name, binary=True) if name else raw.cursor(binary=True)
    cursor.adapters.register_loader("text", ByteaBinaryLoader)
    return cursor


def range_rows(session: Session, *, start: int, stop: int) -> Iterator[list[tuple[Any, ...]]]:
    """Lists of ``(position, body, chain hash, header, organization, patient count)`` rows in ``[start, stop)``
    in position order, for the one-pass verifier. ``header`` is the body header that the queryable columns give
    (what ``first_column_mismatch`` compares), formatted by the database; body, header and organization are bytes
    (the organization as text: ``b""`` for none on PostgreSQL, ``None`` on SQLite)."""
    pg = _is_pg(session)
    if pg:
        cursor = _bytes_cursor(session, "claimvault_audit_range")
        columns = f"e.body, e.chain_hash, {_PG_HEADER_FAST}, coalesce(e.organization_id::text, '')"
    else:
        raw: Any = session.connection().connection.dbapi_connection
        cursor = raw.cursor()
        columns = f"CAST(e.body AS BLOB), e.chain_hash, CAST({_SQLITE_HEADER} AS BLOB), e.organization_id"
    try:
        cursor.execute(
            f"SELECT e.position, {columns}, e.patient_count FROM audit_events e "  # noqa: S608 - constants, ints
            f"WHERE {_range(start, stop, 'e.position')} ORDER BY e.position"
        )
        while rows := cursor.fetchmany(FETCH):
            yield rows
    finally:
        cursor.close()


def range_refs(session: Session, *, start: int, stop: int) -> list[tuple[Any, ...]]:
    """The patient references in ``[start, stop)`` grouped by position, in position order: ``(position, count,
    patient ids as hex joined by commas (bytes), references with an organization, lowest and highest
    organization)``. The ids come in id order when the database aggregates them in the order of the primary key
    index, as both do for this plan (the verifier falls back to the exact checks when they do not match)."""
    pg = _is_pg(session)
    if pg:
        session.connection().exec_driver_sql("SET LOCAL enable_sort = off")  # aggregate in the index's order
        session.connection().exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        cursor = _bytes_cursor(session)
        listed = "string_agg(encode(uuid_send(r.patient_id), 'hex'), ',')"
        orgs = "coalesce(min(r.organization_id::text), ''), coalesce(max(r.organization_id::text), '')"
    else:
        raw: Any = session.connection().connection.dbapi_connection
        cursor = raw.cursor()
        listed = "CAST(group_concat(r.patient_id, ',') AS BLOB)"
        orgs = "min(r.organization_id), max(r.organization_id)"
    try:
        cursor.execute(
            f"SELECT r.position, count(*), {listed}, count(r.organization_id), {orgs} "  # noqa: S608 - constants
            f"FROM audit_patient_refs r WHERE {_range(start, stop, 'r.position')} GROUP BY r.position "
            "ORDER BY r.position"
        )
        return list(cursor.fetchall())
    finally:
        cursor.close()


def chain_hash_at(session: Session, position: int) -> bytes | None:
    """The stored chain hash of ``position`` (None when there is no such event)."""
    value = session.execute(text("SELECT chain_hash FROM audit_events WHERE position = :p"), {"p": position}).scalar()
    return None if value is None else bytes(value)


def stream_log(session: Session, *, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, str, bytes]]:
    """Yield ``(position, body, chain_hash)`` in position order from ``start`` (up to ``stop``, exclusive)."""
    sql = "SELECT position, body, chain_hash FROM audit_events WHERE position >= :start"
    params: dict[str, int] = {"start": start}
    if stop is not None:
        sql += " AND position < :stop"
        params["stop"] = stop
    result = (
        session.connection()
        .execution_options(stream_results=True, yield_per=FETCH)
        .execute(text(sql + " ORDER BY position"), params)
    )
    for partition in result.partitions(FETCH):
        for position, body, chain in partition:
            yield position, body, bytes(chain)


def leaf_hashes(session: Session, *, size: int) -> list[bytes]:
    """The leaf hashes of the first ``size`` events (for proofs). Raises if the log is shorter."""
    sha256 = hashlib.sha256
    hashes = [sha256(b"\x00" + body.encode("ascii")).digest() for _, body, _ in stream_log(session, stop=size)]
    if len(hashes) != size:
        raise LookupError("The audit log is shorter than the requested tree size.")
    return hashes


def log_size(session: Session) -> int:
    last = session.execute(text("SELECT max(position) FROM audit_events")).scalar()
    return 0 if last is None else int(last) + 1


def first_column_mismatch(session: Session) -> int | None:
    """The first position whose queryable columns disagree with its body's header."""
    if _is_pg(session):
        # Constant SQL built from the module's own fragments (no input).
        sql = f"SELECT min(e.position) FROM audit_events e WHERE NOT starts_with(e.body, {_PG_HEADER_FAST})"  # noqa: S608
    else:
        sql = (
            f"SELECT min(e.position) FROM audit_events e "  # noqa: S608 - constant fragments, no input
            f"WHERE instr(e.body, {_SQLITE_HEADER}) IS NOT 1"
        )
    value = session.execute(text(sql)).scalar()
    return None if value is None else int(value)


def first_reference_mismatch(session: Session) -> int | None:
    """The first position whose patient references (the query index) disagree with its body."""
    if _is_pg(session):
        listed = (
            "SELECT min(r.position) FROM audit_patient_refs r JOIN audit_events e ON e.position = r.position "
            "WHERE strpos(split_part(e.body, E'\\n', 1), replace(r.patient_id::text, '-', '')) = 0 "
            "OR r.organization_id IS DISTINCT FROM e.organization_id"
        )
    else:
        listed = (
            "SELECT min(r.position) FROM audit_patient_refs r JOIN audit_events e ON e.position = r.position "
            "WHERE NOT (instr(e.body, r.patient_id) BETWEEN 1 AND instr(e.body, char(10))) "
            "OR r.organization_id IS NOT e.organization_id"
        )
    counted = (
        "SELECT min(e.position) FROM audit_events e LEFT JOIN "
        "(SELECT position, count(*) AS n FROM audit_patient_refs GROUP BY position) c ON c.position = e.position "
        "WHERE e.patient_count <> coalesce(c.n, 0)"
    )
    found = [session.execute(text(sql)).scalar() for sql in (listed, counted)]
    positions = [int(v) for v in found if v is not None]
    return min(positions) if positions else None
