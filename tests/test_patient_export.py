"""Patient CSV export: permission ``patient:export`` plus recent re-authentication (API tokens never qualify); one
audit event ``export`` naming every exported patient (no values); masking per role; a filename without PHI;
``Cache-Control: no-store``; spreadsheet formula injection neutralised; only the caller's organization."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from claimvault.accounts.models import AuthSession
from claimvault.accounts.sessions import token_hash
from claimvault.billing.patients.service import EXPORT_COLUMNS
from claimvault.security.models import AuditEvent
from claimvault.storage.base import utcnow
from tests.conftest import World

ADA = {
    "given_name": "Ada",
    "family_name": "Quintero",
    "birth_date": "1961-03-05",
    "ssn": "123-45-6789",
    "phone": "415 555 0123",
    "city": "Springfield",
}
BEA = {"given_name": "Bea", "family_name": "Ortega", "birth_date": "1972-08-19", "address_line1": "=HYPERLINK(1)"}
URL = "/api/v1/orgs/alpha/patients/export"


def _rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def _age_reauth(world: World, c: TestClient, minutes: float) -> None:
    token = c.cookies.get(world.runtime.settings.session_cookie_name)
    assert token
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(world.runtime.settings, token))
            .values(reauthenticated_at=utcnow() - timedelta(minutes=minutes))
        )


def _export_events(world: World) -> list[AuditEvent]:
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "export")))


def test_export_streams_csv_audited_once_with_every_patient(world: World) -> None:
    biller = world.member("alpha", "biller")
    ids = [str(world.create_patient(biller, body)) for body in (ADA, BEA)]
    world.create_patient(world.member("bravo", "biller"), {**ADA, "given_name": "Other"})
    c = world.client(biller)
    r = c.get(URL, params={"format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "no-store"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="patients-alpha-') and disposition.endswith('.csv"')
    for value in ("Ada", "Quintero", "1961", "Bea", "Ortega"):
        assert value not in disposition
    assert r.text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    rows = _rows(r)
    assert [row["id"] for row in rows] == ids  # only this organization, in id order
    ada, bea = rows
    assert (ada["family_name"], ada["birth_date"], ada["ssn"]) == ("Quintero", "1961-03-05", "123-45-6789")
    assert ada["phone"] == "+14155550123" and ada["city"] == "Springfield"  # E.164: no formula guard needed
    assert bea["address_line1"] == "'=HYPERLINK(1)" and bea["ssn"] == ""  # formula neutralised
    events = _export_events(world)
    assert len(events) == 1
    event = events[0]
    assert sorted(str(p) for p in event.patient_ids) == sorted(ids)
    assert event.permission == "patient:export" and event.actor_id == biller.user_id
    assert event.entity_type == "patients" and event.outcome == "success"
    dumped = repr((event.fields, event.detail, event.reason))
    for value in ("Ada", "Quintero", "1961", "123456789", "4155550123"):
        assert value not in dumped


def test_export_needs_recent_reauthentication(world: World) -> None:
    biller = world.member("alpha", "biller")
    world.create_patient(biller, ADA)
    c = world.client(biller)
    _age_reauth(world, c, minutes=30)
    r = c.get(URL)
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert "Quintero" not in r.text and _export_events(world) == []
    _age_reauth(world, c, minutes=1)
    assert c.get(URL).status_code == 200
    assert len(_export_events(world)) == 1


def test_api_tokens_never_export(world: World) -> None:
    manager = world.member("alpha", "billing_manager")
    c = world.client(manager)
    made = c.post(
        "/api/v1/orgs/alpha/tokens",
        json={"name": "exporter", "permissions": ["patient:export"], "expires_in_days": 1},
    )
    assert made.status_code == 201, made.text
    bearer = TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False)
    r = bearer.get(URL, headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert _export_events(world) == []


def test_roles_without_export_are_refused_and_front_desk_gets_masked_ssn(world: World) -> None:
    world.create_patient(world.member("alpha", "biller"), ADA)
    for role in ("coder", "provider", "auditor", "security_admin", "org_admin", "compliance_officer"):
        r = world.client(world.member("alpha", role)).get(URL)
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied", role
    desk = world.client(world.member("alpha", "front_desk"))
    rows = _rows(desk.get(URL))
    assert rows[0]["ssn"] == "***-**-6789" and rows[0]["phone"] == "+14155550123"
    assert world.client(world.member("bravo", "biller")).get(URL).status_code == 404  # not a member of alpha


def test_only_csv_and_empty_export_has_a_header(world: World) -> None:
    c = world.client(world.member("alpha", "billing_manager"))
    assert c.get(URL, params={"format": "xlsx"}).status_code == 422
    r = c.get(URL)
    assert r.status_code == 200 and r.text == ",".join(EXPORT_COLUMNS) + "\r\n"
    assert [list(e.patient_ids) for e in _export_events(world)] == [[]]
