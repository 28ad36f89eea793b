"""KEK rotation end to end on the local keyring: a new version becomes current, old wrappings still unwrap,
``rewrap_all`` moves every data key and platform key under the new version (idempotent, resumable), patient
data keeps decrypting even once the old KEK is gone, and reads and writes running during the re-wrap lose
nothing. Also the per-key count of stored values."""

from __future__ import annotations

import json
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.crypto.keys import KeyService, _wrap_context
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.crypto.rotation import rewrap_all, stored_keys, values_per_key
from claimvault.security.mfa.models import PlatformKey
from claimvault.security.mfa.secrets import active_platform_key
from claimvault.security.models import DataKey
from claimvault.web.app import create_app
from tests.conftest import Member, World

PATIENTS = [
    {"given_name": "Xanthe", "family_name": "Brightwater", "birth_date": "1957-08-19"},
    {"given_name": "Quillon", "family_name": "Marchbanks", "birth_date": "1962-01-02"},
    {"given_name": "Ottoline", "family_name": "Fairweather", "birth_date": "1990-12-31"},
]


def _data_keys(rt: Runtime, org_ids: list[uuid.UUID]) -> list[DataKey]:
    rows: list[DataKey] = []
    for org_id in org_ids:
        with rt.db.session(tenant_id=org_id) as s:
            rows.extend(s.scalars(select(DataKey).where(DataKey.organization_id == org_id)))
    return rows


def _kek_ids(rt: Runtime, org_ids: list[uuid.UUID]) -> set[str]:
    with rt.db.session(tenant_id=None) as s:
        platform = set(s.scalars(select(PlatformKey.kek_id)))
    return {r.kek_id for r in _data_keys(rt, org_ids)} | platform


def _fresh(world: World, keyring_path: Path) -> World:
    """A second process: its own runtime and key cache over the same database and keyring file."""
    rt = build_runtime(world.runtime.settings, db=world.runtime.db, key_provider=LocalKeyring(keyring_path))
    return World(rt, create_app(settings=rt.settings, runtime=rt))


def test_rotate_then_rewrap_keeps_every_patient_readable(world: World, runtime: Runtime) -> None:
    alpha, beta = world.member("alpha", "biller"), world.member("beta", "biller")
    expected = {m.org_slug: {_new_patient(world, m, p): p for p in PATIENTS} for m in (alpha, beta)}
    with runtime.db.session(tenant_id=None) as s:
        active_platform_key(s, runtime.keys)
    orgs = [alpha.org_id, beta.org_id]
    path = runtime.settings.resolved_keyring_path
    ring = runtime.keys.provider
    assert isinstance(ring, LocalKeyring)
    assert _kek_ids(runtime, orgs) == {"local-1"}

    assert ring.rotate() == "local-2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = KeyService(LocalKeyring(path))  # an empty cache: every key is unwrapped from its stored wrapping
    for row in _data_keys(runtime, orgs):
        with runtime.db.session(tenant_id=row.organization_id) as s:
            assert len(other.key_by_id(s, row.organization_id, row.id)) == 32

    report = rewrap_all(db=runtime.db, keys=runtime.keys)
    assert report.kek_id == "local-2" and report.rewrapped == 2 * 2 + 1 and report.already_current == 0
    assert _kek_ids(runtime, orgs) == {"local-2"}
    assert rewrap_all(db=runtime.db, keys=runtime.keys).rewrapped == 0  # idempotent

    # Retire the old KEK entirely: nothing may still depend on it.
    doc = json.loads(path.read_text())
    del doc["keys"]["local-1"]
    path.write_text(json.dumps(doc))
    fresh = _fresh(world, path)
    for member in (alpha, beta):
        fresh.assert_patients_read(member, expected[member.org_slug])
    with runtime.db.session(tenant_id=None) as s:
        assert len(active_platform_key(s, fresh.runtime.keys)[1]) == 32


