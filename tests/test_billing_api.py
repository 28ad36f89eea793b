"""The billing REST API end to end, as a billing manager would use it: directory, coverage, encounter, claim,
scrub, 837P release and download, acknowledgements, corrections, and the FHIR R4B read and search views, whose PHI
search parameters are accepted only in a POST body."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from claimvault.billing.x12.validation import validate_x12
from tests.ack_files import make_277ca, make_999
from tests.billing_api import SCRUB_DAY, setup_claim, setup_directory
from tests.conftest import World

PATIENT = {
    "given_name": "Rosalind",
    "family_name": "Quenneville",
    "birth_date": "1961-04-22",
    "sex": "F",
    "ssn": "219-09-9999",
    "mrn": "MRN-48213",
    "address_line1": "12 Elm Street",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
}
SECRETS = ("Rosalind", "Quenneville", "1961-04-22", "219-09-9999", "219099999", "MRN-48213", "ZQ44556677")


def _billing(world: World) -> tuple[Any, str, dict[str, str]]:
    manager = world.member("alpha", "billing_manager", "front_desk")
    client = world.client(manager)
    patient_id = str(world.create_patient(manager, PATIENT))
    ids = setup_directory(client, "alpha")
    setup_claim(client, "alpha", patient_id, ids, member_id="ZQ44556677")
    return client, patient_id, ids


def test_a_claim_goes_from_encounter_to_accepted_through_the_api(world: World) -> None:
    client, patient_id, ids = _billing(world)
    base = "/api/v1/orgs/alpha"
    listed = client.get(f"{base}/providers").json()
    assert {p["id"] for p in listed} == {ids["provider_id"], ids["rendering_id"]}
    assert all("tax_id" not in p or p["tax_id"] in (None, "123456789") for p in listed)
    partners = client.get(f"{base}/trading-partners").json()
    assert [p["id"] for p in partners] == [ids["partner_id"]] and "credential" not in partners[0]
    assert client.get(f"{base}/payers/{ids['payer_id']}").json()["payer_id"] == "APIH1"
    encounter = client.get(f"{base}/encounters/{ids['encounter_id']}").json()
    assert [d["code"] for d in encounter["diagnoses"]] == ["E119", "I10"]
    assert [e["id"] for e in client.get(f"{base}/patients/{patient_id}/encounters").json()] == [ids["encounter_id"]]

    scrubbed = client.post(f"{base}/claims/scrub", json={"today": SCRUB_DAY})
    assert scrubbed.status_code == 200, scrubbed.text
    (result,) = scrubbed.json()
    assert result["claim_id"] == ids["claim_id"] and result["errors"] == 0, result["findings"]
    claim = client.get(f"{base}/claims/{ids['claim_id']}").json()
    if claim["status"] == "scrubbed":  # warnings only: acknowledged by the user
        moved = client.post(f"{base}/claims/{ids['claim_id']}/transitions", json={"to_status": "ready"})
        assert moved.status_code == 200, moved.text
    assert [c["id"] for c in client.get(f"{base}/claims", params={"status": "ready"}).json()] == [ids["claim_id"]]

    exported = client.post(f"{base}/claims/export-837")
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["refused"] == [] and len(body["released"]) == 1
    released = body["released"][0]
    assert released["payer_id"] == "APIH1" and released["claim_count"] == 1
    assert not any(secret in exported.text for secret in SECRETS)

    files = client.get(f"{base}/x12-files", params={"kind": "837P"}).json()
    assert [f["id"] for f in files] == [released["file_id"]]
    download = client.get(f"{base}/x12-files/{released['file_id']}/content")
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/edi-x12")
    assert download.headers["cache-control"] == "no-store"
    assert validate_x12(download.text).valid and "QUENNEVILLE" in download.text.upper()
    group = files[0]["group_control"]

    ack = client.post(
        f"{base}/claims/acknowledgements",
        content=make_999(group_control=group, transaction_controls=[1]).encode(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert ack.status_code == 200, ack.text
    control = client.get(f"{base}/claims/{ids['claim_id']}").json()["control_number"]
    assert ack.json()["kind"] == "999" and ack.json()["accepted"] == [control]
    again = client.post(
        f"{base}/claims/acknowledgements",
        content=make_999(group_control=group, transaction_controls=[1]).encode(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert again.json()["already_imported"] is True
    accepted = client.post(
        f"{base}/claims/acknowledgements",
        content=make_277ca(claims=[(control, Decimal("165.00"))]).encode(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert accepted.json()["accepted"] == [control]
    history = client.get(f"{base}/claims/{ids['claim_id']}/history").json()
    assert [h["to_status"] for h in history][-3:] == ["exported", "submitted", "accepted"]

    replacement = client.post(f"{base}/claims/{ids['claim_id']}/corrections", json={"frequency_code": "7"})
    assert replacement.status_code == 201, replacement.text
    assert replacement.json()["frequency_code"] == "7" and replacement.json()["original_reference"]
    assert client.get(f"{base}/claims/{ids['claim_id']}").json()["status"] == "superseded"


def test_bad_requests_get_clear_errors_without_data(world: World) -> None:
    client, _patient_id, ids = _billing(world)
    base = "/api/v1/orgs/alpha"
    illegal = client.post(f"{base}/claims/{ids['claim_id']}/transitions", json={"to_status": "appealed"})
    assert illegal.status_code == 409 and "draft" in illegal.json()["error"]["message"]
    void_draft = client.post(f"{base}/claims/{ids['claim_id']}/corrections", json={"frequency_code": "8"})
    assert void_draft.status_code == 409
    junk = client.post(
        f"{base}/claims/acknowledgements",
        content=b"ISA*00*Quenneville~",
        headers={"Content-Type": "application/edi-x12"},
    )
    assert junk.status_code in (400, 422) and "Quenneville" not in junk.text
    bad_npi = client.post(f"{base}/providers", json={"npi": "1234567890", "entity": "person", "family_name": "X"})
    assert bad_npi.status_code == 422 and "1234567890" not in bad_npi.text
    assert client.get(f"{base}/claims", params={"status": "nonsense"}).status_code == 422


def test_fhir_reads_and_post_searches(world: World) -> None:
    client, patient_id, ids = _billing(world)
    fhir = "/api/v1/orgs/alpha/fhir"
    patient = client.get(f"{fhir}/Patient/{patient_id}")
    assert patient.status_code == 200 and patient.headers["content-type"].startswith("application/fhir+json")
    resource = patient.json()
    assert resource["resourceType"] == "Patient" and resource["name"][0]["family"] == "Quenneville"
    assert "219-09-9999" not in patient.text  # the SSN is left out of the FHIR view (minimum necessary)
    coverage = client.get(f"{fhir}/Coverage/{ids['coverage_id']}").json()
    assert coverage["beneficiary"]["reference"] == f"Patient/{patient_id}" and coverage["subscriberId"] == "ZQ44556677"
    claim = client.get(f"{fhir}/Claim/{ids['claim_id']}").json()
    assert claim["resourceType"] == "Claim" and claim["total"]["value"] == 165.0
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == ["E11.9", "I10"]

    def ids_of(response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        assert "link" not in bundle  # no self link: it would put the search back in a URL
        return [e["resource"]["id"] for e in bundle.get("entry", [])]

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    by_name = client.post(f"{fhir}/Patient/_search", content="family=Quenneville&birthdate=1961-04-22", headers=form)
    assert ids_of(by_name) == [patient_id]
    by_given = client.post(
        f"{fhir}/Patient/_search", json={"family": "Quenneville", "birthdate": "1961-04-22", "given": "Ann"}
    )
    assert ids_of(by_given) == []
    by_mrn = client.post(f"{fhir}/Patient/_search", json={"identifier": "urn:claimvault:mrn|MRN-48213"})
    assert ids_of(by_mrn) == [patient_id]
    by_ssn = client.post(f"{fhir}/Patient/_search", json={"identifier": "http://hl7.org/fhir/sid/us-ssn|219099999"})
    assert ids_of(by_ssn) == [patient_id]
    by_member = client.post(f"{fhir}/Coverage/_search", content="identifier=ZQ44556677", headers=form)
    assert ids_of(by_member) == [ids["coverage_id"]]
    assert ids_of(client.get(f"{fhir}/Coverage", params={"patient": patient_id})) == [ids["coverage_id"]]
    assert ids_of(client.post(f"{fhir}/Claim/_search", json={"patient": f"Patient/{patient_id}"})) == [ids["claim_id"]]
    assert ids_of(client.get(f"{fhir}/Claim", params={"patient": patient_id, "status": "ready"})) == []
    assert ids_of(client.get(f"{fhir}/Patient", params={"_id": patient_id})) == [patient_id]


def test_phi_search_parameters_in_a_url_are_refused_without_reading(world: World) -> None:
    client, patient_id, _ids = _billing(world)
    fhir = "/api/v1/orgs/alpha/fhir"
    for path, params in (
        ("Patient", {"family": "Quenneville", "birthdate": "1961-04-22"}),
        ("Patient", {"identifier": "urn:claimvault:mrn|MRN-48213"}),
        ("Coverage", {"identifier": "ZQ44556677"}),
        ("Patient", {"name:exact": "Rosalind"}),
    ):
        response = client.get(f"{fhir}/{path}", params=params)
        assert response.status_code == 400, response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "invalid"
        assert "POST" in outcome["issue"][0]["diagnostics"]
        assert not any(secret in response.text for secret in SECRETS)
    unknown = client.post(f"{fhir}/Patient/_search", json={"ssn-ish": "219099999"})
    assert unknown.status_code == 422 and "219099999" not in unknown.text
    assert unknown.json()["resourceType"] == "OperationOutcome"
    half = client.post(f"{fhir}/Patient/_search", json={"family": "Quenneville"})
    assert half.status_code == 422 and "Quenneville" not in half.text
    missing = client.get(f"{fhir}/Patient/{_ids['claim_id']}")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert patient_id not in missing.text


def test_a_coder_sees_claims_but_cannot_release_them(world: World) -> None:
    _client, _patient_id, ids = _billing(world)
    coder = world.client(world.member("alpha", "coder"))
    assert coder.get(f"/api/v1/orgs/alpha/claims/{ids['claim_id']}").status_code == 200
    assert coder.post("/api/v1/orgs/alpha/claims/export-837").status_code == 403
    assert coder.get(f"/api/v1/orgs/alpha/fhir/Claim/{ids['claim_id']}").status_code == 200
