"""Audit append throughput: concurrent writers recording events while the background sequencer chains them.

Run from the repository root:

    .venv/bin/python bench/audit_append.py                                  # SQLite only
    .venv/bin/python bench/audit_append.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Per backend it builds a throw-away database with the real migrations (as ``gate_read.py`` does; PostgreSQL
through the NOBYPASSRLS application role). ``--writers`` writer *processes* (as a server runs worker processes;
threads in one process would measure the GIL) each run ``--events-per-writer`` events, ``--per-transaction`` per
transaction, exactly as a request records them: ``with db.session(tenant_id=org) as s: record(s, build_event(ctx,
action="read", ...))`` with a fresh request context per transaction.

By default two workloads run, one after the other:

- *requests*, one event per transaction (a request that reads one patient). Reported for information: here the
  writers themselves are the limit, not the log. The baseline below (the same writers with no sequencer at all)
  shows how many transactions per second the machine commits; the log cannot append faster than events arrive.
- *bulk*, ``BULK`` (25) events per transaction (an import or a batch job that records one event per row it
  touches): the writers commit events faster than the log can take them, so this measures the log's append
  throughput, and it is the one judged against the target.

``--per-transaction N`` runs only that workload, judged.

- *baseline*: the same writers, the same rows, no sequencer: the events stay in ``audit_pending``. The rate is
  events committed per second.
- *audited*: the real ``Sequencer`` in its background thread in another process (this one; polling every 10 ms)
  while the writers write: in a server every worker process runs one, and the advisory lock lets one sequence at
  a time, so here one process sequences what eight others commit. The rate is events
  fully sequenced into ``audit_events`` (position, body, chain hash) per second of wall time, from the start
  until the last event is sequenced.

Afterwards the log must hold exactly writers x events-per-writer new events (the same entity ids, nothing left
pending), and ``write_checkpoint`` + ``verify_log`` with a fresh signing key must pass. Target: at least 5,000
events/s on PostgreSQL for the judged workload (``PASS``/``FAIL``, exit status 1 on ``FAIL``); SQLite, which has
a single writer, is reported for information.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gate_read import postgres_database, sqlite_database
from sqlalchemy import text

from claimvault.accounts.services import create_organization
from claimvault.ids import uuid7
from claimvault.security.audit.checkpoints import CheckpointSigner, DirectorySink
from claimvault.security.audit.events import build_event, record
from claimvault.security.audit.log import log_size
from claimvault.security.audit.sequencer import BATCH_SIZE, Sequencer
from claimvault.security.audit.verify import verify_log, write_checkpoint
from claimvault.security.context import UserContext
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.storage.database import AUDIT_READER, AUDIT_SEQUENCER, Database, create_db_engine

TARGET = 5_000  # events per second, PostgreSQL
BULK = 25  # events per writer transaction in the workload judged against TARGET (see the module docstring)
WAIT = 600.0  # seconds to wait for the sequencer to catch up before giving up
SEQUENCER_POLL = 0.01  # seconds the sequencer waits when nothing is pending (the server's default is 0.5)


class CountingSequencer(Sequencer):
    """The real sequencer, noting when the ``target``-th event of the run has been sequenced."""

    def __init__(self, db: Database, *, batch_size: int, target: int) -> None:
        super().__init__(db, batch_size=batch_size)
        self.target = target
        self.sequenced = 0
        self.batches = 0
        self.finished = threading.Event()
        self.finished_at = 0.0

    def sequence_batch(self) -> int:
        done = super().sequence_batch()
        if done:
            self.sequenced += done
            self.batches += 1
            if self.sequenced >= self.target and not self.finished.is_set():
                self.finished_at = time.perf_counter()
                self.finished.set()
        return done


# Databases ------------------------------------------------------------------------------------------------------
@contextmanager
def database(name: str, workdir: Path, admin_url: str | None, *, pool: int) -> Iterator[Database]:
    if name == "sqlite":
        with sqlite_database(workdir) as db:
            yield db
        return
    assert admin_url is not None
    with postgres_database(admin_url) as small:
        # Same database and application role, with a pool that does not make the writers queue for connections.
        url = small.engine.url.render_as_string(hide_password=False)
        db = Database(create_db_engine(url, pool_size=pool))
        try:
            yield db
        finally:
            db.dispose()


# The writers ----------------------------------------------------------------------------------------------------
def _writer(
    url: str,
    org: uuid.UUID,
    n: int,
    per_writer: int,
    per_transaction: int,
    ready: Any,
    results: Any,
) -> None:
    """One writer process (as one server worker process): its own engine, ``per_writer`` events, ``per_transaction``
    per transaction, each transaction with a fresh request context. Reports its finish time and entity ids."""
    try:
        db = Database(create_db_engine(url, pool_size=1))
        user, session_id = uuid7(), uuid7()
        patients = [uuid7() for _ in range(per_writer)]
        with db.session(tenant_id=org) as s:  # connect before the clock starts
            s.execute(text("SELECT 1"))
        ready.wait()
        for start in range(0, len(patients), per_transaction):
            ctx = UserContext(  # one request: a fresh context (request id) per transaction
                user_id=user,
                organization_id=org,
                roles=frozenset({"biller"}),
                source_address=f"198.51.100.{n + 1}",
                session_id=session_id,
                user_agent="Mozilla/5.0 (bench)",
            )
            with db.session(tenant_id=org) as s:
                for patient in patients[start : start + per_transaction]:
                    record(
                        s,
                        build_event(
                            ctx,
                            action="read",
                            permission="patient:read",
                            entity_type="patients",
                            entity_id=patient,
                            patient_ids=[patient],
                            fields=["given_name", "family_name", "birth_date"],
                        ),
                    )
        results.put((time.perf_counter(), patients, None))
        db.dispose()
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        results.put((time.perf_counter(), [], f"{type(exc).__name__}: {exc}"))


def run_writers(
    db: Database,
    org: uuid.UUID,
    *,
    writers: int,
    per_writer: int,
    per_transaction: int = 1,
    before_start: Callable[[], None] | None = None,
) -> tuple[float, float, list[uuid.UUID]]:
    """Start ``writers`` processes that each record ``per_writer`` events, ``per_transaction`` per transaction.

    Returns the start time (all writers connected and released together), the time the last writer finished, and
    the entity ids written. Processes, not threads: a server runs several worker processes, and threads in one
    process would measure the GIL rather than the write path. ``before_start`` runs once every writer has been
    forked and connected, just before they are released (threads are started there, never before a fork).
    """
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Barrier(writers + 1)
    results: Any = ctx.Queue()
    url = db.engine.url.render_as_string(hide_password=False)
    procs = [
        ctx.Process(target=_writer, args=(url, org, n, per_writer, per_transaction, ready, results), daemon=True)
        for n in range(writers)
    ]
    for proc in procs:
        proc.start()
    if before_start is not None:
        before_start()
    ready.wait()
    started = time.perf_counter()
    finished = [results.get(timeout=WAIT) for _ in procs]
    for proc in procs:
        proc.join()
    errors = [error for _, _, error in finished if error]
    if errors:
        raise SystemExit(f"a writer failed: {errors[0]}")
    ended = max(at for at, _, _ in finished)
    return started, ended, [p for _, ids, _ in finished for p in ids]


def pending_count(db: Database) -> int:
    with db.session(tenant_id=None, audit_role=AUDIT_SEQUENCER) as session:
        return int(session.execute(text("SELECT count(*) FROM audit_pending")).scalar_one())


def entity_ids_from(db: Database, position: int) -> list[uuid.UUID]:
    with db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
        rows = session.execute(text("SELECT entity_id FROM audit_events WHERE position >= :p"), {"p": position})
        return [v if isinstance(v, uuid.UUID) else uuid.UUID(v) for (v,) in rows]


def size_of_log(db: Database) -> int:
    with db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
        return log_size(session)


# The measurement ------------------------------------------------------------------------------------------------
def run_backend(name: str, workdir: Path, args: argparse.Namespace, *, judged: bool = True) -> bool:
    total = args.writers * args.events_per_writer
    with database(name, workdir, args.postgres, pool=args.writers + 2) as db:
        keys = KeyService(LocalKeyring.create(workdir / f"keyring-{name}.json"))
        org = create_organization(
            db=db, keys=keys, ctx=None, slug=f"bench-append-{secrets.token_hex(3)}", name="Bench Append"
        ).id
        plain = Sequencer(db)
        plain.drain()

        # Warm-up (connections, caches), then the baseline: pending events only, no sequencer.
        run_writers(db, org, writers=args.writers, per_writer=max(10, args.events_per_writer // 20))
        plain.drain()
        started, ended, _ = run_writers(
            db, org, writers=args.writers, per_writer=args.events_per_writer, per_transaction=args.per_transaction
        )
        baseline = total / (ended - started)
        plain.drain()  # not timed: the audited run starts with nothing pending
        if pending_count(db):
            raise SystemExit("events were left pending before the audited run")

        # Audited: the sequencer in another process (this one), polling every SEQUENCER_POLL seconds and draining
        # whatever the writer processes commit (in a server, whichever worker holds the advisory lock does this).
        first = size_of_log(db)
        sequencer = CountingSequencer(db, batch_size=args.batch, target=total)
        try:
            started, ended, ids = run_writers(
                db,
                org,
                writers=args.writers,
                per_writer=args.events_per_writer,
                per_transaction=args.per_transaction,
                before_start=lambda: sequencer.start(interval=SEQUENCER_POLL),
            )
            if not sequencer.finished.wait(WAIT):
                raise SystemExit(f"only {sequencer.sequenced} of {total} events sequenced after {WAIT:.0f} s")
            done = sequencer.finished_at
        finally:
            sequencer.stop()
        audited = total / (done - started)
        committed = total / (ended - started)

        # Nothing lost: exactly the events written, nothing pending, and the whole log verifies.
        last = size_of_log(db)
        found = entity_ids_from(db, first)
        if last - first != total or sorted(found) != sorted(ids) or pending_count(db):
            raise SystemExit(f"expected {total} new events, found {last - first} ({pending_count(db)} pending)")
        signer = CheckpointSigner(Ed25519PrivateKey.generate())
        sink = DirectorySink(workdir / f"checkpoints-{name}")
        write_checkpoint(db=db, signer=signer, sink=sink)
        result = verify_log(db=db, checkpoints=sink.read_all(), public_key=signer.public_key)
        if not result.ok or result.events != last:
            raise SystemExit(f"verify_log failed: {result.problems[:3]}")

    primary = name == "postgresql" and judged
    ok = audited >= TARGET or not primary
    verdict = ("PASS" if audited >= TARGET else "FAIL") if primary else "info"
    print(
        f"{name:<10} {args.writers} writers x {args.events_per_writer} ({args.per_transaction}/txn): "
        f"sequenced {audited:7,.0f} events/s "
        f"(writers done at {committed:7,.0f}/s; {sequencer.batches} batches, mean {total / sequencer.batches:,.0f})  "
        f"baseline, pending only {baseline:7,.0f} events/s  ratio {audited / baseline:5.3f}x  "
        f"(target >= {TARGET:,}/s) {verdict}"
    )
    print(f"{name:<10} log verified: {result.events:,} events, all {total:,} of the run present, none pending")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="superuser URL; also benchmark PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer processes (default 8)")
    parser.add_argument(
        "--events-per-writer", type=int, default=None, help="events per writer (default 1000 requests, 2000 bulk)"
    )
    parser.add_argument(
        "--per-transaction",
        type=int,
        default=None,
        help="events per writer transaction, judged against the target (default: both workloads, see below)",
    )
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help=f"sequencer batch size (default {BATCH_SIZE})")
    args = parser.parse_args(argv)
    if args.writers < 1 or (args.events_per_writer or 1) < 1 or args.batch < 1 or (args.per_transaction or 1) < 1:
        parser.error("--writers, --events-per-writer, --per-transaction and --batch must be positive")
    # (events per transaction, events per writer, judged against the target)
    if args.per_transaction is not None:
        workloads = [(args.per_transaction, args.events_per_writer or 1000, True)]
    else:
        workloads = [(1, args.events_per_writer or 1000, False), (BULK, args.events_per_writer or 2000, True)]
    ok = True
    with tempfile.TemporaryDirectory(prefix="claimvault-bench-") as tmp:
        workdir = Path(tmp)
        for per_transaction, per_writer, judged in workloads:
            run = argparse.Namespace(
                **{**vars(args), "per_transaction": per_transaction, "events_per_writer": per_writer}
            )
            (workdir / f"{per_transaction}").mkdir()
            if not args.no_sqlite:
                ok = run_backend("sqlite", workdir / f"{per_transaction}", run, judged=judged) and ok
            if args.postgres:
                ok = run_backend("postgresql", workdir / f"{per_transaction}", run, judged=judged) and ok
    print("overall:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