def test_rewrap_is_resumable_after_an_interruption(world: World, runtime: Runtime) -> None:
    members = [world.member(slug, "biller") for slug in ("alpha", "beta", "gamma")]
    ids = {m.org_slug: _new_patient(world, m, PATIENTS[0]) for m in members}
    orgs = [m.org_id for m in members]
    ring = runtime.keys.provider
    assert isinstance(ring, LocalKeyring)
    ring.rotate()
    seen: list[tuple[int, int]] = []

    def stop_after_first_batch(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rewrap_all(db=runtime.db, keys=runtime.keys, batch_size=2, progress=stop_after_first_batch)
    assert seen[0] == (0, 6)
    kek_ids = [r.kek_id for r in _data_keys(runtime, orgs)]
    assert sorted(kek_ids) == ["local-1"] * 4 + ["local-2"] * 2  # the first batch committed, the rest did not

    report = rewrap_all(db=runtime.db, keys=runtime.keys, batch_size=2)
    assert report.rewrapped == 4 and report.already_current == 2
    assert _kek_ids(runtime, orgs) == {"local-2"}
    fresh = _fresh(world, runtime.settings.resolved_keyring_path)
    for m in members:
        fresh.assert_patients_read(m, {ids[m.org_slug]: PATIENTS[0]})


def test_rewrap_refuses_a_row_whose_wrapping_was_tampered(world: World, runtime: Runtime) -> None:
    from claimvault.security.crypto.provider import KeyUnwrapError

    member = world.member("alpha", "biller")
    ring = runtime.keys.provider
    with runtime.db.session(tenant_id=member.org_id) as s:
        row = s.scalars(select(DataKey).where(DataKey.organization_id == member.org_id)).first()
        assert row is not None
        # Same bytes, wrong context: bound to another purpose, so it must not unwrap.
        key = ring.unwrap(row.kek_id, row.wrapped_key, context=_wrap_context(row.organization_id, row.purpose, row.id))
        row.wrapped_key = ring.wrap(key, context=_wrap_context(row.organization_id, "other", row.id))[1]
    assert isinstance(ring, LocalKeyring)
    ring.rotate()
    with pytest.raises(KeyUnwrapError):
        rewrap_all(db=runtime.db, keys=runtime.keys)


def test_values_per_key_counts_ciphertexts_by_key_id(world: World, runtime: Runtime) -> None:
    alpha, beta = world.member("alpha", "biller"), world.member("beta", "biller")
    for p in PATIENTS:
        _new_patient(world, alpha, p)
    _new_patient(world, beta, PATIENTS[0])
    counts = values_per_key(db=runtime.db)
    by_owner = {(k.owner, k.purpose): k for k in stored_keys(db=runtime.db)}
    assert counts[by_owner[("alpha", "field")].id] == 3 * len(PATIENTS)  # given, family, birth date
    assert counts[by_owner[("beta", "field")].id] == 3
    assert by_owner[("alpha", "index")].id not in counts  # blind indexes carry no key id


# Concurrent reads and writes during the re-wrap ---------------------------------------------------------------
@pytest.fixture
def committed_world(backend: Any, tmp_path: Path, settings: Settings) -> Iterator[World]:
    """Real commits (several connections), so worker threads and the re-wrap run truly side by side."""
    with backend.database(tmp_path, committed=True) as db:
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        try:
            yield World(rt, create_app(settings=rt.settings, runtime=rt))
        finally:
            rt.close()


WORKER_CREATES = 5


def test_rotation_during_concurrent_reads_and_writes_loses_nothing(committed_world: World) -> None:
    world = committed_world
    rt = world.runtime
    members = [world.member(slug, "biller") for slug in ("alpha", "beta")]
    created: dict[str, dict[str, dict[str, str]]] = {m.org_slug: {} for m in members}
    failures: list[str] = []
    start = threading.Barrier(len(members) + 1)

    def worker(member: Member) -> None:
        c = world.client(member)
        start.wait()
        for i in range(WORKER_CREATES):
            body = {**PATIENTS[i % len(PATIENTS)], "given_name": f"Worker{i}"}
            r = c.post(f"/api/v1/orgs/{member.org_slug}/patients", json=body, params={"confirm_new": True})
            if r.status_code != 201:
                failures.append(f"create {r.status_code}")
                continue
            created[member.org_slug][r.json()["id"]] = body
            for pid in list(created[member.org_slug])[-2:]:  # the new one and the one before
                got = c.get(f"/api/v1/orgs/{member.org_slug}/patients/{pid}")
                if got.status_code != 200:
                    failures.append(f"read {got.status_code}")

    threads = [threading.Thread(target=worker, args=(m,)) for m in members]
    for t in threads:
        t.start()
    start.wait()
    ring = rt.keys.provider
    assert isinstance(ring, LocalKeyring)
    rotations = 0
    while any(t.is_alive() for t in threads) and rotations < 50:  # rotate and re-wrap until the workers finish
        ring.rotate()
        rewrap_all(db=rt.db, keys=rt.keys, batch_size=1)
        rotations += 1
    for t in threads:
        t.join()
    rewrap_all(db=rt.db, keys=rt.keys)  # a rerun picks up anything wrapped under the old KEK meanwhile

    assert failures == []
    assert rotations >= 2  # the workers really ran during several rotations
    assert _kek_ids(rt, [m.org_id for m in members]) == {f"local-{rotations + 1}"}
    fresh = _fresh(world, rt.settings.resolved_keyring_path)
    for m in members:
        assert len(created[m.org_slug]) == WORKER_CREATES
        fresh.assert_patients_read(m, created[m.org_slug])


def _new_patient(world: World, member: Member, body: dict[str, str]) -> str:
    return str(world.create_patient(member, body))
