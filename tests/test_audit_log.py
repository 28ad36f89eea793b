"""The tamper-evident audit log: sequencing, the hash chain and Merkle tree, signed checkpoints, verification, the
tamper suite (edit, delete, insert, swap, truncate, recompute-everything, forged checkpoint signature), and proofs.

Tampering is done the way an attacker with database access would: raw SQL as the schema owner (on PostgreSQL
with triggers bypassed, as a superuser could), after the events were committed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from claimvault.accounts.services import create_organization
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.audit import build_event, record
from claimvault.security.audit.checkpoints import Checkpoint, CheckpointSigner, DirectorySink
from claimvault.security.audit.merkle import leaf_hash, root_from_leaf_hashes
from claimvault.security.audit.proofs import build_proof, check_proof
from claimvault.security.audit.sequencer import GENESIS
from claimvault.security.audit.verify import AuditLogTampered, verify_log, write_checkpoint
from claimvault.security.context import system_context
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.models import AuditEvent, PendingAuditEvent
from tests.conftest import CHEAP_ARGON2

EVENTS = 40


@dataclass
class Log:
    runtime: Runtime
    signer: CheckpointSigner
    sink: DirectorySink
    owner: Engine
    orgs: list[uuid.UUID]
    patients: list[uuid.UUID]
    is_pg: bool

    def add_events(self, count: int, *, start: int = 0) -> None:
        for i in range(start, start + count):
            org = self.orgs[i % 2]
            ctx = system_context("test", organization_id=org, permissions=set())
            with self.runtime.db.session(tenant_id=org) as s:
                record(
                    s,
                    build_event(
                        ctx,
                        action=("read", "update", "search", "create")[i % 4],
                        entity_type="patients",
                        entity_id=self.patients[i % len(self.patients)],
                        patient_ids=[self.patients[i % len(self.patients)], self.patients[(i + 1) % 5]],
                        fields=["family_name"] if i % 4 == 1 else [],
                    ),
                )

    def checkpoint(self) -> Checkpoint:
        return write_checkpoint(
            db=self.runtime.db, signer=self.signer, sink=self.sink, sequencer=self.runtime.sequencer
        )

    def verify(self) -> Any:
        return verify_log(db=self.runtime.db, checkpoints=self.sink.read_all(), public_key=self.signer.public_key)

    def tamper(self, *statements: str, **params: Any) -> None:
        with self.owner.begin() as conn:
            if self.is_pg:
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # a superuser skips triggers
            for statement in statements:
                conn.execute(text(statement), params)

    def rows(self) -> list[tuple[int, str, bytes]]:
        with self.owner.connect() as conn:
            return [
                (int(p), str(b), bytes(c))
                for p, b, c in conn.execute(
                    text("SELECT position, body, chain_hash FROM audit_events ORDER BY position")
                )
            ]


@pytest.fixture
def log(backend: Any, tmp_path: Path) -> Iterator[Log]:
    with backend.database(tmp_path, committed=True) as db:
        settings = Settings(var_dir=tmp_path / "var", **CHEAP_ARGON2)  # type: ignore[arg-type]
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        orgs = [
            create_organization(db=db, keys=rt.keys, ctx=None, slug=slug, name=slug.title()).id
            for slug in ("alpha", "bravo")
        ]
        is_pg = backend.name == "postgresql"
        owner = create_engine(backend.owner_url if is_pg else str(db.engine.url))
        log = Log(
            runtime=rt,
            signer=CheckpointSigner.load_or_create(tmp_path / "keys" / "checkpoint.key"),
            sink=DirectorySink(tmp_path / "checkpoints"),
            owner=owner,
            orgs=orgs,
            patients=[uuid.uuid4() for _ in range(5)],
            is_pg=is_pg,
        )
        try:
            yield log
        finally:
            owner.dispose()


def _hex(value: uuid.UUID) -> str:
    return value.hex


# Sequencing, chain and tree ----------------------------------------------------------------------------------
def test_events_are_sequenced_into_a_contiguous_chained_log(log: Log) -> None:
    log.add_events(EVENTS)
    rows = log.rows()
    assert [p for p, _, _ in rows][-EVENTS:] == list(range(len(rows) - EVENTS, len(rows)))
    previous = GENESIS
    for position, body, chain in rows:
        assert body.startswith(f"cv1|{position}|")
        previous = hashlib.sha256(previous + leaf_hash(body.encode())).digest()
        assert previous == chain
    with log.runtime.db.session(tenant_id=None, audit_role="sequencer") as s:
        assert s.query(PendingAuditEvent).count() == 0
    result = log.verify()
    assert result.ok, result.problems
    assert result.events == len(rows)
    assert result.root_hash == root_from_leaf_hashes([leaf_hash(b.encode()) for _, b, _ in rows])


def test_event_body_holds_every_field_and_no_values(log: Log) -> None:
    log.add_events(2)
    with log.runtime.db.session(tenant_id=log.orgs[1]) as s:
        event = s.query(AuditEvent).filter(AuditEvent.action == "update").one()
        assert event.fields == ["family_name"]
        assert event.actor_type == "system" and event.actor_name and event.roles == ["system"]
        assert set(event.patient_ids) == {str(log.patients[1]), str(log.patients[2])}
        assert event.payload["position"] == event.position and event.payload["id"] == str(event.id)


def test_untouched_log_verifies_with_checkpoints(log: Log) -> None:
    log.add_events(10)
    first = log.checkpoint()
    log.add_events(10, start=10)
    second = log.checkpoint()
    assert second.tree_size > first.tree_size
    result = log.verify()
    assert result.ok, result.problems
    assert result.checkpoints == 2


# The tamper suite ----------------------------------------------------------------------------------------------
def _prepared(log: Log) -> list[tuple[int, str, bytes]]:
    log.add_events(12)
    log.checkpoint()
    log.add_events(12, start=12)
    log.checkpoint()
    assert log.verify().ok
    return log.rows()


def test_editing_a_field_in_the_body_is_detected(log: Log) -> None:
    rows = _prepared(log)
    position, body, _ = rows[5]
    log.tamper(
        "UPDATE audit_events SET body = :b WHERE position = :p",
        b=body.replace("\n{", '\n{"forged":1,', 1),
        p=position,
    )
    result = log.verify()
    assert not result.ok and result.first_bad_position == position


def test_editing_a_queryable_column_is_detected(log: Log) -> None:
    rows = _prepared(log)
    position = rows[7][0]
    log.tamper("UPDATE audit_events SET actor_id = NULL, action = 'list' WHERE position = :p", p=position)
    result = log.verify()
    assert not result.ok and result.first_bad_position == position


def test_changing_the_recorded_time_is_detected(log: Log) -> None:
    rows = _prepared(log)
    position = rows[9][0]
    if log.is_pg:
        log.tamper(
            "UPDATE audit_events SET recorded_at = recorded_at - interval '1 day' WHERE position = :p", p=position
        )
    else:
        log.tamper("UPDATE audit_events SET recorded_at = '2001-01-01 00:00:00.000000' WHERE position = :p", p=position)
    assert log.verify().first_bad_position == position


def test_hiding_a_patient_from_an_event_is_detected(log: Log) -> None:
    # The patients an event touched live in its body only (the query index is derived from it): dropping one from
    # the list, and the count column with it, changes the hashed body.
    rows = _prepared(log)
    position, body, _ = rows[3]
    header, _, rest = body.partition("\n")
    fields = header.split("|")
    listed = fields[11].split(",")
    assert listed != [""] and int(fields[10]) == len(listed)  # the event lists patients
    fields[10], fields[11] = str(len(listed) - 1), ",".join(listed[1:])
    log.tamper(
        "UPDATE audit_events SET body = :b, patient_count = patient_count - 1 WHERE position = :p",
        b="|".join(fields) + "\n" + rest,
        p=position,
    )
    result = log.verify()
    assert not result.ok and result.first_bad_position == position


def test_moving_an_event_to_another_organization_is_detected(log: Log) -> None:
    rows = _prepared(log)
    position = rows[5][0]
    with log.owner.connect() as conn:
        org = conn.execute(
            text("SELECT organization_id FROM audit_events WHERE position = :p"), {"p": position}
        ).scalar()
    other = next(o for o in log.orgs if (o if log.is_pg else o.hex) != org)
    log.tamper(
        "UPDATE audit_events SET organization_id = :o WHERE position = :p",
        o=other if log.is_pg else other.hex,
        p=position,
    )
    assert log.verify().first_bad_position == position


@contextmanager
def _restored(log: Log, definition_sql: str, *, before: str = "") -> Iterator[None]:
    """Put a function or index back as it was afterwards (``before`` first): the PostgreSQL test database outlives
    this test."""
    with log.owner.connect() as conn:
        original = conn.execute(text(definition_sql)).scalar_one()
    try:
        yield
    finally:
        with log.owner.begin() as conn:
            if before:
                conn.execute(text(before))
            conn.exec_driver_sql(original.replace("%", "%%"))


def test_redefining_the_patient_lookup_is_detected(log: Log) -> None:
    # Someone with the owner's rights could make "who accessed patient X" leave events out without touching a row.
    if not log.is_pg:
        pytest.skip("the lookup function is PostgreSQL's")
    _prepared(log)
    with _restored(log, "SELECT pg_get_functiondef('claimvault_audit_patient_positions(text)'::regprocedure)"):
        log.tamper(
            "CREATE OR REPLACE FUNCTION claimvault_audit_patient_positions(patient text) RETURNS SETOF bigint "
            "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS "
            "$$ SELECT e.position FROM public.audit_events e WHERE false $$"
        )
        result = log.verify()
        assert not result.ok and any("lookup function" in p for p in result.problems)
    assert log.verify().ok  # control: put back, the log verifies again


def test_dropping_the_patient_index_is_detected(log: Log) -> None:
    if not log.is_pg:
        pytest.skip("the patient index is PostgreSQL's")
    _prepared(log)
    with _restored(
        log,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_audit_events_patients'",
        before="DROP INDEX IF EXISTS ix_audit_events_patients",
    ):
        log.tamper("DROP INDEX ix_audit_events_patients")
        result = log.verify()
        assert not result.ok and any("patient index" in p for p in result.problems)
    assert log.verify().ok


def test_deleting_a_row_is_detected(log: Log) -> None:
    rows = _prepared(log)
    position = rows[10][0]
    log.tamper("DELETE FROM audit_events WHERE position = :p", p=position)
    result = log.verify()
    assert not result.ok and result.first_bad_position == position


def test_inserting_a_forged_row_is_detected(log: Log) -> None:
    rows = _prepared(log)
    at = rows[6][0]
    # Make room by shifting later rows up one position, then insert a forged event with a plausible chain hash.
    log.tamper(
        "UPDATE audit_events SET position = position + 1000 WHERE position >= :p",
        "UPDATE audit_events SET position = position - 999 WHERE position >= 1000",
        p=at,
    )
    forged = rows[at][1].replace("\n{", '\n{"forged":1,', 1)
    chain = hashlib.sha256(rows[at - 1][2] + leaf_hash(forged.encode())).digest()
    log.tamper(
        "INSERT INTO audit_events (position, id, recorded_at, action, outcome, patient_count, body, chain_hash) "
        "SELECT :p, :id, recorded_at, 'list', outcome, 0, :b, :c FROM audit_events WHERE position = :src",
        p=at,
        id=uuid.uuid4() if log.is_pg else uuid.uuid4().hex,
        b=forged,
        c=chain,
        src=at + 1,
    )
    result = log.verify()
    assert not result.ok and result.first_bad_position is not None and result.first_bad_position <= at + 1


def test_swapping_two_rows_is_detected(log: Log) -> None:
    rows = _prepared(log)
    a, b = rows[2], rows[3]
    log.tamper(
        "UPDATE audit_events SET body = :bb, chain_hash = :bc WHERE position = :a",
        "UPDATE audit_events SET body = :ab, chain_hash = :ac WHERE position = :b",
        a=a[0],
        b=b[0],
        ab=a[1],
        ac=a[2],
        bb=b[1],
        bc=b[2],
    )
    result = log.verify()
    assert not result.ok and result.first_bad_position == a[0]


def test_truncating_the_tail_is_detected(log: Log) -> None:
    rows = _prepared(log)
    keep = len(rows) - 5
    log.tamper("DELETE FROM audit_events WHERE position >= :k", k=keep)
    result = log.verify()
    assert not result.ok and result.first_bad_position == keep
    assert any("truncated" in p for p in result.problems)


def test_recomputing_every_hash_after_an_edit_is_caught_by_the_checkpoints(log: Log) -> None:
    rows = _prepared(log)
    target = 8
    previous = GENESIS
    for position, body, _ in rows:
        if position == target:
            body = body.replace("\n{", '\n{"forged":1,', 1)
        previous = hashlib.sha256(previous + leaf_hash(body.encode())).digest()
        log.tamper(
            "UPDATE audit_events SET body = :b, chain_hash = :c WHERE position = :p",
            b=body,
            c=previous,
            p=position,
        )
    result = log.verify()
    assert not result.ok
    assert result.first_bad_position is not None and result.first_bad_position <= target
    assert any("does not match the log" in p for p in result.problems)
    # And the checkpoint writer refuses to bless the rewritten log.
    with pytest.raises(AuditLogTampered):
        log.checkpoint()


def test_replacing_a_checkpoint_signature_is_detected(log: Log) -> None:
    _prepared(log)
    path = sorted(log.sink.directory.glob("*.json"))[-1]
    data = json.loads(path.read_text())
    attacker = CheckpointSigner.load_or_create(log.sink.directory.parent / "attacker.key")
    forged = attacker.sign(
        tree_size=data["tree_size"],
        root_hash=Checkpoint.from_json(path.read_text()).root_hash,
        chain_head=bytes.fromhex(data["chain_head"]),
        compact_range=(),
    )
    data["signature"] = json.loads(forged.to_json())["signature"]
    path.write_text(json.dumps(data))
    result = log.verify()
    assert not result.ok and any("signature" in p for p in result.problems)


def test_attacker_who_resigns_with_the_local_key_is_caught_by_the_pinned_key(log: Log) -> None:
    """An attacker who can write ./var/ replaces the signing key and rewrites history and every checkpoint; the
    operator's pinned public key still tells."""
    _prepared(log)
    pinned = log.signer.public_key
    for path in log.sink.directory.glob("*.json"):
        path.unlink()
    log.signer = CheckpointSigner.load_or_create(log.sink.directory.parent / "replacement.key")
    log.checkpoint()
    assert log.verify().ok  # fine against the replaced key...
    result = verify_log(db=log.runtime.db, checkpoints=log.sink.read_all(), public_key=pinned)
    assert not result.ok  # ...not against the pinned one


