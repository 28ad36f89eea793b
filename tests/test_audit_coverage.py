"""Route coverage of the audit trail: every route that returns or changes protected data produces, for one call,
exactly the expected audit events, with the agent, entity, patient and request fields right and no values.

The list of routes is not hand-kept: every route whose declared permission reaches protected data must have a
case here, so a new protected route without its audit expectation fails this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from claimvault.billing.remittance.importer import import_835
from claimvault.billing.remittance.models import ClaimPaymentPosting
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import PROTECTED_DATA_PERMISSIONS, Permission
from claimvault.storage.database import AUDIT_READER
from tests.ack_files import make_999
from tests.billing_api import (
    PARTNER,
    encounter_body,
    make_ready,
    release_and_accept,
    setup_claim,
    setup_directory,
)
from tests.conftest import Member, World
from tests.remit_world import Accepted, paid, remittance_file
from tests.test_relationships import reauthenticate_for_test
from tests.test_route_permissions import _route_declaration, all_routes

PATIENT = {"given_name": "Wren", "family_name": "Okafor", "birth_date": "1975-06-07", "ssn": "123-45-6789"}
CARD = {"number": "4242424242424242", "exp_month": 7, "exp_year": 2099, "cvc": "123"}
BANK = {"routing_number": "011000015", "account_number": "9876543210123", "account_type": "checking"}
MARKERS = ("Wren", "Okafor", "1975-06-07", "123-45-6789", "4242424242424242", "9876543210123")


@dataclass
class Env:
    world: World
    member: Member
    client: TestClient
    setup_client: TestClient
    patient_id: str
    ids: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return path.format(org=self.member.org_slug, patient_id=self.patient_id, **self.ids)


@dataclass(frozen=True)
class Expect:
    action: str
    entity_type: str
    # The event lists: "target" (the patient in the path), "created" (the new one), "none", "id:<key>" (a patient
    # the setup made, named by its key in Env.ids) or "target+id:<key>" (both).
    patients: str = "target"
    fields: tuple[str, ...] | None = None  # for changes: the names of the changed fields


@dataclass(frozen=True)
class Case:
    role: str
    body: Callable[[Env], Any] | None
    expect: tuple[Expect, ...]
    setup: Callable[[Env], None] | None = None
    status: int = 200
    params: dict[str, str] | None = None  # query parameters (ids only), formatted like the path
    raw: Callable[[Env], bytes] | None = None  # a non-JSON body (X12), sent as application/edi-x12


def _add_card(env: Env) -> None:
    r = env.setup_client.post(env.url("/api/v1/orgs/{org}/patients/{patient_id}/payment-methods/card"), json=CARD)
    assert r.status_code == 201, r.text
    env.ids["method_id"] = r.json()["id"]


def _reauthenticate(env: Env) -> None:
    reauthenticate_for_test(env.world, env.client)


def _add_coverage(env: Env) -> None:
    r = env.setup_client.post(env.url("/api/v1/orgs/{org}/patients/{patient_id}/coverages"), json=COVERAGE)
    assert r.status_code == 201, r.text
    env.ids["coverage_id"] = r.json()["id"]


def _directory(env: Env) -> None:
    env.ids.update(setup_directory(env.setup_client, env.member.org_slug))


def _claim(env: Env) -> None:
    _directory(env)
    setup_claim(env.setup_client, env.member.org_slug, env.patient_id, env.ids, member_id="XQ55500011")


def _encounter(env: Env) -> None:
    _directory(env)
    setup_claim(env.setup_client, env.member.org_slug, env.patient_id, env.ids, member_id="XQ55500011", claim=False)


def _ready(env: Env) -> None:
    _claim(env)
    make_ready(env.setup_client, env.member.org_slug, env.patient_id, env.ids)


def _accepted(env: Env) -> None:
    _ready(env)
    release_and_accept(env.setup_client, env.member.org_slug, env.ids)


def _duplicate(env: Env) -> None:
    r = env.setup_client.post(
        env.url("/api/v1/orgs/{org}/patients"), json={**PATIENT, "given_name": "Wrenna"}, params={"confirm_new": True}
    )
    assert r.status_code == 201, r.text
    env.ids["duplicate_id"] = r.json()["id"]
    r = env.setup_client.post(
        env.url(f"/api/v1/orgs/{{org}}/patients/{env.ids['duplicate_id']}/coverages"), json=COVERAGE
    )
    assert r.status_code == 201, r.text


def _posted(env: Env) -> None:
    """An accepted claim paid by a synthetic 835, posted under a system context; its posting is the EOB."""
    _accepted(env)
    claim = env.setup_client.get(env.url("/api/v1/orgs/{org}/claims/{claim_id}")).json()
    accepted = Accepted(
        uuid.UUID(claim["id"]),
        claim["control_number"],
        claim["payer_claim_number"],
        "XQ55500011",
        Decimal(str(claim["total_charge"])),
    )
    payment = paid(
        accepted, allowed=(Decimal("100.00"), Decimal("30.00")), shares=({"coinsurance": Decimal("20.00")}, {})
    )
    ctx = system_context("test setup", organization_id=env.member.org_id, permissions=set(Permission))
    with open_gate(db=env.world.runtime.db, keys=env.world.runtime.keys, ctx=ctx) as gate:
        report = import_835(gate=gate, blobs=env.world.runtime.blobs, data=remittance_file([payment]))
        assert report.posted == 1, report
        env.ids["eob_id"] = str(gate.session.scalar(select(ClaimPaymentPosting.id)))


def _secondary_ready(env: Env) -> None:
    """A posted primary claim and an active secondary coverage: the next payer can be billed."""
    _posted(env)
    body = {**COVERAGE, "rank": "secondary", "payer_id": env.ids["payer_id"], "effective_from": "2026-01-01"}
    r = env.setup_client.post(env.url("/api/v1/orgs/{org}/patients/{patient_id}/coverages"), json=body)
    assert r.status_code == 201, r.text


def _ack_file(env: Env) -> None:
    r = env.setup_client.post(
        env.url("/api/v1/orgs/{org}/claims/acknowledgements"),
        content=make_999(group_control=424242, transaction_controls=[1]).encode(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert r.status_code == 200, r.text
    env.ids["file_id"] = r.json()["file_id"]


# One event per row written: the encounter, its two diagnoses and two service lines; then the answer is read back.
ENCOUNTER_CREATED = (
    Expect("create", "encounters"),
    Expect("create", "encounter_diagnoses"),
    Expect("create", "encounter_diagnoses"),
    Expect("create", "service_lines"),
    Expect("create", "service_lines"),
)
ENCOUNTER_PARTS = (Expect("list", "encounter_diagnoses"), Expect("list", "service_lines"))
ENCOUNTER_READ = (Expect("read", "encounters"), *ENCOUNTER_PARTS)
# Assembling claim documents reads, in one batch per table, everything an 837P or a FHIR Claim carries. Providers,
# payers and facilities are the practice's directory: their events name no patient.
CLAIM_DOCUMENTS = (
    Expect("list", "claims"),
    Expect("list", "encounters"),
    *ENCOUNTER_PARTS,
    Expect("list", "patients"),
    Expect("list", "coverages"),
    Expect("list", "providers", patients="none"),
    Expect("list", "payers", patients="none"),
    Expect("list", "facilities", patients="none"),
)

COVERAGE = {
    "rank": "primary",
    "payer_name": "Example Care Plan",
    "member_id": "XQ98812345",
    "effective_from": "2024-01-01",
}
DISCLOSURE = {
    "disclosed_on": "2024-01-02",
    "recipient_name": "County Health Department",
    "recipient_address": "1 Main St",
    "description": "Lab result",
    "purpose": "Disease reporting",
    "purpose_code": "public_health",
}
SUSPENSION = {
    "agency_name": "State Oversight Agency",
    "agency_kind": "health_oversight",
    "statement_kind": "written",
    "reason_code": "investigation",
    "starts_on": "2024-01-01",
    "ends_on": "2024-02-01",
}
P = "/api/v1/orgs/{org}/patients"
C = "/api/v1/orgs/{org}/coverages"
F = "/api/v1/orgs/{org}/fhir"
CASES: dict[tuple[str, str], Case] = {
    ("POST", P): Case(
        "front_desk",
        lambda env: {**PATIENT, "family_name": "Okafor"},
        (Expect("create", "patients", patients="created", fields=("birth_date", "family_name", "given_name", "ssn")),),
        status=201,
    ),
    ("GET", P): Case("biller", None, (Expect("list", "patients"),)),
    ("POST", P + "/search"): Case(
        "biller", lambda env: {"family_name": "Okafor", "birth_date": "1975-06-07"}, (Expect("search", "patients"),)
    ),
    ("GET", P + "/{patient_id}"): Case("coder", None, (Expect("read", "patients"),)),
    ("PATCH", P + "/{patient_id}"): Case(
        "biller", lambda env: {"family_name": "Okafor-Reyes"}, (Expect("update", "patients", fields=("family_name",)),)
    ),
    ("POST", P + "/{patient_id}/payment-methods/card"): Case(
        "biller", lambda env: CARD, (Expect("create", "payment_methods"),), status=201
    ),
    ("POST", P + "/{patient_id}/payment-methods/bank-account"): Case(
        "biller", lambda env: BANK, (Expect("create", "payment_methods"),), status=201
    ),
    ("GET", P + "/{patient_id}/payment-methods"): Case(
        "biller", None, (Expect("list", "payment_methods"),), setup=_add_card
    ),
    ("DELETE", P + "/{patient_id}/payment-methods/{method_id}"): Case(
        "biller", None, (Expect("delete", "payment_methods"),), setup=_add_card, status=204
    ),
    ("POST", "/api/v1/orgs/{org}/fee-schedule"): Case(
        "billing_manager",
        lambda env: {"procedure_code": "99213", "charge": "95.00", "effective_from": "2026-01-01"},
        (Expect("create", "fee_schedule_entries", patients="none"),),
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/fee-schedule"): Case(
        "coder", None, (Expect("list", "fee_schedule_entries", patients="none"),)
    ),
    ("POST", P + "/{patient_id}/merge"): Case(
        "front_desk",
        lambda env: {"duplicate_id": env.ids["duplicate_id"]},
        (
            Expect("update", "coverages", patients="target+id:duplicate_id", fields=("patient_id",)),  # re-encrypted
            Expect("merge", "patients", patients="id:duplicate_id", fields=("merged_at", "merged_into_id")),
            Expect("read", "patients"),
        ),
        setup=_duplicate,
    ),
    ("GET", P + "/export"): Case("front_desk", None, (Expect("export", "patients"),), setup=_reauthenticate),
    ("POST", P + "/{patient_id}/coverages"): Case(
        "biller",
        lambda env: COVERAGE,
        (Expect("create", "coverages", fields=tuple(sorted(COVERAGE))),),
        status=201,
    ),
    ("GET", P + "/{patient_id}/coverages"): Case(
        "coder", None, (Expect("list", "coverages"),), setup=lambda env: _add_coverage(env)
    ),
    ("POST", C + "/search"): Case(
        "biller", lambda env: {"member_id": "xq988-12345"}, (Expect("search", "coverages"),), setup=_add_coverage
    ),
    ("GET", C + "/{coverage_id}"): Case("biller", None, (Expect("read", "coverages"),), setup=_add_coverage),
    ("PATCH", C + "/{coverage_id}"): Case(
        "biller",
        lambda env: {"group_number": "G-1"},
        (Expect("update", "coverages", fields=("group_number",)),),
        setup=_add_coverage,
    ),
    ("POST", P + "/{patient_id}/disclosures"): Case(
        "front_desk",
        lambda env: DISCLOSURE,
        (Expect("create", "disclosures"), Expect("disclose", "disclosures")),
        status=201,
    ),
    ("GET", P + "/{patient_id}/disclosures"): Case("compliance_officer", None, (Expect("list", "disclosures"),)),
    ("GET", P + "/{patient_id}/disclosures/accounting"): Case(
        "compliance_officer", None, (Expect("export", "disclosures"), Expect("accounting", "disclosures"))
    ),
    ("POST", "/api/v1/orgs/{org}/providers"): Case(
        "billing_manager",
        lambda env: {
            "npi": "1234567893",
            "entity": "person",
            "family_name": "Okafor",
            "given_name": "Wren",
            "tax_id": "123456789",
            "tax_id_kind": "SY",
        },
        (Expect("create", "providers", patients="none"),),
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/providers"): Case(
        "biller", None, (Expect("list", "providers", patients="none"),), setup=_directory
    ),
    ("GET", "/api/v1/orgs/{org}/providers/{provider_id}"): Case(
        "biller", None, (Expect("read", "providers", patients="none"),), setup=_directory
    ),
    ("POST", "/api/v1/orgs/{org}/facilities"): Case(
        "billing_manager",
        lambda env: {"name": "Okafor Clinic"},
        (Expect("create", "facilities", patients="none"),),
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/facilities"): Case("biller", None, (Expect("list", "facilities", patients="none"),)),
    ("POST", "/api/v1/orgs/{org}/trading-partners"): Case(
        "billing_manager", lambda env: PARTNER, (Expect("create", "trading_partners", patients="none"),), status=201
    ),
    ("GET", "/api/v1/orgs/{org}/trading-partners"): Case(
        "billing_manager", None, (Expect("list", "trading_partners", patients="none"),), setup=_directory
    ),
    ("POST", "/api/v1/orgs/{org}/payers"): Case(
        "billing_manager",
        lambda env: {"payer_id": "OKA01", "name": "Okafor Health"},
        (Expect("create", "payers", patients="none"),),
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/payers"): Case(
        "biller", None, (Expect("list", "payers", patients="none"),), setup=_directory
    ),
    ("GET", "/api/v1/orgs/{org}/payers/{payer_id}"): Case(
        "biller", None, (Expect("read", "payers", patients="none"),), setup=_directory
    ),
    ("POST", P + "/{patient_id}/encounters"): Case(
        "coder",
        lambda env: encounter_body(env.ids),
        (*ENCOUNTER_CREATED, *ENCOUNTER_READ),
        setup=_directory,
        status=201,
    ),
    ("GET", P + "/{patient_id}/encounters"): Case(
        "coder", None, (Expect("list", "encounters"), *ENCOUNTER_PARTS), setup=_claim
    ),
    ("GET", "/api/v1/orgs/{org}/encounters/{encounter_id}"): Case("coder", None, ENCOUNTER_READ, setup=_claim),
    ("PUT", "/api/v1/orgs/{org}/encounters/{encounter_id}/diagnoses"): Case(
        "coder",
        lambda env: {"diagnoses": [{"code": "I10"}, {"code": "E119"}]},
        (
            Expect("delete", "encounter_diagnoses"),
            Expect("create", "encounter_diagnoses"),
            Expect("create", "encounter_diagnoses"),
            Expect("update", "encounters"),  # the coding status (unchanged here: coded before and after)
            *ENCOUNTER_READ,
        ),
        setup=_claim,
    ),
    ("POST", "/api/v1/orgs/{org}/claims"): Case(
        "biller",
        lambda env: {"encounter_id": env.ids["encounter_id"]},
        (Expect("read", "encounters"), Expect("create", "claims"), Expect("read", "claims")),
        setup=_encounter,
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/claims"): Case("biller", None, (Expect("list", "claims"),), setup=_claim),
    ("POST", "/api/v1/orgs/{org}/claims/scrub"): Case(
        "biller", lambda env: {"today": "2026-07-01"}, (*CLAIM_DOCUMENTS, Expect("update", "claims")), setup=_claim
    ),
    ("POST", "/api/v1/orgs/{org}/claims/export-837"): Case(
        "biller",
        None,
        (
            *CLAIM_DOCUMENTS,
            Expect("create", "blobs", patients="none"),  # the encrypted interchange
            Expect("update", "claims", fields=("status", "x12_file_id")),
            Expect("update", "encounters", fields=("status",)),
            Expect("create", "disclosures"),
            Expect("disclose", "disclosures"),  # disclosed to the payer for payment
        ),
        setup=_ready,
    ),
    ("POST", "/api/v1/orgs/{org}/claims/acknowledgements"): Case(
        "biller",
        None,
        (Expect("create", "blobs", patients="none"),),  # the acknowledgement, stored encrypted
        raw=lambda env: make_999(group_control=515151, transaction_controls=[1]).encode(),
    ),
    ("GET", "/api/v1/orgs/{org}/claims/{claim_id}"): Case("coder", None, (Expect("read", "claims"),), setup=_claim),
    ("GET", "/api/v1/orgs/{org}/claims/{claim_id}/history"): Case(
        "coder", None, (Expect("read", "claims"),), setup=_claim
    ),
    ("POST", "/api/v1/orgs/{org}/claims/{claim_id}/transitions"): Case(
        "biller",
        lambda env: {"to_status": "closed", "reason": "duplicate"},
        (Expect("read", "claims"), Expect("update", "claims")),
        setup=_claim,
    ),
    ("POST", "/api/v1/orgs/{org}/claims/{claim_id}/corrections"): Case(
        "biller",
        lambda env: {"frequency_code": "7"},
        (
            Expect("read", "claims"),
            Expect("update", "claims", fields=("status",)),  # the old version is superseded
            Expect("create", "claims"),
            Expect("read", "claims"),
        ),
        setup=_accepted,
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/x12-files"): Case(
        "biller", None, (Expect("list", "x12_files", patients="none"),), setup=_ack_file
    ),
    ("GET", "/api/v1/orgs/{org}/x12-files/{file_id}/content"): Case(
        "biller",
        None,
        (Expect("read", "x12_files", patients="none"), Expect("read", "blobs", patients="none")),
        setup=_ack_file,
    ),
    ("GET", F + "/Patient/{patient_id}"): Case("coder", None, (Expect("read", "patients"),)),
    ("POST", F + "/Patient/_search"): Case(
        "biller", lambda env: {"family": "Okafor", "birthdate": "1975-06-07"}, (Expect("search", "patients"),)
    ),
    ("GET", F + "/Patient"): Case("biller", None, (Expect("read", "patients"),), params={"_id": "{patient_id}"}),
    ("GET", F + "/Coverage/{coverage_id}"): Case("biller", None, (Expect("read", "coverages"),), setup=_add_coverage),
    ("POST", F + "/Coverage/_search"): Case(
        "biller", lambda env: {"identifier": "XQ98812345"}, (Expect("search", "coverages"),), setup=_add_coverage
    ),
    ("GET", F + "/Coverage"): Case(
        "biller", None, (Expect("list", "coverages"),), setup=_add_coverage, params={"patient": "{patient_id}"}
    ),
    ("GET", F + "/ExplanationOfBenefit/{eob_id}"): Case(
        "biller", None, (Expect("read", "remittance_claim_payments"), *CLAIM_DOCUMENTS), setup=_posted
    ),
    ("POST", F + "/ExplanationOfBenefit/_search"): Case(
        "biller",
        lambda env: {"patient": env.patient_id},
        (Expect("search", "remittance_claim_payments"), *CLAIM_DOCUMENTS),
        setup=_posted,
    ),
    ("GET", F + "/ExplanationOfBenefit"): Case(
        "biller",
        None,
        (Expect("search", "remittance_claim_payments"), *CLAIM_DOCUMENTS),
        setup=_posted,
        params={"claim": "{claim_id}"},
    ),
    ("POST", "/api/v1/orgs/{org}/claims/{claim_id}/secondary"): Case(
        "biller",
        None,
        (Expect("read", "claims"), Expect("read", "encounters"), Expect("create", "claims"), Expect("read", "claims")),
        setup=_secondary_ready,
        status=201,
    ),
    ("GET", F + "/Claim/{claim_id}"): Case("coder", None, (Expect("read", "claims"), *CLAIM_DOCUMENTS), setup=_claim),
    ("POST", F + "/Claim/_search"): Case(
        "biller",
        lambda env: {"patient": env.patient_id},
        (Expect("list", "claims"), Expect("read", "claims"), *CLAIM_DOCUMENTS),
        setup=_claim,
    ),
    ("GET", F + "/Claim"): Case(
        "biller",
        None,
        (Expect("list", "claims"), Expect("read", "claims"), *CLAIM_DOCUMENTS),
        setup=_claim,
        params={"patient": "{patient_id}"},
    ),
    ("POST", "/api/v1/orgs/{org}/disclosure-suspensions"): Case(
        "compliance_officer",
        lambda env: SUSPENSION,
        (Expect("create", "disclosure_suspensions", patients="none"),),
        status=201,
    ),
    ("GET", "/api/v1/orgs/{org}/disclosure-suspensions"): Case(
        "compliance_officer", None, (Expect("list", "disclosure_suspensions", patients="none"),)
    ),
}


def _protected_routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for route in all_routes(app):
        if isinstance(route, APIRoute) and _route_declaration(route) & PROTECTED_DATA_PERMISSIONS:
            found |= {(method, route.path) for method in route.methods}
    return found


def test_every_protected_route_has_an_audit_expectation(app: Any) -> None:
    routes = _protected_routes(app)
    missing = sorted(routes - set(CASES))
    assert not missing, f"protected routes without an audit expectation (add a case): {missing}"
    stale = sorted(set(CASES) - routes)
    assert not stale, f"cases for routes that no longer exist: {stale}"


def _new_events(world: World, after: int) -> list[AuditEvent]:
    seq = world.runtime.sequencer
    assert seq is not None
    seq.drain()
    with world.runtime.db.session(tenant_id=None, audit_role=AUDIT_READER) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.position > after).order_by(AuditEvent.position)))


def _last_position(world: World) -> int:
    seq = world.runtime.sequencer
    assert seq is not None
    seq.drain()
    with world.runtime.db.session(tenant_id=None, audit_role=AUDIT_READER) as s:
        return int(s.scalar(select(func.coalesce(func.max(AuditEvent.position), -1))) or 0)


@pytest.mark.parametrize("route", sorted(CASES), ids=lambda r: f"{r[0]} {r[1]}")
def test_one_call_produces_exactly_the_expected_audit_events(world: World, route: tuple[str, str]) -> None:
    method, path = route
    case = CASES[route]
    registrar = world.member("alpha", "front_desk")
    patient_id = str(world.create_patient(registrar, PATIENT))
    member = world.member("alpha", case.role)
    client = world.client(member)
    setup_client = world.client(world.member("alpha", "billing_manager"))
    env = Env(world=world, member=member, client=client, setup_client=setup_client, patient_id=patient_id)
    if case.setup:
        case.setup(env)

    before = _last_position(world)

    params: dict[str, Any] | None = {k: env.url(v) for k, v in (case.params or {}).items()} or None
    if (method, path) == ("POST", P):
        params = {"confirm_new": True}  # look-alikes are registered on purpose
    if case.raw is not None:
        x12 = {"Content-Type": "application/edi-x12"}
        response = client.request(method, env.url(path), content=case.raw(env), headers=x12, params=params)
    else:
        response = client.request(method, env.url(path), json=case.body(env) if case.body else None, params=params)
    assert response.status_code == case.status, response.text

    events = _new_events(world, before)
    assert sorted((e.action, e.entity_type) for e in events) == sorted((x.action, x.entity_type) for x in case.expect)
    request_ids = {e.request_id for e in events}
    assert len(request_ids) == 1 and None not in request_ids and "" not in request_ids  # one request, one id
    for event in events:
        expected = next(x for x in case.expect if (x.action, x.entity_type) == (event.action, event.entity_type))
        assert event.outcome == "success"
        assert event.organization_id == member.org_id
        assert event.actor_type == "user" and event.actor_id == member.user_id
        assert event.roles == [case.role]
        assert event.session_id is not None
        assert event.source_address and event.user_agent == "testclient"
        assert event.purpose_of_use == "HPAYMT"
        assert event.permission in {p.value for p in PROTECTED_DATA_PERMISSIONS}
        if expected.patients == "target":
            assert event.patient_ids == [patient_id], event.patient_ids
        elif expected.patients == "created":
            assert event.patient_ids == [response.json()["id"]]
        elif expected.patients.startswith(("id:", "target+id:")):  # a patient made by the setup, maybe with the target
            named = {env.ids[expected.patients.split("id:", 1)[1]]}
            named |= {patient_id} if expected.patients.startswith("target+") else set()
            assert sorted(event.patient_ids) == sorted(named), event.patient_ids
        else:
            assert event.patient_ids == []
        if expected.fields is not None and event.action == "create":
            # A create names the fields it was given (and any the service sets itself), never a value.
            assert set(expected.fields) <= set(event.fields), event.fields
        elif expected.fields is not None:
            assert event.fields == list(expected.fields)
        for marker in MARKERS:
            assert marker not in event.body, f"a protected value appears in the {event.action} event"


def test_a_denied_attempt_is_recorded_with_its_agent(world: World) -> None:
    member = world.member("alpha", "auditor")
    client = world.client(member)
    before = _last_position(world)
    assert client.get("/api/v1/orgs/alpha/patients", headers={"User-Agent": "probe/1.0"}).status_code == 403
    (event,) = [e for e in _new_events(world, before) if e.action == "denied"]
    assert event.outcome == "denied" and event.permission == "patient:list"
    assert event.actor_id == member.user_id and event.user_agent == "probe/1.0" and event.request_id


def test_a_read_is_recorded_even_when_the_request_fails_afterwards(world: World) -> None:
    from claimvault.billing.patients.models import Patient
    from claimvault.security.context import system_context
    from claimvault.security.gate import open_gate
    from claimvault.security.permissions import Permission

    member = world.member("alpha", "front_desk")
    pid = world.create_patient(member, PATIENT)
    ctx = system_context("test", organization_id=member.org_id, permissions={Permission.PATIENT_READ})
    before = _last_position(world)
    with pytest.raises(RuntimeError), open_gate(db=world.runtime.db, keys=world.runtime.keys, ctx=ctx) as gate:
        gate.get(Patient, pid, permission=Permission.PATIENT_READ)
        raise RuntimeError("the response failed after the read")
    (event,) = _new_events(world, before)
    assert event.action == "read" and event.patient_ids == [str(pid)]
    assert event.outcome == "failure" and event.detail.get("rolled_back") is True
