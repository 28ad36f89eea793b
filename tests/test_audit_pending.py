"""Pending audit events are written when their transaction commits, in that transaction, and are dropped with a
transaction or savepoint that rolls back (the semantics the ORM gave them before ``pending.py``), on SQLite and on
PostgreSQL (the one-statement ``unnest`` insert)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.ids import uuid7
from claimvault.security.audit import build_event, record
from claimvault.security.audit.pending import AuditRecord
from claimvault.security.context import system_context
from claimvault.security.models import PendingAuditEvent
from claimvault.storage.database import Database


def _event(marker: uuid.UUID, **extra: Any) -> AuditRecord:
    ctx = system_context("test", organization_id=None, permissions=set())
    return build_event(ctx, action="read", entity_type="patients", entity_id=marker, **extra)


def _written(db: Database, *markers: uuid.UUID) -> list[uuid.UUID]:
    with db.session(tenant_id=None, audit_role="sequencer") as s:
        rows = s.scalars(select(PendingAuditEvent).where(PendingAuditEvent.entity_id.in_(markers))).all()
        return sorted((r.entity_id for r in rows if r.entity_id is not None), key=markers.index)


def test_every_field_is_written_as_recorded(db: Database) -> None:
    marker, patient, session_id = uuid7(), uuid7(), uuid7()
    ctx = system_context("test", organization_id=None, permissions=set())
    event = build_event(
        ctx,
        action="update",
        outcome="failure",
        permission="patient:update",
        entity_type="patients",
        entity_id=marker,
        patient_ids=[patient],
        fields=["family_name", "birth_date"],
        reason="rolled_back",
        detail={"count": 3, "nested": {"a": [1, "é"]}},
    )
    event.session_id, event.request_id, event.user_agent = session_id, "req-1", "Mozilla/5.0 (é)"
    with db.session(tenant_id=None) as s:
        record(s, event)
        record(s, _event(uuid7()))  # two in one statement
    with db.session(tenant_id=None, audit_role="sequencer") as s:
        row = s.scalars(select(PendingAuditEvent).where(PendingAuditEvent.entity_id == marker)).one()
    assert (row.action, row.outcome, row.actor_type) == ("update", "failure", "system")
    assert row.actor_name is not None and row.actor_name.startswith("test")
    assert (row.permission, row.entity_type, row.reason) == ("patient:update", "patients", "rolled_back")
    assert row.patient_ids == [str(patient)] and row.fields == ["birth_date", "family_name"]
    assert row.detail == {"count": 3, "nested": {"a": [1, "é"]}} and row.roles == ["system"]
    assert (row.session_id, row.request_id, row.user_agent) == (session_id, "req-1", "Mozilla/5.0 (é)")
    assert row.organization_id is None and row.id.version == 7 and row.recorded_at is not None


def test_a_transaction_that_rolls_back_writes_none_of_its_events(db: Database) -> None:
    marker = uuid7()
    with pytest.raises(RuntimeError), db.session(tenant_id=None) as s:
        record(s, _event(marker))
        raise RuntimeError("the operation failed")
    assert _written(db, marker) == []


def test_a_savepoint_that_rolls_back_takes_only_its_own_events(db: Database) -> None:
    before, inside, deeper, after = uuid7(), uuid7(), uuid7(), uuid7()
    with db.session(tenant_id=None) as s:
        record(s, _event(before))
        savepoint = s.begin_nested()
        record(s, _event(inside))
        with s.begin_nested():
            record(s, _event(deeper))
        savepoint.rollback()
        record(s, _event(after))
    assert _written(db, before, inside, deeper, after) == [before, after]


def test_events_of_a_released_savepoint_go_with_the_outer_transaction(db: Database) -> None:
    kept, lost = uuid7(), uuid7()
    with db.session(tenant_id=None) as s, s.begin_nested():
        record(s, _event(kept))
    with pytest.raises(RuntimeError), db.session(tenant_id=None) as s:
        with s.begin_nested():
            record(s, _event(lost))
        raise RuntimeError("the outer transaction failed after the savepoint was released")
    assert _written(db, kept, lost) == [kept]


def test_the_event_is_taken_as_it_was_when_recorded(db: Database) -> None:
    marker = uuid7()
    event = _event(marker)
    with db.session(tenant_id=None) as s:
        record(s, event)
        event.action = "delete"  # too late: record() took the values
    with db.session(tenant_id=None, audit_role="sequencer") as s:
        assert s.scalars(select(PendingAuditEvent.action).where(PendingAuditEvent.entity_id == marker)).one() == "read"


def test_many_events_in_one_transaction_keep_their_order(db: Database) -> None:
    markers = [uuid7() for _ in range(120)]
    with db.session(tenant_id=None) as s:
        for m in markers:
            record(s, _event(m, patient_ids=[m]))
    with db.session(tenant_id=None, audit_role="sequencer") as s:
        rows = s.execute(
            select(PendingAuditEvent.entity_id, PendingAuditEvent.patient_ids)
            .where(PendingAuditEvent.entity_id.in_(markers))
            .order_by(PendingAuditEvent.id)
        ).all()
    assert [r[0] for r in rows] == markers and all(r[1] == [str(r[0])] for r in rows)


def test_committing_with_a_savepoint_still_open_is_refused(db: Database) -> None:
    marker = uuid7()
    with pytest.raises(RuntimeError, match="savepoint is still open"), db.session(tenant_id=None) as s:
        s.begin_nested()
        record(s, _event(marker))
    assert _written(db, marker) == []
