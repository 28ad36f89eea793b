"""Merging duplicate patient records through the API: what moves (re-encrypted under the survivor's key and still
readable), what stays, what is refused, and that the duplicate leaves lists, searches and duplicate detection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from claimvault.billing.coverage.models import Coverage
from tests.billing_api import setup_claim, setup_directory
from tests.conftest import World

PERSON = {"given_name": "Odalys", "family_name": "Vantongeren", "birth_date": "1958-02-11"}
BASE = "/api/v1/orgs/alpha"


def _register(client: Any, body: dict[str, str], org: str = "alpha") -> str:
    r = client.post(f"/api/v1/orgs/{org}/patients", json=body, params={"confirm_new": True})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _coverage(client: Any, patient_id: str, member_id: str, **extra: str) -> str:
    body = {"rank": "primary", "payer_name": "Api Health", "member_id": member_id, "effective_from": "2026-01-01"}
    r = client.post(f"{BASE}/patients/{patient_id}/coverages", json={**body, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_duplicate_is_offered_then_merged_with_its_records(world: World) -> None:
    client = world.client(world.member("alpha", "billing_manager", "front_desk"))
    survivor = _register(client, PERSON)
    _coverage(client, survivor, "MB1234567")
    offered = client.post(f"{BASE}/patients", json={**PERSON, "given_name": "Oda"})
    assert offered.status_code == 409
    error = offered.json()["error"]
    assert error["code"] == "duplicate_suspected" and "merge" in error["message"]
    assert error["details"] == [{"patient_id": survivor, "matched_on": ["family_name+birth_date"]}]

    _coverage(client, survivor, "SEC777", rank="secondary")
    duplicate = _register(client, {**PERSON, "given_name": "Oda"})
    same_policy = _coverage(client, duplicate, "sec-777", rank="secondary")  # the same card typed differently
    ids = setup_directory(client, "alpha")
    setup_claim(client, "alpha", duplicate, ids, member_id="ZZ0000001")  # another primary policy, with a claim
    merged = client.post(f"{BASE}/patients/{survivor}/merge", json={"duplicate_id": duplicate})
    assert merged.status_code == 409, merged.text  # two different primary policies for the same dates
    assert merged.json()["error"]["details"] == [{"coverage_id": ids["coverage_id"]}]
    assert client.patch(f"{BASE}/coverages/{ids['coverage_id']}", json={"rank": "tertiary"}).status_code == 200

    merged = client.post(f"{BASE}/patients/{survivor}/merge", json={"duplicate_id": duplicate})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["survivor"]["id"] == survivor and body["duplicate_id"] == duplicate
    assert body["moved"] == {
        "coverages": 2,
        "encounters": 1,
        "encounter_diagnoses": 2,
        "service_lines": 2,
        "claims": 1,
    }
    # Moved rows are readable under the survivor (re-encrypted for them) and point at them.
    coverages = client.get(f"{BASE}/patients/{survivor}/coverages").json()
    by_id = {c["id"]: c for c in coverages}
    assert by_id[same_policy]["status"] == "inactive" and by_id[same_policy]["member_id"] == "SEC777"
    assert by_id[ids["coverage_id"]]["member_id"] == "ZZ0000001" and by_id[ids["coverage_id"]]["rank"] == "tertiary"
    assert sorted(c["status"] for c in coverages) == ["active", "active", "active", "inactive"]
    encounter = client.get(f"{BASE}/encounters/{ids['encounter_id']}").json()
    assert encounter["patient_id"] == survivor and [d["code"] for d in encounter["diagnoses"]] == ["E119", "I10"]
    claim = client.get(f"{BASE}/claims/{ids['claim_id']}").json()
    assert claim["patient_id"] == survivor
    assert client.get(f"/api/v1/orgs/alpha/fhir/Claim/{ids['claim_id']}").json()["patient"] == {
        "reference": f"Patient/{survivor}"
    }
    # The duplicate stays, pointing at the survivor, and leaves lists, searches and duplicate detection.
    old = client.get(f"{BASE}/patients/{duplicate}").json()
    assert old["merged_into_id"] == survivor and old["given_name"] == "Oda"
    assert [p["id"] for p in client.get(f"{BASE}/patients").json()["items"]] == [survivor]
    found = client.post(
        f"{BASE}/patients/search", json={"family_name": PERSON["family_name"], "birth_date": PERSON["birth_date"]}
    )
    assert [p["id"] for p in found.json()] == [survivor]
    again = client.post(f"{BASE}/patients", json={**PERSON, "given_name": "Odie"}).json()["error"]
    assert again["details"] == [{"patient_id": survivor, "matched_on": ["family_name+birth_date"]}]
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        owners = set(s.scalars(select(Coverage.patient_id)))
    assert {str(o) for o in owners} == {survivor}


def test_refusals_change_nothing(world: World) -> None:
    client = world.client(world.member("alpha", "front_desk"))
    first = _register(client, PERSON)
    second = _register(client, {**PERSON, "given_name": "Oda"})
    assert client.post(f"{BASE}/patients/{first}/merge", json={"duplicate_id": first}).status_code == 422
    biller = world.client(world.member("alpha", "biller"))
    assert biller.post(f"{BASE}/patients/{first}/merge", json={"duplicate_id": second}).status_code == 403
    assert client.post(f"{BASE}/patients/{first}/merge", json={"duplicate_id": second}).status_code == 200
    third = _register(client, {**PERSON, "given_name": "Dalys"})
    refused = client.post(f"{BASE}/patients/{second}/merge", json={"duplicate_id": third})
    assert refused.status_code == 409  # a merged record takes no more merges: merge into its survivor
    stale = client.post(f"{BASE}/patients/{first}/merge", json={"duplicate_id": third, "expected_version": 9})
    assert stale.status_code == 409
    assert client.get(f"{BASE}/patients/{third}").json()["merged_into_id"] is None
    other = world.client(world.member("bravo", "front_desk"))
    elsewhere = _register(other, {**PERSON, "given_name": "Other"}, org="bravo")
    cross = client.post(f"{BASE}/patients/{first}/merge", json={"duplicate_id": elsewhere})
    assert cross.status_code == 404 and "Vantongeren" not in cross.text
