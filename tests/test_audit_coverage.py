"""Route coverage of the audit trail: every route that returns or changes protected data produces, for one call,
exactly the expected audit events, with the agent, entity, patient and request fields right and no values.

The list of routes is not hand-kept: every route whose declared permission reaches protected data must have a
case here, so a new protected route without its audit expectation fails this test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from claimvault.security.models import AuditEvent
from claimvault.security.permissions import PROTECTED_DATA_PERMISSIONS
from claimvault.storage.database import AUDIT_READER
from tests.conftest import Member, World
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
    patients: str = "target"  # the event lists: "target" (the patient in the path), "created" (the new one), "none"
    fields: tuple[str, ...] | None = None  # for changes: the names of the changed fields


@dataclass(frozen=True)
class Case:
    role: str
    body: Callable[[Env], Any] | None
    expect: tuple[Expect, ...]
    setup: Callable[[Env], None] | None = None
    status: int = 200


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

    params = {"confirm_new": True} if (method, path) == ("POST", P) else None  # look-alikes are registered on purpose
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
