""" "Who accessed patient X" answers from the patients listed in the events' bodies, exactly, on both backends.

The list is the last field of a body's first line. These tests place a patient first, in the middle, last and alone
in that list, and also where it must not count: as the entity of an event that lists other patients, and in another
organization's events. On PostgreSQL the question is answered through the GIN index built from the bodies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from claimvault.accounts.services import create_organization
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.audit import build_event, record
from claimvault.security.audit.patient_index import LOOKUP
from claimvault.security.audit.query import AuditQuery, query_events
from claimvault.security.context import system_context
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.permissions import Permission
from tests.conftest import CHEAP_ARGON2


@dataclass
class World:
    runtime: Runtime
    orgs: list[uuid.UUID]
    is_pg: bool

    def event(self, org: uuid.UUID, *, patients: list[uuid.UUID], entity: uuid.UUID | None = None) -> None:
        ctx = system_context("test", organization_id=org, permissions=set())
        with self.runtime.db.session(tenant_id=org) as s:
            record(
                s,
                build_event(ctx, action="read", entity_type="patients", entity_id=entity, patient_ids=patients),
            )

    def ask(self, org: uuid.UUID, patient: uuid.UUID, *, limit: int = 100, before: int | None = None) -> Any:
        ctx = system_context("test", organization_id=org, permissions={Permission.AUDIT_READ})
        return query_events(
            db=self.runtime.db,
            ctx=ctx,
            query=AuditQuery(patient_id=patient, limit=limit, before=before),
            sequencer=self.runtime.sequencer,
        )


@pytest.fixture
def world(backend: Any, tmp_path: Path) -> Iterator[World]:
    with backend.database(tmp_path, committed=True) as db:
        settings = Settings(var_dir=tmp_path / "var", **CHEAP_ARGON2)  # type: ignore[arg-type]
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        orgs = [create_organization(db=db, keys=rt.keys, ctx=None, slug=s, name=s.title()).id for s in ("qa", "qb")]
        yield World(runtime=rt, orgs=orgs, is_pg=backend.name == "postgresql")


def _ids(n: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(n))  # bodies list patients in id order


def test_who_accessed_a_patient_is_answered_exactly_from_the_bodies(world: World) -> None:
    a, b = world.orgs
    low, x, high = _ids(3)
    other = uuid.uuid4()
    world.event(a, patients=[x, high])  # first in the list
    world.event(a, patients=[low, x, high])  # in the middle
    world.event(a, patients=[low, x])  # last
    world.event(a, patients=[x])  # alone
    world.event(a, patients=[other], entity=x)  # x only as the entity: not an access to x's record by this list
    world.event(a, patients=[])
    world.event(b, patients=[x])  # another organization's access
    page = world.ask(a, x)
    got = [e["patient_ids"] for e in page.events]
    assert got == [  # newest first
        [str(x)],
        [str(low), str(x)],
        [str(low), str(x), str(high)],
        [str(x), str(high)],
    ]
    assert page.next_before is None
    assert [e["patient_ids"] for e in world.ask(b, x).events] == [[str(x)]]
    assert world.ask(a, uuid.uuid4()).events == []


def test_patient_answers_page_without_gaps_or_repeats(world: World) -> None:
    a, _ = world.orgs
    x = uuid.uuid4()
    for i in range(7):
        world.event(a, patients=[x] if i % 2 == 0 else [x, uuid.uuid4()])
        world.event(a, patients=[uuid.uuid4()])
    seen: list[int] = []
    before = None
    while True:
        page = world.ask(a, x, limit=3, before=before)
        seen += [e["position"] for e in page.events]
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == 7 and len(set(seen)) == 7 and seen == sorted(seen, reverse=True)


def test_the_question_is_itself_recorded_with_the_patient(world: World) -> None:
    a, _ = world.orgs
    x = uuid.uuid4()
    world.event(a, patients=[x])
    world.ask(a, x)
    world.runtime.sequencer.drain()
    with world.runtime.db.session(tenant_id=a) as s:
        body = s.execute(text("SELECT body FROM audit_events WHERE action = 'query' ORDER BY position DESC")).scalar()
    assert body is not None and body.split("\n")[0].endswith("|1|" + x.hex)


def test_postgresql_answers_through_the_index_built_from_the_bodies(world: World, backend: Any) -> None:
    if not world.is_pg:
        pytest.skip("PostgreSQL's GIN index")
    a, _ = world.orgs
    x = uuid.uuid4()
    world.event(a, patients=[x])
    ctx = system_context("test", organization_id=a, permissions=set())
    with world.runtime.db.session(tenant_id=a) as s:  # enough of A's events that its index alone is the worse plan
        for _ in range(400):
            record(s, build_event(ctx, action="read", entity_type="patients", patient_ids=[uuid.uuid4()]))
    world.runtime.sequencer.drain()
    owner = create_engine(backend.owner_url)
    try:
        with owner.begin() as conn:
            conn.execute(text("ANALYZE audit_events"))
    finally:
        owner.dispose()
    # The function the application calls, through the application role: the index's scan count in this
    # transaction shows that the function's query was served by the GIN index built from the bodies.
    with world.runtime.db.session(tenant_id=a) as s:
        s.execute(text("SET LOCAL enable_seqscan = off"))
        found = list(s.execute(text(LOOKUP), {"p": x.hex}).scalars())
        scans = s.execute(text("SELECT pg_stat_get_xact_numscans('ix_audit_events_patients'::regclass)")).scalar()
    assert len(found) == 1 and scans and scans > 0


def test_postgresql_lookup_returns_only_the_current_tenants_positions(world: World) -> None:
    if not world.is_pg:
        pytest.skip("PostgreSQL's lookup function")
    a, b = world.orgs
    x = uuid.uuid4()
    world.event(a, patients=[x])
    world.event(b, patients=[x])
    world.runtime.sequencer.drain()
    lookup = text(LOOKUP)
    with world.runtime.db.session(tenant_id=a) as s:
        mine = list(s.execute(lookup, {"p": x.hex}).scalars())
        count = s.execute(text("SELECT count(*) FROM audit_events WHERE position = ANY(:ps)"), {"ps": mine}).scalar()
    assert len(mine) == 1 and count == 1  # the one event of A, visible to A
    with world.runtime.db.session(tenant_id=None) as s:
        assert list(s.execute(lookup, {"p": x.hex}).scalars()) == []  # no tenant: nothing
