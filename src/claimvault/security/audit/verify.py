"""Verifying the audit log, and writing checkpoints that only a verified log can get.

``verify_log`` recomputes every leaf hash, the hash chain and the Merkle tree from the stored bodies, checks the
queryable columns against the bodies, checks on PostgreSQL that the patient index and its lookup function are the
ones ClaimVault installs, checks every checkpoint's signature (against a pinned public key when one is given) and
that the log reproduces every checkpoint's root and chain head, which also proves each checkpoint consistent with
the ones before it. Any failure names the first position that can no longer be vouched for.

Large logs are verified in ranges of 2**RANGE_BITS positions by forked worker processes, each counting its range's
column mismatches in SQL and reading its bodies once to hash them; the parent chains the ranges together and
assembles the Merkle tree. All hashing happens here, never in the database. When a range finds anything
unexpected, the whole log is verified again by the serial path, which names the first bad position.

``write_checkpoint`` extends the tree from the latest checkpoint it trusts (its own signature, root reproduced by
the saved compact range), re-checks the chain of every event since, and refuses to sign a log that does not
verify, so a checkpoint never blesses tampering.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.util import Finalize

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from claimvault.security.audit.checkpoints import Checkpoint, CheckpointSigner, CheckpointSink
from claimvault.security.audit.log import (
    chain_hash_at,
    first_column_mismatch,
    log_size,
    range_column_mismatches,
    range_rows,
    stream_batches,
    stream_log,
)
from claimvault.security.audit.merkle import EMPTY_ROOT, CompactRange
from claimvault.security.audit.patient_index import lookup_problems
from claimvault.security.audit.sequencer import GENESIS, Sequencer
from claimvault.storage.database import AUDIT_READER, Database

# Logs of at least PARALLEL_MIN events are verified in one pass per range of 2**RANGE_BITS positions, the ranges
# spread over worker processes; smaller logs (and any log whose fast pass finds anything wrong) take the serial
# path, which names the first bad position.
RANGE_BITS = 16
PARALLEL_MIN = 1 << 17


class AuditLogTampered(Exception):
    """The log does not verify; carries positions only."""

    def __init__(self, message: str, *, position: int | None) -> None:
        super().__init__(message)
        self.position = position


@dataclass
class VerifyResult:
    events: int = 0
    checkpoints: int = 0
    root_hash: bytes = EMPTY_ROOT
    first_bad_position: int | None = None
    problems: list[str] = field(default_factory=list)
    pinned: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, position: int | None) -> None:
        self.problems.append(message)
        if position is not None and (self.first_bad_position is None or position < self.first_bad_position):
            self.first_bad_position = position


def verify_log(*, db: Database, checkpoints: Sequence[Checkpoint], public_key: Ed25519PublicKey) -> VerifyResult:
    result = VerifyResult(checkpoints=len(checkpoints))
    for cp in checkpoints:
        if not cp.verify_signature(public_key):
            result.fail(f"checkpoint {cp.source or cp.tree_size}: signature does not verify with the key", None)
    valid = [cp for cp in checkpoints if cp.verify_signature(public_key)]
    by_size: dict[int, list[Checkpoint]] = defaultdict(list)
    for cp in valid:
        by_size[cp.tree_size].append(cp)
    for size, group in by_size.items():
        if len({(c.root_hash, c.chain_head) for c in group}) > 1:
            result.fail(f"checkpoints at tree size {size} disagree (a fork)", None)
    if db.is_postgresql:  # the index and function that answer "who accessed patient X" are ClaimVault's own
        with db.session(tenant_id=None, audit_role=AUDIT_READER, read_only=True) as session:
            for problem in lookup_problems(session):
                result.fail(problem, None)
    fast = _verify_in_ranges(db, by_size) if _can_split(db) else None
    if fast is not None:
        result.events, result.root_hash = fast
        return result
    _verify_serial(db, result, valid, by_size)
    return result


def _verify_serial(
    db: Database, result: VerifyResult, valid: list[Checkpoint], by_size: dict[int, list[Checkpoint]]
) -> None:
    """Every check in one pass over the log plus the SQL column scan; names the first position that fails."""
    good_until = 0  # every position below this is covered by a checkpoint the log reproduces (or by the chain)
    # The column check is a plain SQL scan: run it beside the hashing pass (the drivers release the GIL while the
    # database works), unless every session shares one connection (tests).
    parallel = not db.shares_one_connection
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_sql_check, db, first_column_mismatch) if parallel else None
        with db.session(tenant_id=None, audit_role=AUDIT_READER, read_only=True) as session:
            cr = CompactRange()
            if 0 in by_size:
                good_until = _check(result, by_size[0], size=0, root=EMPTY_ROOT, chain=GENESIS, good_until=good_until)
            expected, _, broken, good_until = _hash_pass(session, result, cr, by_size, good_until)
            result.events = expected
            result.root_hash = cr.root()
            if not broken:
                longest = max((cp.tree_size for cp in valid), default=0)
                if longest > expected:
                    result.fail(
                        f"the log ends at {expected} events but a checkpoint covers {longest}: truncated", expected
                    )
            column = future.result() if future is not None else first_column_mismatch(session)
    if column is not None:
        result.fail(f"event at position {column}: a column differs from the recorded event", column)


def _sql_check(db: Database, check: Callable[[Session], int | None]) -> int | None:
    with db.session(tenant_id=None, audit_role=AUDIT_READER, read_only=True) as session:
        return check(session)


def _hash_pass(
    session: Session,
    result: VerifyResult,
    cr: CompactRange,
    by_size: dict[int, list[Checkpoint]],
    good_until: int,
    *,
    previous: bytes = GENESIS,
) -> tuple[int, bytes, bool, int]:
    """Recompute leaves, chain and tree from position ``cr.size`` (chained after ``previous``) to the end of the
    log, checking checkpoints in ``by_size`` on the way; returns (events, chain head, broken, good_until)."""
    sha256 = hashlib.sha256
    leaf_prefix = sha256(b"\x00")
    expected = cr.size
    for rows in stream_batches(session, start=expected):
        leaves: list[bytes] = []
        for position, body, chain in rows:
            if position != expected:
                cr.extend(leaves)
                result.fail(f"position {expected} is missing or out of order (found {position} next)", expected)
                return expected, previous, True, good_until
            h = leaf_prefix.copy()
            h.update(body.encode("ascii"))
            leaf = h.digest()
            previous = sha256(previous + leaf).digest()
            if previous != chain:
                cr.extend(leaves)
                result.fail(f"event at position {position} does not match its chain hash", position)
                return expected, previous, True, good_until
            leaves.append(leaf)
            expected += 1
            if expected in by_size:
                cr.extend(leaves)
                leaves = []
                good_until = _check(
                    result, by_size[expected], size=expected, root=cr.root(), chain=previous, good_until=good_until
                )
        cr.extend(leaves)
    return expected, previous, False, good_until


def _check(
    result: VerifyResult, group: list[Checkpoint], *, size: int, root: bytes, chain: bytes, good_until: int
) -> int:
    for cp in group:
        if cp.root_hash != root or cp.chain_head != chain:
            result.fail(
                f"checkpoint {cp.source or size} (tree size {size}) does not match the log: "
                f"an event between positions {good_until} and {size - 1} was altered",
                good_until,
            )
            return good_until
    return size


def write_checkpoint(
    *, db: Database, signer: CheckpointSigner, sink: CheckpointSink, sequencer: Sequencer | None = None
) -> Checkpoint:
    """Sequence what is pending, verify the log since the last trusted checkpoint, then sign and publish."""
    if sequencer is not None:
        sequencer.drain()
    base = _trusted_base(sink.read_all(), signer)
    cr = CompactRange.from_state(size=base.tree_size, hashes=base.compact_range) if base else CompactRange()
    previous = base.chain_head if base else GENESIS
    found = VerifyResult()
    with db.session(tenant_id=None, audit_role=AUDIT_READER, read_only=True) as session:
        if base is not None and base.tree_size > 0:
            last = list(stream_log(session, start=base.tree_size - 1, stop=base.tree_size))
            if not last or bytes(last[0][2]) != base.chain_head:
                raise AuditLogTampered(
                    "The log no longer matches the last checkpoint; run `claimvault audit verify`.",
                    position=base.tree_size - 1,
                )
        _, previous, broken, _ = _hash_pass(session, found, cr, {}, 0, previous=previous)
    if broken:
        raise AuditLogTampered(found.problems[0], position=found.first_bad_position)
    checkpoint = signer.sign(tree_size=cr.size, root_hash=cr.root(), chain_head=previous, compact_range=cr.hashes)
    name = sink.publish(checkpoint)
    return Checkpoint(**{**checkpoint.__dict__, "source": name})


def _trusted_base(checkpoints: Sequence[Checkpoint], signer: CheckpointSigner) -> Checkpoint | None:
    """The largest checkpoint signed by this signer whose compact range reproduces its signed root."""
    for cp in sorted(checkpoints, key=lambda c: c.tree_size, reverse=True):
        if not cp.verify_signature(signer.public_key):
            continue
        try:
            cr = CompactRange.from_state(size=cp.tree_size, hashes=cp.compact_range)
        except ValueError:
            continue
        if cr.root() == cp.root_hash:
            return cp
    return None


# The one-pass range verifier ------------------------------------------------------------------------------------
# Each range [start, stop) is checked in two steps: the database counts the events whose queryable columns do not
# give their body's header (nothing is sent), then the bodies are read once and checked in one loop: contiguous
# positions, leaf and chain hashes against the stored chain (starting from the stored chain hash before the range),
# and the range's own compact Merkle range. The parent then checks that each range continues the chain the
# previous one recomputed and assembles the tree. Anything unexpected makes a range "dirty", and verify_log falls
# back to the serial path, which reports it exactly.
@dataclass(frozen=True)
class _RangeResult:
    start: int
    end: int  # one past the last position verified
    before: bytes  # the stored chain hash of start - 1 (GENESIS at 0): the chain this range continues
    head: bytes  # the recomputed chain hash of end - 1
    hashes: tuple[bytes, ...]  # the compact Merkle range of [start, end) alone
    marks: dict[int, tuple[tuple[bytes, ...], bytes]]  # checkpoint size -> (compact range of [start, size), chain)
    clean: bool


_DIRTY = _RangeResult(start=-1, end=-1, before=b"", head=b"", hashes=(), marks={}, clean=False)
_worker_db: Database | None = None


def _can_split(db: Database) -> bool:
    """Worker sessions need their own connections to the same database (not one shared test connection, not a
    private in-memory SQLite database)."""
    return not db.shares_one_connection and db.engine.url.database not in (None, "", ":memory:")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _verify_in_ranges(
    db: Database, by_size: dict[int, list[Checkpoint]], *, jobs: int | None = None
) -> tuple[int, bytes] | None:
    """(events, root) when every range verifies cleanly and every checkpoint matches; None to fall back.
    ``jobs``: worker processes (default two per CPU; 1 verifies the ranges in this process)."""
    with db.session(tenant_id=None, audit_role=AUDIT_READER, read_only=True) as session:
        size = log_size(session)
    if size < PARALLEL_MIN or max(by_size, default=0) > size:
        return None
    if any(c.root_hash != EMPTY_ROOT or c.chain_head != GENESIS for c in by_size.get(0, ())):
        return None
    span = 1 << RANGE_BITS
    tasks = [
        (start, min(start + span, size), tuple(s for s in by_size if start < s <= min(start + span, size)))
        for start in range(0, size, span)
    ]
    try:
        results = _run_ranges(db, tasks, jobs=2 * _cpus() if jobs is None else jobs)
    except Exception:  # noqa: BLE001 - e.g. a body that is not ASCII: the serial path reports (or raises) exactly
        return None
    cr = CompactRange()
    previous = GENESIS
    for (start, stop, _), got in zip(tasks, results, strict=True):
        if not got.clean or got.start != start or got.end != stop or got.before != previous:
            return None
        for at, (hashes, chain) in sorted(got.marks.items()):
            prefix = cr.copy()
            prefix.append_range(size=at - start, hashes=hashes)
            root = prefix.root()
            if any(c.root_hash != root or c.chain_head != chain for c in by_size[at]):
                return None
        cr.append_range(size=stop - start, hashes=got.hashes)
        previous = got.head
    return size, cr.root()


def _run_ranges(db: Database, tasks: list[tuple[int, int, tuple[int, ...]]], *, jobs: int) -> list[_RangeResult]:
    # Two workers per core by default: while one waits for its rows the other hashes (the database works between).
    jobs = min(len(tasks), jobs)
    # Fork only from a single-threaded process that may have children (the CLI); otherwise verify the ranges here.
    if jobs < 2 or threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return [_verify_range(db, *task) for task in tasks]
    global _worker_db
    _worker_db = db
    try:
        with multiprocessing.get_context("fork").Pool(jobs, initializer=_worker_start) as pool:
            results = pool.map(_worker_range, tasks, chunksize=1)
            pool.close()
            pool.join()
        return results
    finally:
        _worker_db = None


def _worker_start() -> None:
    assert _worker_db is not None
    _worker_db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    Finalize(_worker_db, _worker_db.engine.dispose, exitpriority=10)


def _worker_range(task: tuple[int, int, tuple[int, ...]]) -> _RangeResult:
    assert _worker_db is not None
    return _verify_range(_worker_db, *task)


def _verify_range(db: Database, start: int, stop: int, sizes: tuple[int, ...]) -> _RangeResult:
    with db.session(tenant_id=None, audit_role=AUDIT_READER, read_only=True) as session:
        before = GENESIS if start == 0 else chain_hash_at(session, start - 1)
        if before is None:
            return _DIRTY
        return _range_pass(session, start=start, stop=stop, sizes=set(sizes), before=before)


def _range_pass(session: Session, *, start: int, stop: int, sizes: set[int], before: bytes) -> _RangeResult:
    # The queryable columns give every body's header (counted in the database: nothing to send).
    if range_column_mismatches(session, start=start, stop=stop):
        return _DIRTY
    sha256 = hashlib.sha256
    leaf_prefix = sha256(b"\x00")
    cr = CompactRange()
    marks: dict[int, tuple[tuple[bytes, ...], bytes]] = {}
    previous = before
    expected = start
    for rows in range_rows(session, start=start, stop=stop):
        leaves: list[bytes] = []
        push = leaves.append
        for position, body, chain in rows:
            if position != expected or not body.isascii():  # contiguous; bodies are ASCII
                return _DIRTY
            # Leaf, chain and tree.
            h = leaf_prefix.copy()
            h.update(body)
            leaf = h.digest()
            previous = sha256(previous + leaf).digest()
            if previous != chain:
                return _DIRTY
            push(leaf)
            expected += 1
            if expected in sizes:
                cr.extend(leaves)
                leaves = []
                push = leaves.append
                marks[expected] = (cr.hashes, previous)
        cr.extend(leaves)
    if expected != stop:
        return _DIRTY
    return _RangeResult(
        start=start, end=expected, before=before, head=previous, hashes=cr.hashes, marks=marks, clean=True
    )
