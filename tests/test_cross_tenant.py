"""Tenant isolation over every route: nothing of organization A is visible to, or changeable by, a user of B.

The matrix below must name every route of the app; a new route without an entry fails the suite, so isolation
is decided for each route when it is written.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from tests.billing_api import PARTNER, setup_claim, setup_directory
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
    ("POST", "/api/v1/auth/password"): lambda: {
        "current_password": "wrong",
        "new_password": "violet tractor kettle moon",
    },
    ("POST", "/api/v1/auth/password/check"): lambda: {"password": "violet tractor kettle moonbeam"},
    ("POST", "/api/v1/orgs/{org}/users/{user_id}/force-password-change"): None,
    ("GET", "/api/v1/orgs/{org}/alerts"): None,
    ("GET", "/api/v1/orgs/{org}/alerts/{alert_id}"): None,
    ("POST", "/api/v1/orgs/{org}/alerts/{alert_id}/acknowledge"): None,
    ("POST", "/api/v1/orgs/{org}/alerts/{alert_id}/assign"): lambda: {"user_id": str(uuid.uuid4())},
    ("POST", "/api/v1/orgs/{org}/alerts/{alert_id}/close"): None,
    ("POST", "/api/v1/orgs/{org}/break-glass"): lambda: {
        "patient_id": "{patient_id}",
        "reason_code": "emergency_care",
        "justification": "Intruder claims emergency access now",
    },
    ("GET", "/api/v1/orgs/{org}/break-glass/reviews"): None,
    ("GET", "/api/v1/auth/mfa/methods"): None,
    ("POST", "/api/v1/auth/mfa/totp/setup"): None,
    ("POST", "/api/v1/auth/mfa/totp/confirm"): lambda: {"code": "123456"},
    ("DELETE", "/api/v1/auth/mfa/totp"): None,
    ("POST", "/api/v1/auth/mfa/webauthn/register/options"): None,
    ("POST", "/api/v1/auth/mfa/webauthn/register/verify"): lambda: {
        "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}},
        "name": "Key",
    },
    ("DELETE", "/api/v1/auth/mfa/webauthn/credentials/{credential_id}"): None,
    ("POST", "/api/v1/auth/mfa/webauthn/authenticate/options"): None,
    ("POST", "/api/v1/auth/mfa/webauthn/authenticate/verify"): lambda: {
        "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}
    },
    ("POST", "/api/v1/auth/mfa/verify"): lambda: {"method": "totp", "code": "123456"},
    ("POST", "/api/v1/auth/mfa/reauthenticate"): lambda: {
        "password": "wrong password 123",
        "method": "totp",
        "code": "1",
    },
    ("POST", "/api/v1/auth/mfa/recovery-codes/regenerate"): None,
    ("GET", "/api/v1/auth/security-events"): None,
    ("GET", "/api/v1/orgs/{org}/users"): None,
    ("POST", "/api/v1/orgs/{org}/users"): lambda: {"username": "intruder-made", "roles": ["biller"]},
    ("POST", "/api/v1/orgs/{org}/users/{user_id}/roles"): lambda: {"roles": ["auditor"]},
    ("POST", "/api/v1/orgs/{org}/users/{user_id}/terminate"): None,
    ("POST", "/api/v1/orgs/{org}/users/{user_id}/mfa-reset"): None,
    ("GET", "/api/v1/orgs/{org}/users/{user_id}/security-events"): None,
    ("POST", "/api/v1/orgs/{org}/tokens"): lambda: {
        "name": "intruder",
        "permissions": ["patient:read"],
        "expires_in_days": 30,
    },
    ("GET", "/api/v1/orgs/{org}/tokens"): None,
    ("DELETE", "/api/v1/orgs/{org}/tokens/{token_id}"): None,
    ("POST", "/api/v1/orgs/{org}/approvals"): lambda: {"kind": "user_reactivation", "subject_id": "{user_id}"},
    ("GET", "/api/v1/orgs/{org}/approvals"): None,
    ("POST", "/api/v1/orgs/{org}/approvals/{request_id}/decide"): lambda: {"approve": True, "reason_code": "intruder"},
    ("POST", "/api/v1/orgs/{org}/access-reviews"): None,
    ("GET", "/api/v1/orgs/{org}/access-reviews"): None,
    ("GET", "/api/v1/orgs/{org}/access-reviews/{campaign_id}"): None,
    ("POST", "/api/v1/orgs/{org}/access-reviews/{campaign_id}/entries/{entry_id}/decide"): lambda: {
        "decision": "revoke"
    },
    ("POST", "/api/v1/orgs/{org}/access-reviews/{campaign_id}/close"): None,
    ("POST", "/api/v1/orgs/{org}/care-assignments"): lambda: {
        "provider_user_id": "{user_id}",
        "patient_id": "{patient_id}",
    },
    ("GET", "/api/v1/orgs/{org}/care-assignments"): None,
    ("DELETE", "/api/v1/orgs/{org}/care-assignments/{assignment_id}"): None,
    ("POST", "/api/v1/orgs/{org}/service-agreements"): lambda: {"partner_organization": "bravo"},
    ("GET", "/api/v1/orgs/{org}/service-agreements"): None,
    ("PATCH", "/api/v1/orgs/{org}/service-agreements/{agreement_id}"): lambda: {"status": "ended"},
    ("GET", "/api/v1/orgs/{org}/patients/export"): None,
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/coverages"): lambda: {
        "rank": "primary",
        "payer_name": "Intruder Plan",
        "member_id": "INTRUDER1",
        "effective_from": "2024-01-01",
    },
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/coverages"): None,
    ("POST", "/api/v1/orgs/{org}/coverages/search"): lambda: {"member_id": "XQ98812345"},
    ("GET", "/api/v1/orgs/{org}/coverages/{coverage_id}"): None,
    ("PATCH", "/api/v1/orgs/{org}/coverages/{coverage_id}"): lambda: {"payer_name": "Hijacked Plan"},
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures"): lambda: {
        "disclosed_on": "2024-01-02",
        "recipient_name": "Intruder County Sheriff",
        "recipient_address": "1 Intrusion Way",
        "description": "Everything",
        "purpose": "Intruder request",
        "purpose_code": "law_enforcement",
    },
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures"): None,
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures/accounting"): None,
    ("POST", "/api/v1/orgs/{org}/disclosure-suspensions"): lambda: {
        "agency_name": "Intruder Agency",
        "agency_kind": "law_enforcement",
        "statement_kind": "written",
        "reason_code": "investigation",
        "starts_on": "2024-01-01",
        "ends_on": "2024-02-01",
        "disclosure_ids": ["{patient_id}"],
    },
    ("GET", "/api/v1/orgs/{org}/disclosure-suspensions"): None,
    ("GET", "/api/v1/orgs/{org}/audit/events"): None,
    ("GET", "/api/v1/orgs/{org}/discovery/profile"): None,
    ("PUT", "/api/v1/orgs/{org}/discovery/profile"): lambda: {"mrn_formats": ["MRN-9999999"]},
    ("POST", "/api/v1/orgs/{org}/discovery/scan"): None,
    ("GET", "/api/v1/orgs/{org}/discovery/scans"): None,
    ("GET", "/api/v1/orgs/{org}/discovery/scans/{run_id}"): None,
    ("GET", "/api/v1/orgs/{org}/fhir/ExplanationOfBenefit/{eob_id}"): None,
    ("POST", "/api/v1/orgs/{org}/fhir/ExplanationOfBenefit/_search"): lambda: {"patient": "{patient_id}"},
    ("GET", "/api/v1/orgs/{org}/fhir/ExplanationOfBenefit"): None,
    ("POST", "/api/v1/orgs/{org}/claims/{claim_id}/secondary"): None,
    ("POST", "/api/v1/orgs/{org}/fee-schedule"): lambda: {
        "procedure_code": "99213",
        "charge": "1.00",
        "effective_from": "2026-01-01",
    },
    ("GET", "/api/v1/orgs/{org}/fee-schedule"): None,
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/merge"): lambda: {"duplicate_id": "{coverage_id}"},
    ("POST", "/api/v1/orgs/{org}/providers"): lambda: {
        "npi": "1234567893",
        "entity": "person",
        "family_name": "Intruder",
    },
    ("GET", "/api/v1/orgs/{org}/providers"): None,
    ("GET", "/api/v1/orgs/{org}/providers/{provider_id}"): None,
    ("POST", "/api/v1/orgs/{org}/facilities"): lambda: {"name": "Intruder Clinic"},
    ("GET", "/api/v1/orgs/{org}/facilities"): None,
    ("POST", "/api/v1/orgs/{org}/trading-partners"): lambda: {**PARTNER, "name": "Intruder House"},
    ("GET", "/api/v1/orgs/{org}/trading-partners"): None,
    ("POST", "/api/v1/orgs/{org}/payers"): lambda: {
        "payer_id": "INTR1",
        "name": "Intruder Plan",
        "trading_partner_id": "{partner_id}",
    },
    ("GET", "/api/v1/orgs/{org}/payers"): None,
    ("GET", "/api/v1/orgs/{org}/payers/{payer_id}"): None,
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/encounters"): lambda: {
        "service_date": "2026-06-15",
        "billing_provider_id": "{provider_id}",
        "diagnoses": [{"code": "E119"}],
        "lines": [{"procedure_code": "99213", "diagnosis_pointers": [1], "charge": "99.00"}],
    },
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/encounters"): None,
    ("GET", "/api/v1/orgs/{org}/encounters/{encounter_id}"): None,
    ("PUT", "/api/v1/orgs/{org}/encounters/{encounter_id}/diagnoses"): lambda: {"diagnoses": [{"code": "I10"}]},
    ("POST", "/api/v1/orgs/{org}/claims"): lambda: {"encounter_id": "{encounter_id}"},
    ("GET", "/api/v1/orgs/{org}/claims"): None,
    ("POST", "/api/v1/orgs/{org}/claims/scrub"): lambda: {"claim_ids": ["{claim_id}"]},
    ("POST", "/api/v1/orgs/{org}/claims/export-837"): None,
    ("POST", "/api/v1/orgs/{org}/claims/acknowledgements"): None,
    ("GET", "/api/v1/orgs/{org}/claims/{claim_id}"): None,
    ("GET", "/api/v1/orgs/{org}/claims/{claim_id}/history"): None,
    ("POST", "/api/v1/orgs/{org}/claims/{claim_id}/transitions"): lambda: {"to_status": "closed"},
    ("POST", "/api/v1/orgs/{org}/claims/{claim_id}/corrections"): lambda: {"frequency_code": "1"},
    ("GET", "/api/v1/orgs/{org}/x12-files"): None,
    ("GET", "/api/v1/orgs/{org}/x12-files/{file_id}/content"): None,
    ("GET", "/api/v1/orgs/{org}/fhir/Patient/{patient_id}"): None,
    ("POST", "/api/v1/orgs/{org}/fhir/Patient/_search"): lambda: {"family": "Marchbanks", "birthdate": "1948-11-30"},
    ("GET", "/api/v1/orgs/{org}/fhir/Patient"): None,
    ("GET", "/api/v1/orgs/{org}/fhir/Coverage/{coverage_id}"): None,
    ("POST", "/api/v1/orgs/{org}/fhir/Coverage/_search"): lambda: {"identifier": "XQ98812345"},
    ("GET", "/api/v1/orgs/{org}/fhir/Coverage"): None,
    ("GET", "/api/v1/orgs/{org}/fhir/Claim/{claim_id}"): None,
    ("POST", "/api/v1/orgs/{org}/fhir/Claim/_search"): lambda: {"patient": "{patient_id}"},
    ("GET", "/api/v1/orgs/{org}/fhir/Claim"): None,
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/payment-methods"): None,
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/payment-methods/card"): lambda: {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2099,
    },
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/payment-methods/bank-account"): lambda: {
        "routing_number": "011000015",
        "account_number": "9876543210123",
        "account_type": "checking",
    },
    ("DELETE", "/api/v1/orgs/{org}/patients/{patient_id}/payment-methods/{method_id}"): None,
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/shred"): None,
    ("POST", "/api/v1/orgs/{org}/retention-holds"): lambda: {"patient_id": "{patient_id}", "reason_code": "litigation"},
    ("DELETE", "/api/v1/orgs/{org}/retention-holds/{hold_id}"): None,
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("POST", "/logout"): None,
    ("GET", "/mfa/enroll"): None,
    ("POST", "/mfa/enroll/totp"): None,
    ("GET", "/mfa/challenge"): None,
    ("POST", "/mfa/challenge"): None,
    ("POST", "/mfa/challenge/recovery"): None,
    ("GET", "/account/security"): None,
    ("GET", "/account/password"): None,
    ("POST", "/account/password"): None,
    ("POST", "/api/v1/orgs/{org}/break-glass/{grant_id}/review"): lambda: {
        "decision": "flagged",
        "note_code": "policy_violation",
    },
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
    owner_member = world.member("alpha", "billing_manager")
    owner = world.client(owner_member)
    created = owner.post("/api/v1/orgs/alpha/patients", json=A_PATIENT)
    assert created.status_code == 201
    coverage = owner.post(
        f"/api/v1/orgs/alpha/patients/{created.json()['id']}/coverages",
        json={
            "rank": "primary",
            "payer_name": "Example Care Plan",
            "member_id": "XQ98812345",
            "effective_from": "2024-01-01",
            "effective_to": "2025-12-31",
        },
    )
    assert coverage.status_code == 201, coverage.text
    billing = setup_directory(owner, "alpha")
    setup_claim(owner, "alpha", created.json()["id"], billing, member_id="XQ77700011")
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
    return {
        "owner": owner,
        "attacker": attacker,
        "patient_id": created.json()["id"],
        "coverage_id": coverage.json()["id"],
        "user_id": str(owner_member.user_id),
        **{key: billing[key] for key in ("partner_id", "payer_id", "provider_id", "encounter_id", "claim_id")},
    }


class _Ids(dict[str, str]):
    """Path ids: A's real ones where the fixture has them, otherwise a fresh id that exists nowhere."""

    def __missing__(self, key: str) -> str:
        return str(uuid.uuid4())


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
    ids = _Ids({k: v for k, v in attack.items() if isinstance(v, str)})
    ids["org"] = target_org
    path = template.format_map(ids)
    payload = body() if body else None
    if isinstance(payload, dict):
        payload = {k: v.format_map(ids) if isinstance(v, str) else v for k, v in payload.items()}
    response = attack["attacker"].request(method, path, json=payload)
    text = response.text
    for secret in SECRETS:
        assert secret not in text, f"{method} {path} leaked A's data"
    assert attack["patient_id"] not in text
    if "{org}" in template:
        if target_org == "alpha":
            assert response.status_code == 404, f"non-member reached {method} {path}"
        elif "_id}" in template:
            assert response.status_code == 404, f"A's record reachable through B's scope: {method} {path}"
        elif template.endswith("/search"):
            assert response.json() == []
        elif template.endswith(("/_search", "/fhir/Coverage", "/fhir/Claim", "/fhir/ExplanationOfBenefit")):
            assert response.json().get("total", 0) == 0, f"{method} {path} found A's records"
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
