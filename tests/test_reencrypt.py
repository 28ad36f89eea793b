"""Re-encryption under fresh data keys: every value moves to the new key (its header says so) and reads back the
same; a run interrupted after one batch resumes without another key; shredded patients stay shredded; and API
reads and writes running during the re-encryption lose nothing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.context import system_context
from claimvault.security.crypto.fields import FORMAT_PATIENT, FORMAT_V1, OrgCrypto
from claimvault.security.crypto.models import PatientKey
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.crypto.reencrypt import run_reencryption
from claimvault.security.crypto.shredding import shred_patient
from claimvault.security.models import AuditEvent, DataKey
from claimvault.security.permissions import Permission
from claimvault.web.app import create_app
from tests.conftest import Member, World

PATIENTS = [
    {"given_name": "Xanthe", "family_name": "Brightwater", "birth_date": "1957-08-19"},
    {"given_name": "Quillon", "family_name": "Marchbanks", "birth_date": "1962-01-02"},
    {"given_name": "Ottoline", "family_name": "Fairweather", "birth_date": "1990-12-31"},
]
COLUMNS = ("given_name", "family_name", "birth_date")


def _ctx() -> Any:
    return system_context("keys reencrypt", organization_id=None, permissions={Permission.KEY_MANAGE})


def _active_field_key(rt: Runtime, org_id: uuid.UUID) -> uuid.UUID:
    with rt.db.session(tenant_id=org_id) as s:
        return s.scalars(
            select(DataKey.id).where(
                DataKey.organization_id == org_id, DataKey.purpose == "field", DataKey.is_active.is_(True)
            )
        ).one()


def _header_keys(rt: Runtime, org_id: uuid.UUID) -> list[tuple[int, uuid.UUID]]:
    with rt.db.session(tenant_id=org_id) as s:
        rows = s.execute(select(*(getattr(Patient, c) for c in COLUMNS)).where(Patient.organization_id == org_id))
        return [(v[0], uuid.UUID(bytes=bytes(v[1:17]))) for row in rows for v in row]


def test_values_move_to_the_new_key_and_read_the_same(world: World, runtime: Runtime) -> None:
    alpha, beta = world.member("alpha", "biller"), world.member("beta", "biller")
    expected = {m.org_slug: {_new_patient(world, m, p): p for p in PATIENTS} for m in (alpha, beta)}
    old = {m.org_id: _active_field_key(runtime, m.org_id) for m in (alpha, beta)}

    report = run_reencryption(db=runtime.db, keys=runtime.keys, ctx=_ctx(), batch_size=2)
    assert report.organizations == 2 and report.rows_reencrypted == 6 and report.resumed == []
    for m in (alpha, beta):
        new = _active_field_key(runtime, m.org_id)
        assert new != old[m.org_id] and report.new_keys[m.org_id] == new
        assert set(_header_keys(runtime, m.org_id)) == {(FORMAT_PATIENT, new)}
        with runtime.db.session(tenant_id=m.org_id) as s:
            versions = {k.version: k.is_active for k in s.scalars(select(DataKey).where(DataKey.purpose == "field"))}
            assert versions == {1: False, 2: True}  # the old key is kept (inactive) for decryption
            assert set(s.scalars(select(PatientKey.wrapping_key_id))) == {new}  # patient keys re-wrapped
            events = list(
                s.scalars(
                    select(AuditEvent).where(AuditEvent.action == "reencrypt", AuditEvent.organization_id == m.org_id)
                )
            )
            assert sum(e.detail["count"] for e in events) == 3 and all(e.actor_type == "system" for e in events)
    assert report.patient_keys_rewrapped == 6
    fresh = _fresh(world)
    for m in (alpha, beta):
        fresh.assert_patients_read(m, expected[m.org_slug])

    # A second run starts another key version and moves everything again.
    again = run_reencryption(db=runtime.db, keys=runtime.keys, ctx=_ctx())
    assert again.rows_reencrypted == 6 and set(_header_keys(runtime, alpha.org_id)) == {
        (FORMAT_PATIENT, _active_field_key(runtime, alpha.org_id))
    }


def _fresh(world: World) -> World:
    rt = world.runtime
    fresh = build_runtime(rt.settings, db=rt.db, key_provider=LocalKeyring(rt.settings.resolved_keyring_path))
    return World(fresh, create_app(settings=fresh.settings, runtime=fresh))


def test_an_interrupted_run_resumes(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    expected = {_new_patient(world, member, p): p for p in PATIENTS}
    seen: list[tuple[int, int]] = []

    def stop_after_first_batch(done: int, total: int) -> None:
        seen.append((done, total))
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_reencryption(db=runtime.db, keys=runtime.keys, ctx=_ctx(), batch_size=1, progress=stop_after_first_batch)
    assert seen == [(0, 3), (1, 3)]
    new = _active_field_key(runtime, member.org_id)
    assert sorted(k == new for _, k in _header_keys(runtime, member.org_id)) == [False] * 6 + [True] * 3
    world.assert_patients_read(member, expected)  # half-way is fully readable

    report = run_reencryption(db=runtime.db, keys=runtime.keys, ctx=_ctx(), batch_size=1)
    assert report.resumed == [member.org_id] and report.new_keys == {} and report.rows_reencrypted == 2
    assert _active_field_key(runtime, member.org_id) == new  # no further key version
    assert {k for _, k in _header_keys(runtime, member.org_id)} == {new}
    _fresh(world).assert_patients_read(member, expected)


def test_legacy_and_shredded_values(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    keep, gone = _new_patient(world, member, PATIENTS[0]), _new_patient(world, member, PATIENTS[1])
    shred_patient(
        db=runtime.db,
        keys=runtime.keys,
        ctx=system_context("t", organization_id=member.org_id, permissions={Permission.PATIENT_SHRED}),
        patient_id=uuid.UUID(gone),
        ledger_path=runtime.settings.shred_ledger_path,
    )
    with runtime.db.session(tenant_id=member.org_id) as s:  # a value written before patient keys existed
        crypto = OrgCrypto(keys=runtime.keys, session=s, org_id=member.org_id)
        row = s.get(Patient, uuid.UUID(keep))
        assert row is not None
        row.given_name = crypto.encrypt(table="patients", column="given_name", row_id=row.id, plaintext=b"Xanthe")
        assert row.given_name[0] == FORMAT_V1

    report = run_reencryption(db=runtime.db, keys=runtime.keys, ctx=_ctx())
    assert report.rows_reencrypted == 1  # the shredded patient's row is left alone
    new = _active_field_key(runtime, member.org_id)
    with runtime.db.session(tenant_id=member.org_id) as s:
        kept = s.get(Patient, uuid.UUID(keep))
        assert kept is not None and kept.given_name[0] == FORMAT_PATIENT and kept.given_name[1:17] == new.bytes
    world.assert_patients_read(member, {keep: PATIENTS[0]})
    # The shredded patient does not look like an unfinished run: the next run makes a new key.
    assert run_reencryption(db=runtime.db, keys=runtime.keys, ctx=_ctx()).resumed == []


@pytest.fixture
def committed_world(backend: Any, tmp_path: Path, settings: Settings) -> Iterator[World]:
    """Real commits (several connections), so worker threads and the re-encryption run truly side by side."""
    with backend.database(tmp_path, committed=True) as db:
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        try:
            yield World(rt, create_app(settings=rt.settings, runtime=rt))
        finally:
            rt.close()


def test_reencryption_during_concurrent_reads_and_writes_loses_nothing(committed_world: World) -> None:
    world = committed_world
    rt = world.runtime
    members = [world.member(slug, "biller") for slug in ("alpha", "beta")]
    created: dict[str, dict[str, dict[str, str]]] = {m.org_slug: {} for m in members}
    for m in members:
        for p in PATIENTS:
            created[m.org_slug][_new_patient(world, m, p)] = p
    failures: list[str] = []
    start = threading.Barrier(len(members) + 1)

    def worker(member: Member) -> None:
        c = world.client(member)
        start.wait()
        for i in range(6):
            body = {**PATIENTS[i % len(PATIENTS)], "given_name": f"Worker{i}"}
            r = c.post(f"/api/v1/orgs/{member.org_slug}/patients", json=body, params={"confirm_new": True})
            if r.status_code != 201:
                failures.append(f"create {r.status_code}")
                continue
            created[member.org_slug][r.json()["id"]] = body
            pid = next(iter(created[member.org_slug]))
            upd = c.patch(f"/api/v1/orgs/{member.org_slug}/patients/{pid}", json={"given_name": f"Renamed{i}"})
            if upd.status_code != 200:
                failures.append(f"update {upd.status_code}")
            else:
                created[member.org_slug][pid] = {**created[member.org_slug][pid], "given_name": f"Renamed{i}"}
            for known in list(created[member.org_slug]):
                got = c.get(f"/api/v1/orgs/{member.org_slug}/patients/{known}")
                if got.status_code != 200:
                    failures.append(f"read {got.status_code}")

    threads = [threading.Thread(target=worker, args=(m,)) for m in members]
    for t in threads:
        t.start()
    start.wait()
    run_reencryption(db=rt.db, keys=rt.keys, ctx=_ctx(), batch_size=1)
    for t in threads:
        t.join()
    run_reencryption(db=rt.db, keys=rt.keys, ctx=_ctx())  # resumes if any write landed under the old key

    assert failures == []
    fresh = _fresh(world)
    for m in members:
        assert len(created[m.org_slug]) == len(PATIENTS) + 6
        fresh.assert_patients_read(m, created[m.org_slug])
        active = _active_field_key(rt, m.org_id)
        assert {k for _, k in _header_keys(rt, m.org_id)} == {active}


def _new_patient(world: World, member: Member, body: dict[str, str]) -> str:
    return str(world.create_patient(member, body))
