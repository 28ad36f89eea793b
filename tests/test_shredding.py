"""Crypto-shredding: refused under a retention hold and allowed after its release; afterwards the patient's key is
gone, their values read back as shredded (never wrong data, never a crash), their search indexes are cleared, the
shred ledger is chained and private, and restoring an older backup keeps the patient shredded."""

from __future__ import annotations

import json
import sqlite3
import stat
import uuid
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from claimvault.accounts.models import AuthSession
from claimvault.accounts.sessions import token_hash
from claimvault.api.shredding import router as shredding_router
from claimvault.billing.patients.models import Patient
from claimvault.errors import ClaimVaultError, NotFound, PermissionDenied
from claimvault.privacy.holds import active_hold, place_hold, release_hold
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.context import system_context
from claimvault.security.crypto.keys import KeyDestroyed, KeyService
from claimvault.security.crypto.models import PatientKey
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.crypto.shredding import (
    RetentionHoldActive,
    ShredLedgerError,
    is_shredded,
    read_ledger,
    reapply_shred_ledger,
    shred_patient,
    verify_ledger,
)
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow
from claimvault.storage.database import Database, create_db_engine
from tests.conftest import World

ALICE = {"given_name": "Ysolde", "family_name": "Penhallow", "birth_date": "1971-04-09", "ssn": "123456789"}
BOB = {"given_name": "Tancred", "family_name": "Ashgrove", "birth_date": "1983-11-30"}
SHRED = frozenset(
    {Permission.PATIENT_SHRED, Permission.PATIENT_READ, Permission.PATIENT_SEARCH, Permission.PATIENT_UPDATE}
)


@pytest.fixture(autouse=True)
def _routes(app: Any) -> None:
    if not any(getattr(r, "path", "").endswith("/retention-holds") for r in app.routes):
        app.include_router(shredding_router)


def _ctx(org_id: uuid.UUID) -> Any:
    return system_context("test-shred", organization_id=org_id, permissions=SHRED)


def _shred(runtime: Runtime, org_id: uuid.UUID, patient_id: uuid.UUID) -> Any:
    return shred_patient(
        db=runtime.db,
        keys=runtime.keys,
        ctx=_ctx(org_id),
        patient_id=patient_id,
        ledger_path=runtime.settings.shred_ledger_path,
    )


def _set_reauth(runtime: Runtime, client: TestClient, *, minutes_ago: float | None) -> None:
    token = client.cookies.get(runtime.settings.session_cookie_name)
    assert token
    when = None if minutes_ago is None else utcnow() - timedelta(minutes=minutes_ago)
    with runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(runtime.settings, token))
            .values(reauthenticated_at=when)
        )


def _read(runtime: Runtime, org_id: uuid.UUID, patient_id: uuid.UUID) -> dict[str, Any]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(org_id)) as gate:
        return dict(gate.get(Patient, patient_id, permission=Permission.PATIENT_READ).values)


def _search(runtime: Runtime, org_id: uuid.UUID, family_name: str, birth_date: str) -> list[uuid.UUID]:
    from datetime import date

    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(org_id)) as gate:
        found = gate.find_by_index(
            Patient,
            index="name_dob_bidx",
            values={"family_name": family_name, "birth_date": date.fromisoformat(birth_date)},
            permission=Permission.PATIENT_SEARCH,
        )
    return [r.id for r in found]


