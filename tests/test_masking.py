"""Minimum necessary, field by field: front desk staff see an SSN's last four digits only, coders see no payment
details; the gate masks while it decrypts, so the full value never reaches the service for those roles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from claimvault.security.authorization import masking
from claimvault.security.context import UserContext
from claimvault.security.data_policy import ColumnPolicy, DataPolicy, load_data_policy
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from tests.conftest import World
from tests.needles import without_ids

SSN = "123-45-6789"
PATIENT = {"given_name": "Ottoline", "family_name": "Pevensey", "birth_date": "1939-04-12", "ssn": SSN}


def _policy_with_payment_column() -> DataPolicy:
    columns = dict(load_data_policy().columns)
    columns[("payments", "card_last_used")] = ColumnPolicy("payments", "card_last_used", "financial", "str")
    columns[("payments", "account_number")] = ColumnPolicy("payments", "account_number", "financial", "str")
    columns[("payments", "memo")] = ColumnPolicy("payments", "memo", "PHI", "str")
    columns[("payments", "amount_code")] = ColumnPolicy("payments", "amount_code", "metadata")
    return DataPolicy(columns)


# Rules and functions ----------------------------------------------------------------------------------------------
def test_front_desk_gets_last_four_of_ssn_only() -> None:
    rules, policy = masking.load_masking_rules(), load_data_policy()
    assert masking.view_for(rules, policy, table="patients", roles=["front_desk"]) == {"ssn": "ssn_last4"}
    assert masking.view_for(rules, policy, table="patients", roles=["biller"]) == {}
    masked, touched = masking.apply_masking({"ssn": "123456789", "family_name": "X"}, {"ssn": "ssn_last4"})
    assert masked == {"ssn": "***-**-6789", "family_name": "X"} and touched == {"ssn"}


def test_several_roles_get_the_least_masked_view() -> None:
    rules, policy = masking.load_masking_rules(), load_data_policy()
    assert masking.view_for(rules, policy, table="patients", roles=["front_desk", "biller"]) == {}
    assert masking.view_for(rules, policy, table="patients", roles=["front_desk", "coder"]) == {}
    assert masking.view_for(rules, policy, table="patients", roles=[]) == {}  # a system context


def test_coder_sees_no_financial_columns() -> None:
    rules, policy = masking.load_masking_rules(), _policy_with_payment_column()
    view = masking.view_for(rules, policy, table="payments", roles=["coder"])
    assert view == {"card_last_used": "remove", "account_number": "remove"}  # PHI memo and plain columns stay
    values = {"card_last_used": "4111", "account_number": "000123", "memo": "m", "amount_code": "A1"}
    shown, touched = masking.apply_masking(values, view)
    assert shown == {"memo": "m", "amount_code": "A1"} and touched == {"card_last_used", "account_number"}
    assert masking.view_for(rules, policy, table="payments", roles=["coder", "biller"]) == {}
    assert masking.view_for(rules, policy, table="payments", roles=["front_desk"]) == {}


def test_column_rules_win_over_class_rules_and_bad_rules_are_refused() -> None:
    rules = masking.parse_rules({"roles": {"coder": {"class:financial": "remove", "payments.memo": "full"}}})
    assert rules.treatment("coder", table="payments", column="memo", classification="financial") == "full"
    assert rules.treatment("coder", table="payments", column="iban", classification="financial") == "remove"
    for bad in (
        {"roles": {"root": {"patients.ssn": "remove"}}},
        {"roles": {"coder": {"patients.ssn": "scramble"}}},
        {"roles": {"coder": {"ssn": "remove"}}},
    ):
        with pytest.raises(ValueError):
            masking.parse_rules(bad)


@pytest.mark.parametrize(
    ("value", "shown"), [("123456789", "***-**-6789"), ("123-45-6789", "***-**-6789"), ("12", "***-**-****")]
)
def test_ssn_mask_shapes(value: str, shown: str) -> None:
    assert masking.mask_ssn_last4(value) == shown


# Through the gate and the API -------------------------------------------------------------------------------------
@pytest.fixture
def registered(world: World) -> dict[str, Any]:
    biller = world.client(world.member("alpha", "biller"))
    created = biller.post("/api/v1/orgs/alpha/patients", json=PATIENT)
    assert created.status_code == 201 and created.json()["ssn"] == SSN
    return {"biller": biller, "id": created.json()["id"]}


def _no_plaintext_ssn(text: str) -> None:
    assert SSN not in text and "123456789" not in text and "123-45" not in text


def test_front_desk_sees_last_four_through_every_route(world: World, registered: dict[str, Any]) -> None:
    desk = world.client(world.member("alpha", "front_desk"))
    pid, base = registered["id"], "/api/v1/orgs/alpha/patients"
    responses = [
        desk.get(f"{base}/{pid}"),
        desk.get(base),
        desk.post(f"{base}/search", json={"family_name": "Pevensey", "birth_date": "1939-04-12"}),
        desk.post(f"{base}/search", json={"ssn": SSN}),
        desk.patch(f"{base}/{pid}", json={"given_name": "Otto"}),
        desk.post(base, json={**PATIENT, "given_name": "Twin", "ssn": "234-56-7890"}, params={"confirm_new": True}),
    ]
    for r in responses:
        assert r.status_code in (200, 201), r.text
        _no_plaintext_ssn(r.text)
        assert "234-56-7890" not in r.text
    assert responses[0].json()["ssn"] == "***-**-6789"
    assert [p["ssn"] for p in responses[1].json()["items"]] == ["***-**-6789"]  # listed before the second one
    assert [p["ssn"] for p in responses[3].json()] == ["***-**-6789"]
    assert responses[5].json()["ssn"] == "***-**-7890"
    # The biller still reads the full number; the front desk's edit left it intact.
    assert registered["biller"].get(f"{base}/{pid}").json()["ssn"] == SSN


@pytest.mark.parametrize(
    ("roles", "ssn"), [(("biller",), SSN), (("front_desk", "biller"), SSN), (("front_desk", "auditor"), "***-**-6789")]
)
def test_view_depends_on_roles_granting_the_permission(
    world: World, registered: dict[str, Any], roles: tuple[str, ...], ssn: str
) -> None:
    c = world.client(world.member("alpha", *roles))
    assert c.get(f"/api/v1/orgs/alpha/patients/{registered['id']}").json()["ssn"] == ssn


def test_masked_value_comes_out_of_the_gate(world: World, registered: dict[str, Any]) -> None:
    desk = world.member("alpha", "front_desk")
    ctx = UserContext(user_id=desk.user_id, organization_id=desk.org_id, roles=frozenset({"front_desk"}))
    runtime = world.runtime
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        record = gate.get(Patient, uuid.UUID(registered["id"]), permission=Permission.PATIENT_READ)
        listed = gate.select(select(Patient), model=Patient, permission=Permission.PATIENT_LIST)
    assert record["ssn"] == "***-**-6789" and record.masked == {"ssn"}
    assert [r["ssn"] for r in listed] == ["***-**-6789"]
    assert "6789" not in without_ids(repr(record))


def test_audit_events_are_the_same_whatever_the_view(world: World, registered: dict[str, Any]) -> None:
    desk = world.member("alpha", "front_desk")
    world.client(desk).get(f"/api/v1/orgs/alpha/patients/{registered['id']}")
    registered["biller"].get(f"/api/v1/orgs/alpha/patients/{registered['id']}")
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        reads = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "read", AuditEvent.organization_id == world.org("alpha"))
                .order_by(AuditEvent.recorded_at, AuditEvent.id)
            )
        )
    assert [e.roles for e in reads] == [["front_desk"], ["biller"]]
    shape = {(e.entity_type, str(e.entity_id), tuple(e.patient_ids), tuple(e.fields), e.outcome) for e in reads}
    assert len(shape) == 1
