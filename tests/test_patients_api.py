"""Patient routes end to end: create, read, update, list, search, through login, the gate and the audit."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from claimvault.security.models import AuditEvent
from tests.conftest import World
from tests.needles import without_ids

NEW = {"given_name": "Ada", "family_name": "Quintero", "birth_date": "1961-03-05"}


def _base(slug: str) -> str:
    return f"/api/v1/orgs/{slug}/patients"


def test_create_read_update_list_search(world: World) -> None:
    biller = world.member("alpha", "biller")
    c = world.client(biller)
    created = c.post(_base("alpha"), json=NEW)
    assert created.status_code == 201, created.text
    patient = created.json()
    assert patient["family_name"] == "Quintero" and patient["row_version"] == 1
    pid = patient["id"]

    got = c.get(f"{_base('alpha')}/{pid}")
    assert got.status_code == 200 and got.json()["birth_date"] == "1961-03-05"
    assert got.headers["cache-control"] == "no-store"

    changed = c.patch(f"{_base('alpha')}/{pid}", json={"given_name": "Adah", "expected_version": 1})
    assert changed.status_code == 200, changed.text
    assert changed.json()["given_name"] == "Adah" and changed.json()["row_version"] == 2

    stale = c.patch(f"{_base('alpha')}/{pid}", json={"given_name": "Adele", "expected_version": 1})
    assert stale.status_code == 409

    listed = c.get(_base("alpha"))
    assert [p["id"] for p in listed.json()["items"]] == [pid]

    found = c.post(f"{_base('alpha')}/search", json={"family_name": "  quintero ", "birth_date": "1961-03-05"})
    assert found.status_code == 200 and [p["id"] for p in found.json()] == [pid]
    none = c.post(f"{_base('alpha')}/search", json={"family_name": "Quintero", "birth_date": "1961-03-06"})
    assert none.json() == []


def test_search_after_update_uses_new_index(world: World) -> None:
    c = world.client(world.member("alpha", "front_desk"))
    pid = c.post(_base("alpha"), json=NEW).json()["id"]
    c.patch(f"{_base('alpha')}/{pid}", json={"family_name": "Ortega"})
    old = c.post(f"{_base('alpha')}/search", json={"family_name": "Quintero", "birth_date": "1961-03-05"})
    new = c.post(f"{_base('alpha')}/search", json={"family_name": "Ortega", "birth_date": "1961-03-05"})
    assert old.json() == [] and [p["id"] for p in new.json()] == [pid]


def test_pagination(world: World) -> None:
    c = world.client(world.member("alpha", "biller"))
    ids = [
        c.post(_base("alpha"), json={**NEW, "given_name": f"P{i}"}, params={"confirm_new": True}).json()["id"]
        for i in range(5)
    ]
    first = c.get(_base("alpha"), params={"limit": 2}).json()
    second = c.get(_base("alpha"), params={"limit": 2, "after": first["next_after"]}).json()
    third = c.get(_base("alpha"), params={"limit": 2, "after": second["next_after"]}).json()
    seen = [p["id"] for p in first["items"] + second["items"] + third["items"]]
    assert seen == ids and third["next_after"] is None


def test_every_access_is_audited_with_patient_ids_and_field_names_only(world: World) -> None:
    member = world.member("alpha", "biller")
    c = world.client(member)
    pid = c.post(_base("alpha"), json=NEW).json()["id"]
    c.get(f"{_base('alpha')}/{pid}")
    c.patch(f"{_base('alpha')}/{pid}", json={"family_name": "Ortega"})
    c.post(f"{_base('alpha')}/search", json={"family_name": "Ortega", "birth_date": "1961-03-05"})
    c.get(_base("alpha"))
    with world.runtime.db.session(tenant_id=member.org_id) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "patients")))
        by_action = {e.action: e for e in events}
        assert set(by_action) == {"create", "read", "update", "search", "list"}
        for e in events:
            assert e.patient_ids == [pid]
            assert e.actor_id == member.user_id and e.roles == ["biller"] and e.purpose_of_use == "HPAYMT"
            assert e.request_id
        assert by_action["update"].fields == ["family_name"]
        dumped = repr([(e.fields, e.detail, e.reason, e.actor_name) for e in events])
        for value in ("Ada", "Quintero", "Ortega", "1961"):
            assert value not in dumped


def test_role_without_permission_is_refused_and_refusal_audited(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    c = world.client(admin)
    r = c.get(_base("alpha"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    r = c.post(_base("alpha"), json=NEW)
    assert r.status_code == 403
    with world.runtime.db.session(tenant_id=admin.org_id) as s:
        denied = list(s.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")))
    assert {e.permission for e in denied} == {"patient:list", "patient:create"}


def test_coder_cannot_create(world: World) -> None:
    c = world.client(world.member("alpha", "coder"))
    assert c.post(_base("alpha"), json=NEW).status_code == 403
    assert c.get(_base("alpha")).status_code == 200


def test_unauthenticated_is_401(world: World) -> None:
    c = world.client()
    assert c.get(_base("alpha")).status_code == 401
    assert c.post(f"{_base('alpha')}/search", json={"family_name": "X", "birth_date": "2000-01-01"}).status_code == 401


def test_validation_errors_do_not_echo(world: World) -> None:
    c = world.client(world.member("alpha", "biller"))
    r = c.post(_base("alpha"), json={**NEW, "birth_date": "ZZmarker-not-a-date"})
    assert r.status_code == 422 and "ZZmarker" not in r.text
    r = c.post(_base("alpha"), json={**NEW, "birth_date": "2999-01-01"})
    assert r.status_code == 422 and "2999" not in without_ids(r.text)


CONTACT = {
    "phone": "(415) 555-0123",
    "email": "Ada.Q@Example.COM",
    "address_line1": " 12  Harbor Way ",
    "address_line2": "Apt 3",
    "city": "Springfield",
    "state": "il",
    "postal_code": "62704 1234",
}


def test_contact_data_is_normalised_encrypted_and_searchable_by_phone(world: World) -> None:
    member = world.member("alpha", "front_desk")
    c = world.client(member)
    created = c.post(_base("alpha"), json={**NEW, **CONTACT})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["phone"] == "+14155550123" and body["email"] == "Ada.Q@example.com"
    assert (body["address_line1"], body["state"], body["postal_code"]) == ("12 Harbor Way", "IL", "62704-1234")
    pid = body["id"]
    for variant in ("+1 415 555 0123", "415.555.0123", "14155550123", "(415)555-0123"):
        found = c.post(f"{_base('alpha')}/search", json={"phone": variant})
        assert found.status_code == 200 and [p["id"] for p in found.json()] == [pid], variant
    assert c.post(f"{_base('alpha')}/search", json={"phone": "415 555 0124"}).json() == []
    # Only one criterion at a time.
    assert c.post(f"{_base('alpha')}/search", json={"phone": "4155550123", "ssn": "123456789"}).status_code == 422

    # A new number moves the index; removing the number removes it from search.
    changed = c.patch(f"{_base('alpha')}/{pid}", json={"phone": "+44 20 7946 0958", "address_line2": None})
    assert changed.status_code == 200 and changed.json()["phone"] == "+442079460958"
    assert changed.json()["address_line2"] is None
    assert c.post(f"{_base('alpha')}/search", json={"phone": "4155550123"}).json() == []
    assert [p["id"] for p in c.post(f"{_base('alpha')}/search", json={"phone": "+442079460958"}).json()] == [pid]
    assert c.patch(f"{_base('alpha')}/{pid}", json={"phone": None}).status_code == 200
    assert c.post(f"{_base('alpha')}/search", json={"phone": "+442079460958"}).json() == []
    assert c.patch(f"{_base('alpha')}/{pid}", json={"given_name": None}).status_code == 422

    with world.runtime.db.session(tenant_id=member.org_id) as s:
        row = s.get(Patient, uuid.UUID(pid))
        assert row is not None and row.phone is None and row.phone_bidx is None
        for column in (row.email, row.address_line1, row.city, row.state, row.postal_code):
            assert column is not None and column[0] == 2  # ciphertext under the patient's key
            # Needles of five bytes or more: a two-letter state could occur in random ciphertext by chance
            # (about one run in a thousand); the header byte above already shows the state is sealed.
            for plain in (b"example.com", b"Harbor", b"Springfield", b"62704"):
                assert plain not in column
            assert len(column) > 28  # header, nonce and tag around the value


def test_invalid_contact_data_is_refused_without_echo(world: World) -> None:
    c = world.client(world.member("alpha", "biller"))
    for field, value in (
        ("phone", "555-0123"),  # no area code
        ("phone", "(015) 555-0123"),  # impossible US area code
        ("phone", "ZZmarker"),
        ("email", "ZZmarker-at-example.com"),
        ("state", "ZZ"),
        ("postal_code", "ZZmark"),
    ):
        r = c.post(_base("alpha"), json={**NEW, field: value})
        assert r.status_code == 422, (field, value)
        assert value not in r.text
    r = c.post(f"{_base('alpha')}/search", json={"phone": "ZZmarker"})
    assert r.status_code == 422 and "ZZmarker" not in r.text


def test_coder_gets_no_contact_data(world: World) -> None:
    pid = world.create_patient(world.member("alpha", "biller"), {**NEW, **CONTACT})
    coder = world.client(world.member("alpha", "coder"))
    got = coder.get(f"{_base('alpha')}/{pid}").json()
    assert got["family_name"] == "Quintero"
    assert all(got[f] is None for f in CONTACT)
    assert set(got["withheld"]) == set(CONTACT)
    assert "4155550123" not in coder.get(_base("alpha")).text  # the phone in any format (not "555": timestamps)
    desk = world.client(world.member("alpha", "front_desk"))
    assert desk.get(f"{_base('alpha')}/{pid}").json()["phone"] == "+14155550123"  # front desk calls patients
