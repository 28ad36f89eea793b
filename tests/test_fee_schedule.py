"""The fee schedule: service lines without a charge take the entry in force on the date of service (procedure and
first modifier, else the procedure alone) times the units; a missing entry refuses the encounter naming the line,
and nothing is written."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from tests.billing_api import setup_directory
from tests.conftest import World

BASE = "/api/v1/orgs/alpha"
PATIENT = {"given_name": "Fenna", "family_name": "Kowalczyk", "birth_date": "1980-03-03"}


def _fee(client: TestClient, code: str, charge: str, start: str, end: str | None = None, modifier: str = "") -> int:
    body = {"procedure_code": code, "modifier": modifier, "charge": charge, "effective_from": start}
    if end:
        body["effective_to"] = end
    return int(client.post(f"{BASE}/fee-schedule", json=body).status_code)


def test_charges_come_from_the_schedule_in_force_on_the_date_of_service(world: World) -> None:
    manager = world.member("alpha", "billing_manager", "front_desk")
    client = world.client(manager)
    ids = setup_directory(client, "alpha")
    patient = str(world.create_patient(manager, PATIENT))
    assert _fee(client, "99213", "95.00", "2026-01-01", "2026-06-30") == 201
    assert _fee(client, "99213", "105.00", "2026-07-01") == 201
    assert _fee(client, "99213", "110.00", "2026-01-01", modifier="25") == 201
    assert _fee(client, "99213", "99.00", "2026-06-01") == 409  # overlaps the June entry
    assert _fee(client, "99213", "0", "2027-01-01") == 422

    def encounter(day: str, lines: list[dict[str, object]]) -> Response:
        body = {
            "service_date": day,
            "billing_provider_id": ids["provider_id"],
            "diagnoses": [{"code": "I10"}],
            "lines": lines,
        }
        return client.post(f"{BASE}/patients/{patient}/encounters", json=body)

    june = encounter(
        "2026-06-15",
        [
            {"procedure_code": "99213", "diagnosis_pointers": [1]},
            {"procedure_code": "99213", "modifiers": ["25"], "diagnosis_pointers": [1]},
            {"procedure_code": "99213", "diagnosis_pointers": [1], "units": "2"},
            {"procedure_code": "99213", "diagnosis_pointers": [1], "charge": "80.00"},  # given: kept
        ],
    )
    assert june.status_code == 201, june.text
    assert [line["charge"] for line in june.json()["lines"]] == ["95.00", "110.00", "190.00", "80.00"]
    july = encounter("2026-07-02", [{"procedure_code": "99213", "modifiers": ["GA"], "diagnosis_pointers": [1]}])
    assert [line["charge"] for line in july.json()["lines"]] == ["105.00"]  # no GA entry: the procedure's own

    before = client.get(f"{BASE}/patients/{patient}/encounters").json()
    missing = encounter(
        "2026-06-15",
        [
            {"procedure_code": "99213", "diagnosis_pointers": [1]},
            {"procedure_code": "93000", "diagnosis_pointers": [1]},
        ],
    )
    assert missing.status_code == 422 and "line 2" in missing.json()["error"]["message"]
    assert client.get(f"{BASE}/patients/{patient}/encounters").json() == before  # nothing half-written

    coder = world.client(world.member("alpha", "coder"))
    in_force = coder.get(f"{BASE}/fee-schedule", params={"on": "2026-07-15"}).json()
    assert sorted((f["modifier"], f["charge"]) for f in in_force) == [("", "105.00"), ("25", "110.00")]
    assert len(coder.get(f"{BASE}/fee-schedule").json()) == 3
    assert coder.post(f"{BASE}/fee-schedule", json={}).status_code == 403
