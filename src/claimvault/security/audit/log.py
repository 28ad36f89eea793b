"""Reading the sequenced audit log in bulk: the event stream, leaf hashes, and the column/body consistency check.

These run with the audit ``reader`` role (every tenant's events) and use plain SQL for speed: verification reads
every event. The column check compares the queryable columns with each body's header inside the database (the
header the columns give, formatted by SQL, must begin the body), so a tampered column is found without parsing a
million bodies in Python. ``range_rows`` feeds the range verifier: position, body and chain hash straight from the
driver's cursor as bytes, to be hashed in one pass; ``range_column_mismatches`` is the column check of one range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

FETCH = 20_000
RANGE_QUERY = 16_384  # positions per query of a range's rows (a plain cursor's rows are held in memory)

_SQLITE_HEADER = (
    "'cv1|' || e.position || '|' || e.id || '|' || e.recorded_at || '|' || coalesce(e.organization_id, '') || '|' || "
    "coalesce(e.actor_id, '') || '|' || e.action || '|' || e.outcome || '|' || coalesce(e.entity_type, '') || '|' "
    "|| coalesce(e.entity_id, '') || '|' || e.patient_count || '|'"
)

_PG_HEADER = (  # the header as canonical_body writes it; uuids as the hex of their bytes (cheaper than ::text)
    "'cv1|' || e.position::text || '|' || encode(uuid_send(e.id), 'hex') || '|' || "
    "to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '|' || "
    "coalesce(encode(uuid_send(e.organization_id), 'hex'), '') || '|' || "
    "coalesce(encode(uuid_send(e.actor_id), 'hex'), '') || '|' || e.action || '|' || e.outcome || '|' || "
    "coalesce(e.entity_type, '') || '|' || "
    "coalesce(encode(uuid_send(e.entity_id), 'hex'), '') || '|' || e.patient_count::text || '|'"
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


def _range(start: int, stop: int, column: str = "position") -> str:
    return f"{column} >= {int(start)} AND {column} < {int(stop)}"  # ints, formatted: no input reaches the SQL


def _bytes_cursor(session: Session) -> Any:
    """A binary psycopg cursor that loads text as bytes."""
    from psycopg.types.string import ByteaBinaryLoader

    raw: Any = session.connection().connection.dbapi_connection
    cursor = raw.cursor(binary=True)
    cursor.adapters.register_loader("text", ByteaBinaryLoader)
    return cursor


def range_rows(session: Session, *, start: int, stop: int) -> Iterator[list[tuple[Any, ...]]]:
    """Lists of ``(position, body, chain hash)`` rows in ``[start, stop)`` in position order, body and chain hash
    as bytes, for the range verifier. On PostgreSQL each list is one plain query of ``RANGE_QUERY`` positions (a
    server-side cursor costs the server more per row than the rows themselves)."""
    if _is_pg(session):
        cursor = _bytes_cursor(session)
        try:
            for low in range(start, stop, RANGE_QUERY):
                cursor.execute(
                    "SELECT e.position, e.body, e.chain_hash FROM audit_events e "  # noqa: S608 - ints only
                    f"WHERE {_range(low, min(low + RANGE_QUERY, stop), 'e.position')} ORDER BY e.position"
                )
                yield cursor.fetchall()
        finally:
            cursor.close()
        return
    raw: Any = session.connection().connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(
            "SELECT e.position, CAST(e.body AS BLOB), e.chain_hash FROM audit_events e "  # noqa: S608 - ints only
            f"WHERE {_range(start, stop, 'e.position')} ORDER BY e.position"
        )
        while rows := cursor.fetchmany(FETCH):
            yield rows
    finally:
        cursor.close()


def range_column_mismatches(session: Session, *, start: int, stop: int) -> int:
    """How many events in ``[start, stop)`` have queryable columns that disagree with their body's header."""
    if _is_pg(session):
        mismatch = f"strpos(e.body, {_PG_HEADER}) IS DISTINCT FROM 1"
    else:
        mismatch = f"instr(e.body, {_SQLITE_HEADER}) IS NOT 1"
    sql = f"SELECT count(*) FROM audit_events e WHERE {_range(start, stop, 'e.position')} AND {mismatch}"  # noqa: S608
    return int(session.execute(text(sql)).scalar_one())


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
        sql = f"SELECT min(e.position) FROM audit_events e WHERE strpos(e.body, {_PG_HEADER}) IS DISTINCT FROM 1"  # noqa: S608
    else:
        sql = (
            f"SELECT min(e.position) FROM audit_events e "  # noqa: S608 - constant fragments, no input
            f"WHERE instr(e.body, {_SQLITE_HEADER}) IS NOT 1"
        )
    value = session.execute(text(sql)).scalar()
    return None if value is None else int(value)
