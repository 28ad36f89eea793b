"""Tenant isolation over every route: nothing of organization A is visible to, or changeable by, a user of B.

The matrix below must name every route of the app; a new route without an entry fails the suite, so isolation
is decided for each route when it is written.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from tests.conftest import World
from tests.test_route_permissions import all_routes

A_PATIENT = {"given_name": "Philippa", "family_name": "Marchbanks", "birth_date": "1948-11-30"}
SECRETS = ("Philippa", "Marchbanks", "1948-11-30")

# (method, path template) -> body builder. Paths use {org} (filled with the org under attack or the
# attacker's own) and {patient_id} (A's patient id).
MATRIX: dict[tuple[str, str], Any] = {
    ("GET", "/health"): None,
    ("GET", "/ready"): None,
    ("GET", "/"): None,
    ("GET", "/openapi.json"): None,
    ("GET", "/docs"): None,
    ("POST", "/api/v1/auth/login"): lambda: {"username": "nobody-here", "password": "wrong password 123"},
    ("POST", "/api/v1/auth/logout"): None,
    ("GET", "/api/v1/auth/me"): None,
    ("GET", "/api/v1/orgs/{org}"): None,
    ("GET", "/api/v1/orgs/{org}/patients"): None,
    ("POST", "/api/v1/orgs/{org}/patients"): lambda: {
        "given_name": "Ivo",
        "family_name": "Intruder",
        "birth_date": "1990-01-01",
    },
    ("POST", "/api/v1/orgs/{org}/patients/search"): lambda: {"family_name": "Marchbanks", "birth_date": "1948-11-30"},
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}"): None,
    ("PATCH", "/api/v1/orgs/{org}/patients/{patient_id}"): lambda: {"family_name": "Hijacked"},
}


def test_matrix_covers_every_route(app: Any) -> None:
    actual = set()
    for route in all_routes(app):
        for method in getattr(route, "methods", None) or set():
            if method != "HEAD":
                actual.add((method, route.path))
    assert actual == set(MATRIX), f"update the cross-tenant matrix: {actual ^ set(MATRIX)}"


@pytest.fixture
def attack(world: World) -> dict[str, Any]:
    owner = world.client(world.member("alpha", "billing_manager"))
    created = owner.post("/api/v1/orgs/alpha/patients", json=A_PATIENT)
    assert created.status_code == 201
    # The attacker holds every role in its own practice: the most privileges a user of B can have.
    roles = (
        "front_desk",
        "coder",
        "biller",
        "billing_manager",
        "provider",
        "compliance_officer",
        "auditor",
        "security_admin",
        "org_admin",
        "partner_biller",
    )
    attacker = world.client(world.member("bravo", *roles))
    return {"owner": owner, "attacker": attacker, "patient_id": created.json()["id"]}


CASES = [
    (method, template, target)
    for method, template in sorted(MATRIX)
    for target in (("alpha", "bravo") if "{org}" in template else ("-",))
]


@pytest.mark.parametrize(("method", "template", "target_org"), CASES, ids=[f"{m} {t} as {o}" for m, t, o in CASES])
def test_no_route_leaks_across_tenants(
    world: World, attack: dict[str, Any], method: str, template: str, target_org: str
) -> None:
    body = MATRIX[(method, template)]
    path = template.format(org=target_org, patient_id=attack["patient_id"])
    response = attack["attacker"].request(method, path, json=body() if body else None)
    text = response.text
    for secret in SECRETS:
        assert secret not in text, f"{method} {path} leaked A's data"
    assert attack["patient_id"] not in text
    if "{org}" in template:
        if target_org == "alpha":
            assert response.status_code == 404, f"non-member reached {method} {path}"
        elif "{patient_id}" in template:
            assert response.status_code == 404, f"A's patient reachable through B's scope: {method} {path}"
        elif template.endswith("/search"):
            assert response.json() == []
    # A's patient is untouched, whatever the attacker tried.
    got = attack["owner"].get(f"/api/v1/orgs/alpha/patients/{attack['patient_id']}").json()
    assert (got["given_name"], got["family_name"], got["row_version"]) == ("Philippa", "Marchbanks", 1)


def test_attacker_creates_only_in_own_org(world: World, attack: dict[str, Any]) -> None:
    r = attack["attacker"].post("/api/v1/orgs/bravo/patients", json={**A_PATIENT, "given_name": "Own"})
    assert r.status_code == 201
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        assert [str(p) for p in s.scalars(select(Patient.id))] == [attack["patient_id"]]
    with world.runtime.db.session(tenant_id=world.org("bravo")) as s:
        assert [str(p) for p in s.scalars(select(Patient.id))] == [r.json()["id"]]


def test_me_lists_only_own_memberships(attack: dict[str, Any]) -> None:
    me = attack["attacker"].get("/api/v1/auth/me").json()
    assert [m["organization"] for m in me["memberships"]] == ["bravo"]
