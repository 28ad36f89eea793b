"""Misuse of stored ciphertext, end to end through the API: a value moved to another row, column or tenant, a
flipped bit anywhere in it, the wrong key-encryption key, or a missing data key each give a clear error (HTTP 500
with a stable code and no data), never a crash and never wrong data."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from claimvault.billing.patients.models import Patient
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.crypto.fields import FORMAT_PATIENT
from claimvault.security.crypto.models import PatientKey
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.models import DataKey
from claimvault.web.app import create_app
from tests.conftest import Member, World

ALICE = {"given_name": "Ysolde", "family_name": "Penhallow", "birth_date": "1971-04-09"}
BOB = {"given_name": "Tancred", "family_name": "Ashgrove", "birth_date": "1983-11-30"}
UNREADABLE = {"protected_value_unreadable", "data_key_unavailable"}


def _get(world: World, member: Member, pid: uuid.UUID) -> Any:
    return world.client(member).get(f"/api/v1/orgs/{member.org_slug}/patients/{pid}")


def _raw(runtime: Runtime, org_id: uuid.UUID, pid: uuid.UUID, column: str) -> bytes:
    with runtime.db.session(tenant_id=org_id) as s:
        return bytes(s.scalar(select(getattr(Patient, column)).where(Patient.id == pid)))


def _put(runtime: Runtime, org_id: uuid.UUID, pid: uuid.UUID, column: str, value: bytes) -> None:
    with runtime.db.session(tenant_id=org_id) as s:
        s.execute(update(Patient).where(Patient.id == pid).values({column: value}))


def _assert_clean_failure(response: Any, codes: set[str] = UNREADABLE) -> None:
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] in codes
    for value in (*ALICE.values(), *BOB.values()):
        assert value not in response.text


def test_values_are_patient_bound(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    pid = world.create_patient(member, ALICE)
    raw = _raw(runtime, member.org_id, pid, "given_name")
    assert raw[0] == FORMAT_PATIENT and b"Ysolde" not in raw
    with runtime.db.session(tenant_id=member.org_id) as s:
        field_key = s.scalars(
            select(DataKey.id).where(DataKey.organization_id == member.org_id, DataKey.purpose == "field")
        ).one()
    assert uuid.UUID(bytes=raw[1:17]) == field_key  # the header names the organization key


@pytest.mark.parametrize("swap", ["other_row", "other_column"])
def test_associated_data_swap_within_a_tenant_fails(world: World, runtime: Runtime, swap: str) -> None:
    member = world.member("alpha", "biller")
    alice, bob = world.create_patient(member, ALICE), world.create_patient(member, BOB)
    if swap == "other_row":  # Bob's name copied into Alice's row
        _put(runtime, member.org_id, alice, "given_name", _raw(runtime, member.org_id, bob, "given_name"))
    else:  # Alice's family name moved into her given-name column
        _put(runtime, member.org_id, alice, "given_name", _raw(runtime, member.org_id, alice, "family_name"))
    _assert_clean_failure(_get(world, member, alice), {"protected_value_unreadable"})
    assert _get(world, member, bob).json()["given_name"] == "Tancred"  # other rows are unaffected


def test_associated_data_swap_across_tenants_fails(world: World, runtime: Runtime) -> None:
    alpha, beta = world.member("alpha", "biller"), world.member("beta", "biller")
    alice, bob = world.create_patient(alpha, ALICE), world.create_patient(beta, BOB)
    _put(runtime, beta.org_id, bob, "given_name", _raw(runtime, alpha.org_id, alice, "given_name"))
    _assert_clean_failure(_get(world, beta, bob))  # alpha's data key is not beta's to use


@pytest.mark.parametrize(
    "position",
    [0, 1, 16, 17, 28, 29, -17, -1],
    ids=["version", "key_id_first", "key_id_last", "nonce_first", "nonce_last", "body", "tag_first", "tag_last"],
)
def test_a_flipped_bit_is_a_clear_error(world: World, runtime: Runtime, position: int) -> None:
    member = world.member("alpha", "biller")
    pid = world.create_patient(member, ALICE)
    raw = bytearray(_raw(runtime, member.org_id, pid, "family_name"))
    raw[position] ^= 0x01
    _put(runtime, member.org_id, pid, "family_name", bytes(raw))
    _assert_clean_failure(_get(world, member, pid))
    listing = world.client(member).get(f"/api/v1/orgs/{member.org_slug}/patients")
    _assert_clean_failure(listing)  # a list containing the row fails as a whole rather than return a wrong value


def test_truncated_ciphertext_is_a_clear_error(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    pid = world.create_patient(member, ALICE)
    _put(runtime, member.org_id, pid, "birth_date", _raw(runtime, member.org_id, pid, "birth_date")[:30])
    _assert_clean_failure(_get(world, member, pid), {"protected_value_unreadable"})


def test_wrong_key_encryption_key(world: World, runtime: Runtime, tmp_path: Any) -> None:
    member = world.member("alpha", "biller")
    pid = world.create_patient(member, ALICE)
    other_ring = LocalKeyring.create(tmp_path / "other" / "keyring.json")  # another installation's keyring
    rt = build_runtime(runtime.settings, db=runtime.db, key_provider=other_ring)
    other = World(rt, create_app(settings=rt.settings, runtime=rt))
    _assert_clean_failure(_get(other, member, pid), {"data_key_unavailable"})
    assert _get(world, member, pid).json()["given_name"] == "Ysolde"  # the right keyring still reads it


@pytest.mark.parametrize("missing", ["organization_key", "patient_key"])
def test_missing_data_key(world: World, runtime: Runtime, missing: str) -> None:
    member = world.member("alpha", "biller")
    pid = world.create_patient(member, ALICE)
    with runtime.db.session(tenant_id=member.org_id) as s:
        if missing == "organization_key":
            s.execute(delete(DataKey).where(DataKey.organization_id == member.org_id, DataKey.purpose == "field"))
        else:
            s.execute(delete(PatientKey).where(PatientKey.patient_id == pid))
    rt = build_runtime(runtime.settings, db=runtime.db, key_provider=runtime.keys.provider)  # an empty key cache
    fresh = World(rt, create_app(settings=rt.settings, runtime=rt))
    _assert_clean_failure(_get(fresh, member, pid), {"data_key_unavailable"})