def test_checkpoint_writer_extends_from_the_last_checkpoint(log: Log) -> None:
    log.add_events(5)
    first = log.checkpoint()
    log.add_events(7, start=5)
    second = log.checkpoint()
    rows = log.rows()
    assert second.tree_size == len(rows) and first.tree_size < second.tree_size
    assert second.root_hash == root_from_leaf_hashes([leaf_hash(b.encode()) for _, b, _ in rows])
    assert second.chain_head == rows[-1][2]


# Proofs ------------------------------------------------------------------------------------------------------
def test_inclusion_proof_checks_out_and_rejects_corruption(log: Log) -> None:
    log.add_events(9)
    cp = log.checkpoint()
    with log.owner.connect() as conn:
        event_id = conn.execute(text("SELECT id FROM audit_events WHERE position = 4")).scalar()
    event_uuid = event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(str(event_id))
    proof = build_proof(db=log.runtime.db, event_id=event_uuid, checkpoint=cp, public_key=log.signer.public_key)
    assert check_proof(proof, public_key=log.signer.public_key) == []
    data = json.loads(proof)
    corruptions = {
        "wrong index": {**data, "leaf_index": data["leaf_index"] + 1},
        "wrong leaf": {**data, "leaf_data": data["leaf_data"].replace("|4|", "|5|", 1)},
        "truncated proof": {**data, "audit_path": data["audit_path"][:-1]},
        "garbage appended": {**data, "audit_path": [*data["audit_path"], "00" * 32]},
        "wrong size": {**data, "checkpoint": {**data["checkpoint"], "tree_size": cp.tree_size + 1}},
        "other event": {**data, "event_id": str(uuid.uuid4())},
    }
    for name, corrupted in corruptions.items():
        assert check_proof(json.dumps(corrupted), public_key=log.signer.public_key), name
    other_key = CheckpointSigner.load_or_create(log.sink.directory.parent / "other.key").public_key
    assert check_proof(proof, public_key=other_key)
    assert check_proof("not json", public_key=log.signer.public_key)