def test_shred_is_refused_under_a_hold_and_allowed_after_release(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    alice, bob = world.create_patient(member, ALICE), world.create_patient(member, BOB)
    org = member.org_id
    with runtime.db.session(tenant_id=org) as s:
        patient_hold = place_hold(s, org_id=org, patient_id=alice, reason_code="litigation", placed_by=None).id
        assert active_hold(s, alice) and not active_hold(s, bob)
    with pytest.raises(RetentionHoldActive) as refused:
        _shred(runtime, org, alice)
    assert refused.value.status_code == 409 and refused.value.code == "retention_hold"
    assert _read(runtime, org, alice)["given_name"] == "Ysolde"  # nothing was destroyed

    with runtime.db.session(tenant_id=org) as s:  # a hold on the whole organization covers every patient
        org_hold = place_hold(s, org_id=org, patient_id=None, reason_code="regulatory", placed_by=None).id
        release_hold(s, hold_id=patient_hold, released_by=None)
    with pytest.raises(RetentionHoldActive):
        _shred(runtime, org, bob)
    with runtime.db.session(tenant_id=org) as s:
        release_hold(s, hold_id=org_hold, released_by=None)
        assert not active_hold(s, alice)
    report = _shred(runtime, org, alice)
    assert report.patient_id == alice and len(report.key_ids) == 1
    with runtime.db.session(tenant_id=org) as s:
        assert is_shredded(s, alice) and not is_shredded(s, bob)


def test_shredded_patient_is_unreadable_and_unsearchable(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    alice, bob = world.create_patient(member, ALICE), world.create_patient(member, BOB)
    org = member.org_id
    assert _search(runtime, org, "Penhallow", "1971-04-09") == [alice]
    _shred(runtime, org, alice)

    values = _read(runtime, org, alice)
    assert values["shredded"] is True
    assert all(values[k] is None for k in ("given_name", "family_name", "birth_date", "ssn"))
    assert _read(runtime, org, bob)["given_name"] == "Tancred" and "shredded" not in _read(runtime, org, bob)
    assert _search(runtime, org, "Penhallow", "1971-04-09") == []
    assert _search(runtime, org, "Ashgrove", "1983-11-30") == [bob]

    with runtime.db.session(tenant_id=org) as s:
        key = s.scalars(select(PatientKey).where(PatientKey.patient_id == alice)).one()
        assert key.wrapped_key is None and key.destroyed_at is not None  # the raw key material is gone
        row = s.get(Patient, alice)
        assert row is not None and row.ssn_bidx is None
        assert row.name_dob_bidx is None or len(row.name_dob_bidx) == 17  # NULL, or a token no search can make
        # A fresh process (empty cache) cannot read the values either.
        with pytest.raises(KeyDestroyed):
            KeyService(runtime.keys.provider).patient_key(s, org, alice, create=False)
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "patient.shred")))
        assert [e.entity_id for e in events] == [alice]
        assert "Ysolde" not in json.dumps(events[0].detail)

    # Writing for the patient is refused cleanly, and a second shred says so.
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(org)) as gate, pytest.raises(KeyDestroyed):
        gate.update(Patient, alice, {"given_name": "Back"}, permission=Permission.PATIENT_UPDATE)
    with pytest.raises(ClaimVaultError) as again:
        _shred(runtime, org, alice)
    assert again.value.code == "already_shredded"
    with pytest.raises(NotFound):
        _shred(runtime, org, uuid.uuid4())


