"""Coverages end to end: create, list, read, update and member-id search through login, the PHI gate and the
audit; the one-active-coverage-per-rank rule, subscriber and date validation, minimum-necessary masking for coders
and providers, the relationship scope, and ciphertext at rest."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from claimvault.billing.coverage.models import Coverage
from claimvault.security.models import AuditEvent
from tests.conftest import Member, World

PATIENT = {"given_name": "Ada", "family_name": "Quintero", "birth_date": "1961-03-05"}
CHILD = {"given_name": "Timo", "family_name": "Quintero", "birth_date": "2015-07-01"}
PRIMARY = {
    "rank": "primary",
    "payer_name": "Example Care Plan",
    "member_id": "xq9-88 123 45",
    "group_number": "grp-778",
    "effective_from": "2024-01-01",
}
SUBSCRIBER = {
    "subscriber_relationship": "child",
    "subscriber_given_name": "Ada",
    "subscriber_family_name": "Quintero",
    "subscriber_birth_date": "1961-03-05",
}


def _base(slug: str) -> str:
    return f"/api/v1/orgs/{slug}"


def _setup(world: World, role: str = "biller") -> tuple[Member, Any, str]:
    member = world.member("alpha", role)
    pid = str(world.create_patient(world.member("alpha", "biller"), PATIENT))
    return member, world.client(member), pid


def _add(c: Any, pid: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = c.post(f"{_base('alpha')}/patients/{pid}/coverages", json=body)
    assert r.status_code == status, r.text
    return dict(r.json())


def test_create_read_list_update_and_search(world: World) -> None:
    _, c, pid = _setup(world)
    created = _add(c, pid, PRIMARY)
    assert created["member_id"] == "XQ98812345"  # upper case, no spaces or dashes
    assert created["group_number"] == "GRP-778"
    assert created["subscriber_relationship"] == "self" and created["subscriber_relationship_code"] == "18"
    assert created["status"] == "active" and created["row_version"] == 1 and created["withheld"] == []
    cid = created["id"]

    got = c.get(f"{_base('alpha')}/coverages/{cid}")
    assert got.status_code == 200 and got.json()["member_id"] == "XQ98812345"
    assert got.headers["cache-control"] == "no-store"
    secondary = _add(c, pid, {**PRIMARY, "rank": "secondary", "member_id": "SEC1", "payer_name": "Other"})
    listed = c.get(f"{_base('alpha')}/patients/{pid}/coverages").json()
    assert [x["id"] for x in listed] == [cid, secondary["id"]]

    for variant in ("XQ98812345", "xq9-881-2345", " xq98 812345 "):
        found = c.post(f"{_base('alpha')}/coverages/search", json={"member_id": variant})
        assert found.status_code == 200 and [x["id"] for x in found.json()] == [cid], variant

    changed = c.patch(f"{_base('alpha')}/coverages/{cid}", json={"member_id": "NEW-77", "expected_version": 1})
    assert changed.status_code == 200 and changed.json()["member_id"] == "NEW77"
    assert changed.json()["row_version"] == 2
    old = c.post(f"{_base('alpha')}/coverages/search", json={"member_id": "XQ98812345"})
    new = c.post(f"{_base('alpha')}/coverages/search", json={"member_id": "new77"})
    assert old.json() == [] and [x["id"] for x in new.json()] == [cid]
    stale = c.patch(f"{_base('alpha')}/coverages/{cid}", json={"payer_name": "X", "expected_version": 1})
    assert stale.status_code == 409


def test_subscriber_rules(world: World) -> None:
    _, c, pid = _setup(world)
    child = str(world.create_patient(world.member("alpha", "biller"), CHILD))
    # A subscriber other than the patient needs name and birth date; the patient as subscriber takes none.
    _add(c, child, {**PRIMARY, "subscriber_relationship": "child"}, 422)
    _add(c, child, {**PRIMARY, **SUBSCRIBER, "subscriber_birth_date": None}, 422)
    _add(c, pid, {**PRIMARY, "subscriber_given_name": "Ada"}, 422)
    made = _add(c, child, {**PRIMARY, **SUBSCRIBER})
    assert made["subscriber_relationship_code"] == "19" and made["subscriber_given_name"] == "Ada"
    url = f"{_base('alpha')}/coverages/{made['id']}"
    assert c.patch(url, json={"subscriber_birth_date": None}).status_code == 422
    spouse = c.patch(url, json={"subscriber_relationship": "spouse"})
    assert spouse.status_code == 200 and spouse.json()["subscriber_relationship_code"] == "01"
    # Becoming "self" drops the other person's details.
    to_self = c.patch(url, json={"subscriber_relationship": "self"})
    assert to_self.status_code == 200, to_self.text
    body = to_self.json()
    assert body["subscriber_relationship_code"] == "18"
    assert (body["subscriber_given_name"], body["subscriber_family_name"], body["subscriber_birth_date"]) == (
        None,
        None,
        None,
    )
    assert c.patch(url, json={"subscriber_relationship": "other"}).status_code == 422  # details needed again
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        row = s.get(Coverage, uuid.UUID(made["id"]))
        assert row is not None and row.subscriber_given_name is None and row.subscriber_relationship == "self"


def test_effective_dates_and_one_active_coverage_per_rank(world: World) -> None:
    _, c, pid = _setup(world)
    _add(c, pid, {**PRIMARY, "effective_from": "2024-05-01", "effective_to": "2024-04-30"}, 422)
    first = _add(c, pid, {**PRIMARY, "effective_to": "2024-06-30"})
    # Same rank, overlapping dates (open-ended, or touching the last day): refused.
    _add(c, pid, {**PRIMARY, "member_id": "B2", "effective_from": "2024-03-01"}, 409)
    _add(c, pid, {**PRIMARY, "member_id": "B2", "effective_from": "2023-01-01", "effective_to": "2024-01-01"}, 409)
    _add(c, pid, {**PRIMARY, "member_id": "B2", "effective_from": "2024-06-30"}, 409)
    # The day after it ends, or another rank, is fine.
    later = _add(c, pid, {**PRIMARY, "member_id": "B2", "effective_from": "2024-07-01"})
    _add(c, pid, {**PRIMARY, "rank": "secondary", "member_id": "S3", "effective_from": "2024-03-01"})
    # Extending the first into the second's period is refused; a date order violation too.
    url = f"{_base('alpha')}/coverages/{first['id']}"
    assert c.patch(url, json={"effective_to": None}).status_code == 409
    assert c.patch(url, json={"effective_to": "2023-12-31"}).status_code == 422
    assert c.patch(url, json={"rank": None}).status_code == 422
    # An inactive coverage (entered in error) does not count.
    assert c.patch(f"{_base('alpha')}/coverages/{later['id']}", json={"status": "inactive"}).status_code == 200
    assert c.patch(url, json={"effective_to": None}).status_code == 200
    # Another patient is independent.
    other = str(world.create_patient(world.member("alpha", "biller"), {**PATIENT, "given_name": "Bea"}))
    _add(c, other, PRIMARY)


def test_unknown_or_foreign_patient_and_coverage_are_not_found(world: World) -> None:
    _, c, pid = _setup(world)
    cid = _add(c, pid, PRIMARY)["id"]
    bravo = world.client(world.member("bravo", "biller"))
    assert bravo.post(f"{_base('bravo')}/patients/{pid}/coverages", json=PRIMARY).status_code == 404
    assert bravo.get(f"{_base('bravo')}/patients/{pid}/coverages").status_code == 404
    assert bravo.get(f"{_base('bravo')}/coverages/{cid}").status_code == 404
    assert bravo.patch(f"{_base('bravo')}/coverages/{cid}", json={"payer_name": "X"}).status_code == 404
    found = bravo.post(f"{_base('bravo')}/coverages/search", json={"member_id": PRIMARY["member_id"]})
    assert found.status_code == 200 and found.json() == []
    assert c.post(f"{_base('alpha')}/patients/{uuid.uuid4()}/coverages", json=PRIMARY).status_code == 404


def test_permissions(world: World) -> None:
    _, c, pid = _setup(world)
    cid = _add(c, pid, PRIMARY)["id"]
    for role in ("auditor", "security_admin", "org_admin", "compliance_officer"):
        other = world.client(world.member("alpha", role))
        assert other.get(f"{_base('alpha')}/coverages/{cid}").status_code == 403, role
    coder = world.client(world.member("alpha", "coder"))
    assert coder.post(f"{_base('alpha')}/patients/{pid}/coverages", json=PRIMARY).status_code == 403
    assert coder.patch(f"{_base('alpha')}/coverages/{cid}", json={"payer_name": "X"}).status_code == 403
    desk = world.client(world.member("alpha", "front_desk"))
    assert desk.patch(f"{_base('alpha')}/coverages/{cid}", json={"payer_name": "Y Plan"}).status_code == 200


def test_coder_sees_payer_but_not_member_id_or_subscriber(world: World) -> None:
    _, c, _pid = _setup(world)
    child = str(world.create_patient(world.member("alpha", "biller"), CHILD))
    cid = _add(c, child, {**PRIMARY, **SUBSCRIBER})["id"]
    coder = world.client(world.member("alpha", "coder"))
    got = coder.get(f"{_base('alpha')}/coverages/{cid}").json()
    assert got["payer_name"] == "Example Care Plan" and got["rank"] == "primary"
    assert got["member_id"] is None and got["group_number"] is None and got["subscriber_given_name"] is None
    assert got["subscriber_birth_date"] is None
    assert set(got["withheld"]) == {
        "member_id",
        "group_number",
        "subscriber_given_name",
        "subscriber_family_name",
        "subscriber_birth_date",
    }
    assert "XQ98812345" not in coder.get(f"{_base('alpha')}/patients/{child}/coverages").text
    # A biller holding coder too gets the least-masked view.
    both = world.client(world.member("alpha", "coder", "biller"))
    assert both.get(f"{_base('alpha')}/coverages/{cid}").json()["member_id"] == "XQ98812345"


def test_provider_reaches_only_assigned_patients_and_sees_no_member_id(world: World) -> None:
    _, c, pid = _setup(world)
    cid = _add(c, pid, PRIMARY)["id"]
    provider = world.member("alpha", "provider")
    pc = world.client(provider)
    assert pc.get(f"{_base('alpha')}/coverages/{cid}").status_code == 404
    assert pc.get(f"{_base('alpha')}/patients/{pid}/coverages").status_code == 404
    assert pc.post(f"{_base('alpha')}/coverages/search", json={"member_id": "XQ98812345"}).json() == []
    desk = world.client(world.member("alpha", "front_desk"))
    r = desk.post(
        f"{_base('alpha')}/care-assignments", json={"provider_user_id": str(provider.user_id), "patient_id": pid}
    )
    assert r.status_code == 201, r.text
    got = pc.get(f"{_base('alpha')}/coverages/{cid}")
    assert got.status_code == 200 and got.json()["payer_name"] == "Example Care Plan"
    assert got.json()["member_id"] is None and "member_id" in got.json()["withheld"]
    assert [x["id"] for x in pc.get(f"{_base('alpha')}/patients/{pid}/coverages").json()] == [cid]


def test_audited_with_patient_ids_and_field_names_only_and_encrypted_at_rest(world: World) -> None:
    member, c, pid = _setup(world)
    cid = _add(c, pid, PRIMARY)["id"]
    c.get(f"{_base('alpha')}/coverages/{cid}")
    c.get(f"{_base('alpha')}/patients/{pid}/coverages")
    c.patch(f"{_base('alpha')}/coverages/{cid}", json={"group_number": "G-2"})
    c.post(f"{_base('alpha')}/coverages/search", json={"member_id": "XQ98812345"})
    with world.runtime.db.session(tenant_id=member.org_id) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "coverages")))
        assert {e.action for e in events} == {"create", "read", "list", "update", "search"}
        for e in events:
            assert [str(p) for p in e.patient_ids] == [pid] and e.actor_id == member.user_id
        assert next(e for e in events if e.action == "update").fields == ["group_number"]
        dumped = repr([(e.fields, e.detail, e.reason) for e in events])
        for value in ("XQ98812345", "GRP", "G-2"):
            assert value not in dumped
        row = s.get(Coverage, uuid.UUID(cid))
        assert row is not None
        for column in (row.member_id, row.group_number):
            assert column is not None and b"XQ98812345" not in column and b"G-2" not in column
            assert column[0] == 2  # format 2: under the patient's key too (crypto-shreddable)
        assert row.member_id_bidx is not None and len(row.member_id_bidx) == 16


def test_validation_errors_do_not_echo(world: World) -> None:
    _, c, pid = _setup(world)
    r = c.post(f"{_base('alpha')}/patients/{pid}/coverages", json={**PRIMARY, "member_id": "ZZmarker*!"})
    assert r.status_code == 422 and "ZZmarker" not in r.text
    r = c.post(f"{_base('alpha')}/coverages/search", json={"member_id": "ZZmarker~"})
    assert r.status_code == 422 and "ZZmarker" not in r.text
    r = c.post(f"{_base('alpha')}/patients/{pid}/coverages", json={**PRIMARY, "rank": "quaternary"})
    assert r.status_code == 422