def test_canonical_body_round_trips_every_field_and_leaves_out_empty_ones() -> None:
    from datetime import UTC, datetime

    from claimvault.security.audit.canonical import canonical_body, parse_body

    patient, org, actor, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    full = PendingAuditEvent(
        id=uuid.uuid4(),
        organization_id=org,
        recorded_at=datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC),
        action="update",
        outcome="success",
        actor_type="user",
        actor_id=actor,
        actor_name=None,
        roles=["biller"],
        permission="patient:update",
        entity_type="patients",
        entity_id=patient,
        patient_ids=[str(patient)],
        fields=["family_name"],
        purpose_of_use="HPAYMT",
        request_id="r1",
        session_id=session,
        source_address="10.0.0.1",
        user_agent="probe/1.0",
        reason=None,
        detail={"count": 1},
    )
    body = canonical_body(position=42, event=full)
    event = parse_body(body)
    assert event == {
        "position": 42,
        "id": str(full.id),
        "recorded_at": "2026-11-24T10:00:00.123456+00:00",
        "organization_id": str(org),
        "actor_id": str(actor),
        "action": "update",
        "outcome": "success",
        "entity_type": "patients",
        "entity_id": str(patient),
        "patient_ids": [str(patient)],
        "actor_type": "user",
        "actor_name": None,
        "roles": ["biller"],
        "permission": "patient:update",
        "fields": ["family_name"],
        "purpose_of_use": "HPAYMT",
        "request_id": "r1",
        "session_id": str(session),
        "source_address": "10.0.0.1",
        "user_agent": "probe/1.0",
        "reason": None,
        "detail": {"count": 1},
    }
    assert "actor_name" not in body and "reason" not in body  # empty fields are left out of the hashed text
    assert canonical_body(position=42, event=full) == body  # deterministic
    with pytest.raises(ValueError):
        parse_body("cv0|1|2")