def test_shred_needs_the_permission(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    alice = world.create_patient(member, ALICE)
    ctx = system_context("test", organization_id=member.org_id, permissions={Permission.PATIENT_READ})
    with pytest.raises(PermissionDenied):
        shred_patient(
            db=runtime.db, keys=runtime.keys, ctx=ctx, patient_id=alice, ledger_path=runtime.settings.shred_ledger_path
        )
    assert _read(runtime, member.org_id, alice)["given_name"] == "Ysolde"


def test_ledger_is_chained_private_and_free_of_patient_data(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    ids = [world.create_patient(member, ALICE), world.create_patient(member, BOB)]
    for pid in ids:
        _shred(runtime, member.org_id, pid)
    path = runtime.settings.shred_ledger_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_ledger(path) == 2
    entries = read_ledger(path)
    assert [e["patient_id"] for e in entries] == [str(p) for p in ids]
    assert entries[1]["prev"] != entries[0]["prev"] and entries[0]["prev"] == "0" * 64
    raw = path.read_text()
    for value in (*ALICE.values(), *BOB.values()):
        assert value not in raw

    lines = path.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["patient_id"] = str(uuid.uuid4())
    path.write_text(json.dumps(edited, sort_keys=True, separators=(",", ":")) + "\n" + lines[1] + "\n")
    with pytest.raises(ShredLedgerError):
        verify_ledger(path)
    path.write_text(lines[1] + "\n")  # a removed entry is evident too
    with pytest.raises(ShredLedgerError):
        verify_ledger(path)


def test_restoring_old_key_rows_keeps_the_patient_shredded(world: World, runtime: Runtime) -> None:
    """Backend-independent restore: the key and index columns are put back as an older backup holds them."""
    member = world.member("alpha", "biller")
    alice = world.create_patient(member, ALICE)
    org = member.org_id
    with runtime.db.session(tenant_id=org) as s:
        key = s.scalars(select(PatientKey).where(PatientKey.patient_id == alice)).one()
        saved_key = bytes(key.wrapped_key or b"")
        patient = s.get(Patient, alice)
        assert patient is not None
        saved_index = patient.name_dob_bidx
    _shred(runtime, org, alice)
    with runtime.db.session(tenant_id=org) as s:  # "restore": the old rows come back
        s.execute(
            update(PatientKey).where(PatientKey.patient_id == alice).values(wrapped_key=saved_key, destroyed_at=None)
        )
        s.execute(update(Patient).where(Patient.id == alice).values(name_dob_bidx=saved_index))
    restored = build_runtime(
        runtime.settings, db=runtime.db, key_provider=LocalKeyring(runtime.settings.resolved_keyring_path)
    )
    assert _read(restored, org, alice)["given_name"] == "Ysolde"  # the restored backup alone would resurrect her

    assert reapply_shred_ledger(db=runtime.db, keys=restored.keys, ledger_path=runtime.settings.shred_ledger_path) == 1
    assert _read(restored, org, alice)["shredded"] is True
    assert _search(restored, org, "Penhallow", "1971-04-09") == []
    assert reapply_shred_ledger(db=runtime.db, keys=restored.keys, ledger_path=runtime.settings.shred_ledger_path) == 0


def test_restore_of_an_older_sqlite_backup_keeps_the_patient_shredded(
    world: World, runtime: Runtime, tmp_path: Path
) -> None:
    if runtime.db.is_postgresql:
        pytest.skip("file-level backup copy: SQLite only (the row-level restore test covers PostgreSQL)")
    member = world.member("alpha", "biller")
    alice, bob = world.create_patient(member, ALICE), world.create_patient(member, BOB)
    org = member.org_id
    url = str(runtime.db.engine.url)
    live = Path(url.removeprefix("sqlite:///"))
    backup = tmp_path / "backup.db"
    with closing(sqlite3.connect(live)) as src, closing(sqlite3.connect(backup)) as dst:
        src.backup(dst)  # the backup (WAL included) is taken before the shred

    _shred(runtime, org, alice)
    old = Database(create_db_engine(f"sqlite:///{backup}"))  # the backup restored
    try:
        restored = build_runtime(
            runtime.settings, db=old, key_provider=LocalKeyring(runtime.settings.resolved_keyring_path)
        )
        assert _read(restored, org, alice)["given_name"] == "Ysolde"
        assert reapply_shred_ledger(db=old, keys=restored.keys, ledger_path=runtime.settings.shred_ledger_path) == 1
        assert _read(restored, org, alice)["shredded"] is True
        assert _search(restored, org, "Penhallow", "1971-04-09") == []
        assert _read(restored, org, bob)["given_name"] == "Tancred"
    finally:
        old.dispose()


def test_shred_route_needs_reauthentication_and_honours_holds(world: World, runtime: Runtime) -> None:
    biller = world.member("alpha", "biller")
    admin = world.member("alpha", "compliance_officer")
    alice = world.create_patient(biller, ALICE)
    c = world.client(admin)
    url = f"/api/v1/orgs/alpha/patients/{alice}/shred"

    _set_reauth(runtime, c, minutes_ago=None)
    r = c.post(url)
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    _set_reauth(runtime, c, minutes_ago=1)
    hold = c.post("/api/v1/orgs/alpha/retention-holds", json={"patient_id": str(alice), "reason_code": "litigation"})
    assert hold.status_code == 201, hold.text
    r = c.post(url)
    assert r.status_code == 409 and r.json()["error"]["code"] == "retention_hold"
    assert c.delete(f"/api/v1/orgs/alpha/retention-holds/{hold.json()['id']}").status_code == 200
    assert c.delete(f"/api/v1/orgs/alpha/retention-holds/{hold.json()['id']}").status_code == 404
    r = c.post(url)
    assert r.status_code == 200, r.text
    assert r.json()["shredded"] is True and "Ysolde" not in r.text

    with runtime.db.session(tenant_id=admin.org_id) as s:
        actions = list(
            s.scalars(
                select(AuditEvent.action)
                .where(
                    AuditEvent.organization_id == admin.org_id,
                    AuditEvent.entity_type.in_(["retention_holds", "patients"]),
                )
                .where(AuditEvent.action.in_(["retention_hold.place", "retention_hold.release", "patient.shred"]))
                .order_by(AuditEvent.recorded_at)
            )
        )
    assert actions == ["retention_hold.place", "retention_hold.release", "patient.shred"]

    assert world.client(biller).post(url).status_code == 403  # no patient:shred
    other = world.client(world.member("beta", "compliance_officer"))
    _set_reauth(runtime, other, minutes_ago=1)
    assert other.post(f"/api/v1/orgs/beta/patients/{alice}/shred").status_code == 404  # another tenant's patient
