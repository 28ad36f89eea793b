"""Cost of field encryption on a protected read through the PHI gate, as a ratio to the same read without it.

Run from the repository root:

    .venv/bin/python bench/gate_read.py                                   # SQLite only
    .venv/bin/python bench/gate_read.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Per backend it builds a throw-away database with the real migrations (SQLite: a temp file; PostgreSQL: a temp
database created with the given superuser URL, used by a NOBYPASSRLS application role as in production, dropped
afterwards), two organizations with their data keys, and N patients in each. One organization's rows are written
with real AES-256-GCM; the other's with a null cipher (same ciphertext layout and length, the plaintext in place of
the AES-GCM body, no key lookup). A read is the whole gate path: ``open_gate`` (a tenant-scoped transaction),
``gate.select`` (tenant check, authorization, row fetch, decrypt, masking, audit event insert) and the commit.
The two modes run interleaved in the same process; each round times ``--iterations`` reads per mode and the
ratio is the median per-read time with encryption over the median without. Target: at most 1.5x.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from claimvault.accounts.services import create_organization
from claimvault.billing.patients.models import Patient
from claimvault.security.context import SystemContext, system_context
from claimvault.security.crypto import fields
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.storage.database import Database, create_db_engine
from claimvault.storage.migrate import upgrade

TARGET = 1.5
ENCRYPTED_COLUMNS = ("given_name", "family_name", "birth_date", "ssn")
BENCH_ROLE = "claimvault_app_bench"
_HEADER = 1 + 16 + 12  # format version, data key id, nonce (fields.py layout)
_TAG = 16


# The null cipher: same call path and ciphertext length, no AES-GCM and no data-key lookup. -------------------
def _null_encrypt(self: fields.OrgCrypto, *, plaintext: bytes, **_: object) -> bytes:
    return bytes([fields.FORMAT_V1]) + bytes(_HEADER - 1) + plaintext + bytes(_TAG)


def _null_open(self: fields.OrgCrypto, *, ciphertext: bytes, **_: object) -> bytes:
    if len(ciphertext) < _HEADER + _TAG or ciphertext[0] != fields.FORMAT_V1:
        raise fields.DecryptionError("unrecognised ciphertext format")
    return ciphertext[_HEADER:-_TAG]


@contextmanager
def null_cipher() -> Iterator[None]:
    real = fields.OrgCrypto.encrypt, fields.OrgCrypto.decrypt
    fields.OrgCrypto.encrypt, fields.OrgCrypto.decrypt = _null_encrypt, _null_open  # type: ignore[method-assign]
    try:
        yield
    finally:
        fields.OrgCrypto.encrypt, fields.OrgCrypto.decrypt = real  # type: ignore[method-assign]


@contextmanager
def real_cipher() -> Iterator[None]:
    yield


# Databases ------------------------------------------------------------------------------------------------------
@contextmanager
def sqlite_database(workdir: Path) -> Iterator[Database]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    db = Database(create_db_engine(url))
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[Database]:
    admin = make_url(admin_url)
    name = f"claimvault_bench_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": BENCH_ROLE}).first() is None:
            conn.execute(text(f"CREATE ROLE {BENCH_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"))
        conn.execute(text(f"ALTER ROLE {BENCH_ROLE} PASSWORD '{password}'"))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    owner = admin.set(database=name)
    app = owner.set(username=BENCH_ROLE, password=password)
    db: Database | None = None
    try:
        upgrade(owner.render_as_string(hide_password=False), app_role=BENCH_ROLE)
        db = Database(create_db_engine(app.render_as_string(hide_password=False), pool_size=2))
        yield db
    finally:
        if db is not None:
            db.dispose()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# The measurement ------------------------------------------------------------------------------------------------
def seed(db: Database, keys: KeyService, *, slug: str, count: int) -> tuple[SystemContext, list[uuid.UUID]]:
    org = create_organization(db=db, keys=keys, ctx=None, slug=slug, name=slug.title())
    writer = system_context("bench", organization_id=org.id, permissions={Permission.PATIENT_CREATE})
    ids: list[uuid.UUID] = []
    with open_gate(db=db, keys=keys, ctx=writer) as gate:
        for i in range(count):
            values = {
                "given_name": f"Given{i:05d}",
                "family_name": f"Family{i:05d}",
                "birth_date": date(1940, 1, 1) + timedelta(days=i),
                "ssn": f"{100 + i % 500:03d}{10 + i % 89:02d}{1000 + i:04d}",
            }
            ids.append(gate.create(Patient, values, permission=Permission.PATIENT_CREATE).id)
    reader = system_context(
        "bench", organization_id=org.id, permissions={Permission.PATIENT_READ, Permission.PATIENT_LIST}
    )
    return reader, ids


def read_rows(db: Database, keys: KeyService, ctx: SystemContext, ids: list[uuid.UUID]) -> int:
    with open_gate(db=db, keys=keys, ctx=ctx) as gate:
        records = gate.select(
            select(Patient).where(Patient.id.in_(ids)), model=Patient, permission=Permission.PATIENT_LIST
        )
    return sum(1 for r in records for c in ENCRYPTED_COLUMNS if r.values.get(c) is not None)


def read_one(db: Database, keys: KeyService, ctx: SystemContext, ids: list[uuid.UUID]) -> int:
    with open_gate(db=db, keys=keys, ctx=ctx) as gate:
        record = gate.get(Patient, ids[0], permission=Permission.PATIENT_READ)
    return sum(1 for c in ENCRYPTED_COLUMNS if record.values.get(c) is not None)


def one_read(
    read: Callable[[Database, KeyService, SystemContext, list[uuid.UUID]], int],
    mode: tuple[Callable[[], AbstractContextManager[None]], SystemContext, list[uuid.UUID]],
    db: Database,
    keys: KeyService,
    *,
    n: int,
    rows: int,
) -> float:
    """Seconds for one read of ``rows`` rows (the n-th window of the mode's pool) under the mode's cipher."""
    cipher, ctx, pool = mode
    start = (n * rows) % (len(pool) - rows)
    with cipher():
        started = time.perf_counter()
        read(db, keys, ctx, pool[start : start + rows])
        return time.perf_counter() - started


def run_backend(name: str, db: Database, workdir: Path, args: argparse.Namespace) -> bool:
    keys = KeyService(LocalKeyring.create(workdir / f"keyring-{name}.json"))
    enc_ctx, enc_ids = seed(db, keys, slug=f"bench-enc-{secrets.token_hex(3)}", count=args.records)
    with null_cipher():
        plain_ctx, plain_ids = seed(db, keys, slug=f"bench-plain-{secrets.token_hex(3)}", count=args.records)
    modes = {"encrypted": (real_cipher, enc_ctx, enc_ids), "null cipher": (null_cipher, plain_ctx, plain_ids)}

    fields_read = read_rows(db, keys, enc_ctx, enc_ids[: args.rows])
    with null_cipher():
        assert read_rows(db, keys, plain_ctx, plain_ids[: args.rows]) == fields_read
    ok = True
    for label, read, rows in (
        (f"gate.select, {args.rows} rows = {fields_read} encrypted fields", read_rows, args.rows),
        (f"gate.get, 1 row = {read_one(db, keys, enc_ctx, enc_ids)} encrypted fields", read_one, 1),
    ):
        for setup in modes.values():  # warm-up
            for n in range(max(10, args.iterations // 10)):
                one_read(read, setup, db, keys, n=n, rows=rows)
        # Reads alternate between the modes one by one (order flipped every read), so drift, checkpoints and
        # fsync stalls hit both alike; a round's figure is the median read, the result the median of rounds.
        samples: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.rounds):
            times: dict[str, list[float]] = {m: [] for m in modes}
            for n in range(args.iterations):
                for mode in list(modes) if n % 2 == 0 else list(reversed(modes)):
                    times[mode].append(one_read(read, modes[mode], db, keys, n=n, rows=rows))
            for mode, values in times.items():
                samples[mode].append(statistics.median(values))
        enc = statistics.median(samples["encrypted"])
        plain = statistics.median(samples["null cipher"])
        ratio = enc / plain
        primary = read is read_rows
        verdict = ("PASS" if ratio <= TARGET else "FAIL") if primary else "info"
        ok = ok and (ratio <= TARGET or not primary)
        print(
            f"{name:<10} {label:<42} encrypted {enc * 1e6:8.0f} us  null cipher {plain * 1e6:8.0f} us  "
            f"ratio {ratio:5.3f}x  (target <= {TARGET}x) {verdict}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="superuser URL; also benchmark PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--records", type=int, default=200, help="patients per organization (default 200)")
    parser.add_argument("--rows", type=int, default=3, help="rows per gate.select read (default 3: 12 fields)")
    parser.add_argument("--iterations", type=int, default=200, help="reads per round and mode (default 200)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; the median is reported (default 7)")
    args = parser.parse_args(argv)
    if args.records <= args.rows:
        parser.error("--records must exceed --rows")
    ok = True
    with tempfile.TemporaryDirectory(prefix="claimvault-bench-") as tmp:
        workdir = Path(tmp)
        if not args.no_sqlite:
            with sqlite_database(workdir) as db:
                ok = run_backend("sqlite", db, workdir, args) and ok
        if args.postgres:
            with postgres_database(args.postgres) as db:
                ok = run_backend("postgresql", db, workdir, args) and ok
    print("overall:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
