"""Speed of ``audit verify`` over a large audit log, as a ratio to merely streaming the same rows.

Run from the repository root:

    .venv/bin/python bench/audit_verify.py                                  # SQLite, 1,000,000 events
    .venv/bin/python bench/audit_verify.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Per backend it builds a throw-away database with the real migrations (as ``gate_read.py`` does) and a log of N
events. The first ``--real`` events are written as pending events and sequenced by the real ``Sequencer``; the
rest are produced by the same computation in bulk (``canonical_body``, leaf hash, chain hash, the same row
values) and inserted with Core ``executemany`` (SQLite) or ``COPY`` as the database owner (PostgreSQL, which
refuses ``COPY FROM`` under row-level security). The bulk path is checked against the real sequencer's rows for
the prefix, and ``write_checkpoint`` (which refuses a log that does not verify) signs the whole log.

Then ``verify_log`` (chain, Merkle root, checkpoint, column and patient-reference checks, through the app role
under row-level security; on a log this size the range pass in worker processes) is timed against the baseline,
``stream_log`` over the same rows without hashing, alternating, ``--rounds`` times each; the medians are reported.
Target: at least 300,000 events/s verified (``PASS``/``FAIL``, exit status 1 on ``FAIL``). ``--breakdown`` also
times the range pass in one process and the serial path; ``--profile`` adds a cProfile of one ``verify_log`` run
(the parent process only: the workers are forked).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from itertools import islice
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gate_read import postgres_database, sqlite_database
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from claimvault.accounts.services import create_organization
from claimvault.security.audit import verify as verify_module
from claimvault.security.audit.checkpoints import CheckpointSigner, DirectorySink
from claimvault.security.audit.log import stream_log
from claimvault.security.audit.merkle import leaf_hash
from claimvault.security.audit.models import AuditEvent, PendingAuditEvent
from claimvault.security.audit.sequencer import GENESIS, Sequencer, chain_next, sequenced_rows
from claimvault.security.audit.verify import verify_log, write_checkpoint
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.storage.database import AUDIT_READER, AUDIT_SEQUENCER, Database

TARGET = 300_000  # events per second
CHUNK = 20_000
EVENT_COLUMNS = (
    "position",
    "id",
    "organization_id",
    "recorded_at",
    "actor_id",
    "action",
    "outcome",
    "entity_type",
    "entity_id",
    "patient_count",
    "body",
    "chain_hash",
)
ACTIONS = (("read", 40), ("list", 25), ("search", 10), ("update", 10), ("create", 6), ("export", 3), ("denied", 6))
ENTITIES = ("patients", "claims", "coverages", "payments")
ROLES = (["biller"], ["front_desk"], ["billing_manager", "biller"], ["practice_admin"])
FIELDS: tuple[list[str], ...] = (["given_name", "family_name"], ["birth_date", "ssn"], [], ["status"])


# Synthetic pending events -----------------------------------------------------------------------------------
@dataclass(slots=True)
class FakePending:
    """The attributes of a ``PendingAuditEvent`` that the sequencer reads, without the ORM instrumentation."""

    id: uuid.UUID
    organization_id: uuid.UUID | None
    recorded_at: datetime
    action: str
    outcome: str
    actor_type: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    roles: list[str]
    permission: str | None
    entity_type: str | None
    entity_id: uuid.UUID | None
    patient_ids: list[str]
    fields: list[str]
    purpose_of_use: str | None
    request_id: str | None
    session_id: uuid.UUID | None
    source_address: str | None
    user_agent: str | None
    reason: str | None
    detail: dict[str, Any] = field(default_factory=dict)


class EventFactory:
    """Deterministic synthetic events: time-ordered ids, 2-3 patients, a mix of actions, users and tenants."""

    def __init__(self, orgs: list[uuid.UUID], *, seed: int = 7, serial: int = 0) -> None:
        self.rng = random.Random(seed)
        self.orgs = orgs
        self.actions = [a for a, weight in ACTIONS for _ in range(weight)]
        people = random.Random(1)  # the same users, sessions and patients in every chunk
        self.users = [uuid.UUID(int=people.getrandbits(128), version=4) for _ in range(50)]
        self.sessions = [uuid.UUID(int=people.getrandbits(128), version=4) for _ in range(200)]
        self.patients = [str(uuid.UUID(int=people.getrandbits(128), version=4)) for _ in range(5000)]
        self.start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
        self.serial = serial

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def make(self) -> FakePending:
        rng = self.rng
        self.serial += 1
        action = rng.choice(self.actions)
        denied = action == "denied"
        user = rng.randrange(len(self.users))
        return FakePending(
            # UUIDv7 layout, increasing: the sequencer takes pending events in id order.
            id=uuid.UUID(int=(0x019A_0000_0000_7000_8000_0000_0000_0000 | self.serial << 16 | rng.getrandbits(16))),
            organization_id=self.orgs[user % len(self.orgs)],
            recorded_at=self.start + timedelta(microseconds=self.serial * 1_537 + rng.randrange(1000)),
            action=action,
            outcome="denied" if denied else "success",
            actor_type="user",
            actor_id=self.users[user],
            actor_name=None,
            roles=sorted(ROLES[user % len(ROLES)]),
            permission="patient:read" if action in ("read", "denied") else f"patient:{action}",
            entity_type=rng.choice(ENTITIES),
            entity_id=self._uuid(),
            patient_ids=sorted(rng.sample(self.patients, rng.choice((2, 2, 3)))),
            fields=sorted(rng.choice(FIELDS)),
            purpose_of_use="HPAYMT",
            request_id=f"{rng.getrandbits(128):032x}",
            session_id=rng.choice(self.sessions),
            source_address=f"198.51.100.{user}",
            user_agent="Mozilla/5.0 (bench)",
            reason="not_permitted" if denied else None,
            detail={"rows": rng.randrange(1, 50)} if action in ("list", "search", "export") else {},
        )


# Building the log -----------------------------------------------------------------------------------------------
def log_head(db: Database) -> tuple[int, bytes]:
    with db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
        last = session.execute(text("SELECT position, chain_hash FROM audit_events ORDER BY position DESC LIMIT 1"))
        row = last.first()
    return (int(row[0]) + 1, bytes(row[1])) if row else (0, GENESIS)


def sequence_prefix(db: Database, factory: EventFactory, count: int) -> None:
    """Write ``count`` events as real pending rows, let the real sequencer take them, and compare with the bulk path."""
    position, previous = log_head(db)
    fakes = [factory.make() for _ in range(count)]
    for org in factory.orgs:
        with db.session(tenant_id=org) as session:
            session.add_all(
                PendingAuditEvent(**{c.name: getattr(f, c.name) for c in fields(FakePending)})
                for f in fakes
                if f.organization_id == org
            )
    Sequencer(db).drain()
    expected, _ = sequenced_rows(sorted(fakes, key=lambda f: f.id), position=position, previous=previous)
    with db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
        stored = list(stream_log(session, start=position))
    got = [(p, body, chain) for p, body, chain in stored]
    want = [(r["position"], r["body"], r["chain_hash"]) for r in expected]
    if got != want:
        raise SystemExit("the bulk path does not reproduce the real sequencer's rows")


Chunk = list[tuple[Any, ...]]


def make_chunk(task: tuple[list[uuid.UUID], int, int, int]) -> Chunk:
    """Rows (without the chain hash) of ``n`` events from ``position``: a pool worker's job.

    The bodies do not depend on the chain, so they are built in parallel; the parent threads the chain through.
    """
    orgs, serial, n, position = task
    factory = EventFactory(orgs, seed=serial, serial=serial)
    rows, _ = sequenced_rows([factory.make() for _ in range(n)], position=position, previous=GENESIS)
    return [tuple(r[c] for c in EVENT_COLUMNS[:-1]) for r in rows]


def bulk_chunks(db: Database, factory: EventFactory, count: int, jobs: int) -> Iterator[Chunk]:
    """Chunks of complete rows (chain hash appended) continuing the log, in position order."""
    position, previous = log_head(db)
    tasks = []
    serial = factory.serial + 1
    while count > 0:
        n = min(CHUNK, count)
        tasks.append((factory.orgs, serial, n, position))
        serial, position, count = serial + n, position + n, count - n
    body_at = EVENT_COLUMNS.index("body")
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        queue = iter(tasks)
        # A few chunks in flight, not the whole log in memory.
        window: deque[AsyncResult[Chunk]] = deque(pool.apply_async(make_chunk, (t,)) for t in islice(queue, 2 * jobs))
        while window:
            rows = window.popleft().get()
            following = next(queue, None)
            if following is not None:
                window.append(pool.apply_async(make_chunk, (following,)))
            complete = []
            for row in rows:
                previous = chain_next(previous, leaf_hash(row[body_at].encode("ascii")))
                complete.append((*row, previous))
            yield complete


def bulk_sqlite(db: Database, factory: EventFactory, count: int, jobs: int) -> None:
    for rows in bulk_chunks(db, factory, count, jobs):
        with db.session(tenant_id=None, audit_role=AUDIT_SEQUENCER) as session:
            session.execute(insert(AuditEvent), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows])


def bulk_postgres(db: Database, admin_url: str, factory: EventFactory, count: int, jobs: int) -> None:
    """COPY as the database owner: PostgreSQL refuses ``COPY FROM`` into a table under row-level security."""
    owner = create_engine(make_url(admin_url).set(database=db.engine.url.database))
    try:
        with owner.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                for rows in bulk_chunks(db, factory, count, jobs):
                    with cur.copy(f"COPY audit_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
        with owner.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE audit_events"))
    finally:
        owner.dispose()


# The measurement ------------------------------------------------------------------------------------------------
def stream_only(db: Database) -> int:
    """The baseline: every row of the log through ``stream_log``, no hashing and no checks."""
    count = 0
    with db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
        for _row in stream_log(session):
            count += 1
    return count


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def breakdown(db: Database, checkpoints: list[Any], public_key: Any) -> list[tuple[str, float]]:
    """The parts of ``verify_log``: the range pass without worker processes, and the serial path (the one that
    names the first bad position when the range pass finds anything wrong)."""
    by_size: dict[int, list[Any]] = defaultdict(list)
    for cp in checkpoints:
        by_size[cp.tree_size].append(cp)

    def one_process() -> None:  # one range after the other, in this process
        if verify_module._verify_in_ranges(db, by_size, jobs=1) is None:
            raise SystemExit("the range pass did not verify the log")

    def serial() -> None:
        result = verify_module.VerifyResult()
        verify_module._verify_serial(db, result, checkpoints, by_size)
        if not result.ok:
            raise SystemExit(f"the serial path failed: {result.problems[:3]}")

    return [
        ("stream_log only (baseline)", timed(lambda: stream_only(db))),
        ("range pass, one process", timed(one_process)),
        ("serial path (exact reports on failure)", timed(serial)),
    ]


@contextmanager
def database(name: str, workdir: Path, admin_url: str | None) -> Iterator[Database]:
    if name == "sqlite":
        with sqlite_database(workdir) as db:
            yield db
    else:
        assert admin_url is not None
        with postgres_database(admin_url) as db:
            yield db


def run_backend(name: str, workdir: Path, args: argparse.Namespace) -> bool:
    with database(name, workdir, args.postgres) as db:
        keys = KeyService(LocalKeyring.create(workdir / f"keyring-{name}.json"))
        orgs = [
            create_organization(db=db, keys=keys, ctx=None, slug=f"bench-audit-{name}-{i}", name=f"Bench {i}").id
            for i in range(3)
        ]
        Sequencer(db).drain()  # the organizations' own events
        factory = EventFactory(orgs)
        started = time.perf_counter()
        real = min(args.real, args.events)
        sequence_prefix(db, factory, real)
        if name == "sqlite":
            bulk_sqlite(db, factory, args.events - real, args.jobs)
        else:
            bulk_postgres(db, args.postgres, factory, args.events - real, args.jobs)
        built = time.perf_counter() - started
        signer = CheckpointSigner(Ed25519PrivateKey.generate())
        sink = DirectorySink(workdir / f"checkpoints-{name}")
        started = time.perf_counter()
        checkpoint = write_checkpoint(db=db, signer=signer, sink=sink)
        signed = time.perf_counter() - started
        size = checkpoint.tree_size
        print(
            f"{name:<10} log of {size:,} events built in {built:.1f} s ({real:,} through the real sequencer); "
            f"write_checkpoint {signed:.1f} s"
        )

        checkpoints = sink.read_all()

        def verify() -> None:
            result = verify_log(db=db, checkpoints=checkpoints, public_key=signer.public_key)
            if not result.ok or result.events != size:
                raise SystemExit(f"verify_log failed: {result.problems[:3]} ({result.events} events)")

        verify_times: list[float] = []
        stream_times: list[float] = []
        for n in range(args.rounds):  # alternate, order flipped every round
            runs = [(verify, verify_times), (lambda: stream_only(db), stream_times)]
            for fn, times in runs if n % 2 == 0 else reversed(runs):
                times.append(timed(fn))
        verify_s = statistics.median(verify_times)
        stream_s = statistics.median(stream_times)
        rate = size / verify_s
        ok = rate >= TARGET
        print(
            f"{name:<10} verify_log {verify_s:6.2f} s = {rate:9,.0f} events/s   stream_log only {stream_s:6.2f} s = "
            f"{size / stream_s:9,.0f} events/s   ratio {verify_s / stream_s:5.2f}x   "
            f"(target >= {TARGET:,} events/s) {'PASS' if ok else 'FAIL'}"
        )
        if args.breakdown:
            for label, seconds in breakdown(db, checkpoints, signer.public_key):
                print(f"{name:<10}   {label:<40} {seconds:6.2f} s  {size / seconds:10,.0f} events/s")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(verify)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
            print(out.getvalue())
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="superuser URL; also benchmark PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log (default 1,000,000)")
    parser.add_argument("--real", type=int, default=2000, help="events through the real sequencer (default 2000)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes building event bodies (default: cores)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each; medians reported (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="also time each stage of verify_log once")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=25, default=0, metavar="N", help="cProfile one verify_log run"
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.rounds < 1:
        parser.error("--events and --rounds must be positive")
    ok = True
    with tempfile.TemporaryDirectory(prefix="claimvault-bench-") as tmp:
        workdir = Path(tmp)
        if not args.no_sqlite:
            ok = run_backend("sqlite", workdir, args) and ok
        if args.postgres:
            ok = run_backend("postgresql", workdir, args) and ok
    print("overall:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
