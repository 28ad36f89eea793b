"""Verifying the audit log, and writing checkpoints that only a verified log can get.

``verify_log`` recomputes every leaf hash, the hash chain and the Merkle tree from the stored bodies, checks the
queryable columns and patient references against the bodies, checks every checkpoint's signature (against a
pinned public key when one is given) and that the log reproduces every checkpoint's root and chain head, which
also proves each checkpoint consistent with the ones before it. Any failure names the first position that can no
longer be vouched for.

``write_checkpoint`` extends the tree from the latest checkpoint it trusts (its own signature, root reproduced by
the saved compact range), re-checks the chain of every event since, and refuses to sign a log that does not
verify, so a checkpoint never blesses tampering.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from claimvault.security.audit.checkpoints import Checkpoint, CheckpointSigner, CheckpointSink
from claimvault.security.audit.log import first_column_mismatch, first_reference_mismatch, stream_batches, stream_log
from claimvault.security.audit.merkle import EMPTY_ROOT, CompactRange
from claimvault.security.audit.sequencer import GENESIS, Sequencer
from claimvault.storage.database import AUDIT_READER, Database


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

    good_until = 0  # every position below this is covered by a checkpoint the log reproduces (or by the chain)
    # The column and reference checks are plain SQL scans: run them beside the hashing pass (the drivers release
    # the GIL while the database works), unless every session shares one connection (tests).
    parallel = not db.shares_one_connection
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = (
            [pool.submit(_sql_check, db, first_column_mismatch), pool.submit(_sql_check, db, first_reference_mismatch)]
            if parallel
            else []
        )
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
            if parallel:
                column, reference = (f.result() for f in futures)
            else:
                column, reference = first_column_mismatch(session), first_reference_mismatch(session)
    if column is not None:
        result.fail(f"event at position {column}: a column differs from the recorded event", column)
    if reference is not None:
        result.fail(f"event at position {reference}: patient references differ from the event", reference)
    return result


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
