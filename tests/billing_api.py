"""Billing records made through the REST API (synthetic values): a trading partner, a payer linked to it, a
billing and a rendering provider, a coverage on the payer and one coded encounter, then a claim."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.claim_documents import make_npi

SERVICE_DATE = "2026-06-15"  # inside the built-in ICD-10-CM release (FY2026)
SCRUB_DAY = "2026-07-01"

PARTNER = {
    "name": "API Clearinghouse",
    "isa_sender_id": "APICLINIC",
    "isa_receiver_id": "APICLEAR",
    "gs_sender_code": "APICLINIC",
    "gs_receiver_code": "APICLEAR",
    "submitter_name": "Clinic Billing",
    "submitter_id": "SUB001",
    "submitter_contact_name": "Billing Office",
    "submitter_contact_phone": "2125550100",
    "receiver_name": "API Clearinghouse",
    "receiver_id": "CH0001",
}


def _created(response: Any) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def setup_directory(client: TestClient, org: str, *, seed: int = 3) -> dict[str, str]:
    """Trading partner, payer, billing and rendering providers of ``org`` (the client needs the manage
    permissions: a billing manager)."""
    rng = random.Random(seed)
    base = f"/api/v1/orgs/{org}"
    ids: dict[str, str] = {}
    ids["partner_id"] = _created(client.post(f"{base}/trading-partners", json=PARTNER))
    ids["payer_id"] = _created(
        client.post(
            f"{base}/payers",
            json={
                "payer_id": "APIH1",
                "name": "Api Health",
                "timely_filing_days": 365,
                "trading_partner_id": ids["partner_id"],
            },
        )
    )
    ids["provider_id"] = _created(
        client.post(
            f"{base}/providers",
            json={
                "npi": make_npi(rng),
                "entity": "organization",
                "organization_name": "Springfield Family Medicine",
                "taxonomy": "207Q00000X",
                "can_bill": True,
                "tax_id": "123456789",
                "address_line1": "100 Main Street",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "627011234",
                "contact_name": "Billing Office",
                "contact_phone": "2175550100",
            },
        )
    )
    ids["rendering_id"] = _created(
        client.post(
            f"{base}/providers",
            json={
                "npi": make_npi(rng),
                "entity": "person",
                "family_name": "Osler",
                "given_name": "William",
                "taxonomy": "207Q00000X",
            },
        )
    )
    return ids


def encounter_body(ids: dict[str, str]) -> dict[str, Any]:
    return {
        "service_date": SERVICE_DATE,
        "billing_provider_id": ids["provider_id"],
        "rendering_provider_id": ids["rendering_id"],
        "diagnoses": [{"code": "E119"}, {"code": "I10"}],
        "lines": [
            {"procedure_code": "99213", "modifiers": ["25"], "diagnosis_pointers": [1], "charge": "125.00"},
            {"procedure_code": "93000", "diagnosis_pointers": [1, 2], "charge": "40.00"},
        ],
    }


def setup_claim(
    client: TestClient, org: str, patient_id: str, ids: dict[str, str], *, member_id: str, claim: bool = True
) -> None:
    """A coverage on the API payer, one coded encounter and (with ``claim``) a draft claim for ``patient_id``;
    adds their ids."""
    base = f"/api/v1/orgs/{org}"
    coverage = {
        "rank": "primary",
        "payer_name": "Api Health",
        "payer_id": ids["payer_id"],
        "member_id": member_id,
        "effective_from": "2026-01-01",
    }
    ids["coverage_id"] = _created(client.post(f"{base}/patients/{patient_id}/coverages", json=coverage))
    ids["encounter_id"] = _created(client.post(f"{base}/patients/{patient_id}/encounters", json=encounter_body(ids)))
    if claim:
        ids["claim_id"] = _created(client.post(f"{base}/claims", json={"encounter_id": ids["encounter_id"]}))


ADDRESS = {"sex": "F", "address_line1": "12 Elm Street", "city": "Springfield", "state": "IL", "postal_code": "62701"}


def make_ready(client: TestClient, org: str, patient_id: str, ids: dict[str, str]) -> None:
    """Give the patient the address a claim needs, scrub, and acknowledge any warnings: the claim is ready."""
    base = f"/api/v1/orgs/{org}"
    assert client.patch(f"{base}/patients/{patient_id}", json=ADDRESS).status_code == 200
    scrubbed = client.post(f"{base}/claims/scrub", json={"claim_ids": [ids["claim_id"]], "today": SCRUB_DAY})
    assert scrubbed.status_code == 200 and scrubbed.json()[0]["errors"] == 0, scrubbed.text
    if scrubbed.json()[0]["status"] == "scrubbed":
        moved = client.post(f"{base}/claims/{ids['claim_id']}/transitions", json={"to_status": "ready"})
        assert moved.status_code == 200, moved.text


def release_and_accept(client: TestClient, org: str, ids: dict[str, str]) -> None:
    """Release the ready claim and apply a 999 and a 277CA accepting it (the payer's claim number comes back)."""
    from tests.ack_files import make_277ca, make_999

    base = f"/api/v1/orgs/{org}"
    exported = client.post(f"{base}/claims/export-837")
    assert exported.status_code == 200 and exported.json()["released"], exported.text
    ids["file_id"] = exported.json()["released"][0]["file_id"]
    (listed,) = [f for f in client.get(f"{base}/x12-files").json() if f["id"] == ids["file_id"]]
    claim = client.get(f"{base}/claims/{ids['claim_id']}").json()
    x12 = {"Content-Type": "application/edi-x12"}
    for ack in (
        make_999(group_control=listed["group_control"], transaction_controls=[1]),
        make_277ca(claims=[(claim["control_number"], Decimal(str(claim["total_charge"])))]),
    ):
        applied = client.post(f"{base}/claims/acknowledgements", content=ack.encode(), headers=x12)
        assert applied.status_code == 200 and applied.json()["accepted"], applied.text
