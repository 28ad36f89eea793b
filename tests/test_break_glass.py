"""Break-the-glass: re-authentication first, then a justified, encrypted, audited, alerted and time-boxed grant
that compliance reviews; the holder never reviews their own grant and other organizations see nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from claimvault.accounts.models import AuthSession
from claimvault.accounts.sessions import token_hash
from claimvault.monitoring.models import Alert
from claimvault.monitoring.notifiers import AlertMessage
from claimvault.runtime import Runtime
from claimvault.security.break_glass.models import BreakGlassGrant
from claimvault.security.break_glass.service import active_grant_patient_ids
from claimvault.security.models import AuditEvent
from claimvault.storage.base import utcnow
from tests.conftest import Member, World

JUSTIFICATION = "Unconscious patient in ED, chart needed for allergy check before sedation"
PATIENT = {"given_name": "Ottoline", "family_name": "Quaritch", "birth_date": "1937-05-14"}


class Capture:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sent: list[AlertMessage] = []
        self.committed_at_send: list[bool] = []

    def send(self, alert: AlertMessage) -> None:
        with self.runtime.db.session(tenant_id=alert.organization_id) as s:
            self.committed_at_send.append(s.get(Alert, alert.alert_id) is not None)
        self.sent.append(alert)


@pytest.fixture
def capture(runtime: Runtime) -> Capture:
    found = Capture(runtime)
    runtime.notifier = found  # type: ignore[attr-defined]  # Runtime.notifier is requested in the reply
    return found


def _set_reauth(runtime: Runtime, client: TestClient, *, minutes_ago: float | None) -> None:
    token = client.cookies.get(runtime.settings.session_cookie_name)
    assert token
    when = None if minutes_ago is None else utcnow() - timedelta(minutes=minutes_ago)
    with runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(runtime.settings, token))
            .values(reauthenticated_at=when)
        )


def _patient(world: World, slug: str) -> str:
    owner = world.client(world.member(slug, "front_desk"))
    r = owner.post(f"/api/v1/orgs/{slug}/patients", json=PATIENT, params={"confirm_new": True})
    assert r.status_code == 201
    return str(r.json()["id"])


def _invoke(client: TestClient, slug: str, patient_id: str, **kw: Any) -> Any:
    body = {"patient_id": patient_id, "reason_code": "emergency_care", "justification": JUSTIFICATION, **kw}
    return client.post(f"/api/v1/orgs/{slug}/break-glass", json=body)


def _active(world: World, member: Member) -> set[uuid.UUID]:
    with world.runtime.db.session(tenant_id=member.org_id) as s:
        return active_grant_patient_ids(s, user_id=member.user_id, organization_id=member.org_id)


def _audit(world: World, slug: str, action: str) -> list[AuditEvent]:
    with world.runtime.db.session(tenant_id=world.org(slug)) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def grant(world: World, capture: Capture) -> dict[str, Any]:
    patient_id = _patient(world, "alpha")
    holder = world.member("alpha", "biller")
    client = world.client(holder)
    r = _invoke(client, "alpha", patient_id)
    assert r.status_code == 201, r.text
    return {"holder": holder, "client": client, "patient_id": patient_id, "grant": r.json()}


def test_reauthentication_is_required(world: World, capture: Capture) -> None:
    patient_id = _patient(world, "alpha")
    holder = world.member("alpha", "biller")
    client = world.client(holder)
    for minutes_ago in (None, 6):
        _set_reauth(world.runtime, client, minutes_ago=minutes_ago)
        r = _invoke(client, "alpha", patient_id)
        assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert _active(world, holder) == set()
    assert capture.sent == []
    refused = _audit(world, "alpha", "break_glass")
    assert [(e.outcome, e.reason, e.actor_id) for e in refused] == [
        ("denied", "reauthentication_required", holder.user_id)
    ] * 2
    _set_reauth(world.runtime, client, minutes_ago=1)
    assert _invoke(client, "alpha", patient_id).status_code == 201


def test_invoking_audits_alerts_after_commit_and_grants_access(
    world: World, grant: dict[str, Any], capture: Capture
) -> None:
    holder, patient_id, body = grant["holder"], grant["patient_id"], grant["grant"]
    assert body["active"] is True and body["review_status"] == "pending" and body["reason_code"] == "emergency_care"
    assert "justification" not in body
    duration = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["granted_at"])
    assert duration == timedelta(minutes=60)

    events = _audit(world, "alpha", "break_glass")
    assert len(events) == 1
    event = events[0]
    assert (event.outcome, event.reason, event.actor_id) == ("success", "emergency_care", holder.user_id)
    assert event.patient_ids == [patient_id] and str(event.entity_id) == body["id"]

    assert len(capture.sent) == 1 and capture.committed_at_send == [True]
    message = capture.sent[0]
    assert (message.kind, message.severity, message.organization_slug) == ("break_glass", "high", "alpha")
    assert str(message.alert_id) == body["alert_id"]
    with world.runtime.db.session(tenant_id=holder.org_id) as s:
        alert = s.get(Alert, message.alert_id)
        assert alert is not None and alert.status == "open" and str(alert.entity_id) == body["id"]
        assert patient_id not in alert.summary and "Unconscious" not in alert.summary

    assert _active(world, holder) == {uuid.UUID(patient_id)}
    other = world.member("alpha", "biller")
    assert _active(world, other) == set()

    with world.runtime.db.session(tenant_id=holder.org_id) as s:
        s.execute(
            update(BreakGlassGrant)
            .where(BreakGlassGrant.id == uuid.UUID(body["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert _active(world, holder) == set()


def test_justification_is_encrypted_at_rest(world: World, grant: dict[str, Any]) -> None:
    with world.runtime.db.session(tenant_id=grant["holder"].org_id) as s:
        raw = s.execute(select(BreakGlassGrant.__table__.c.justification)).scalar_one()
        audit_rows = [repr(e.__dict__) for e in s.scalars(select(AuditEvent))]
        alert_rows = [repr(a.__dict__) for a in s.scalars(select(Alert))]
    assert isinstance(raw, bytes) and b"Unconscious" not in raw and b"sedation" not in raw
    for text in audit_rows + alert_rows:
        assert "Unconscious" not in text and "sedation" not in text


def test_bad_requests_are_refused(world: World, grant: dict[str, Any]) -> None:
    client, patient_id = grant["client"], grant["patient_id"]
    assert _invoke(client, "alpha", patient_id, justification="too short").status_code == 422
    assert _invoke(client, "alpha", patient_id, justification="x" * 2001).status_code == 422
    assert _invoke(client, "alpha", patient_id, reason_code="curiosity").status_code == 422
    assert _invoke(client, "alpha", str(uuid.uuid4())).status_code == 404
    biller_of_other_org_patient = _patient(world, "bravo")
    assert _invoke(client, "alpha", biller_of_other_org_patient).status_code == 404
    admin = world.client(world.member("alpha", "org_admin"))
    assert _invoke(admin, "alpha", patient_id).status_code == 403
    assert len(_audit(world, "alpha", "break_glass")) == 1


def _queue(client: TestClient, status: str = "pending") -> Any:
    r = client.get(f"/api/v1/orgs/alpha/break-glass/reviews?status={status}")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("decision", ["approved", "flagged"])
def test_compliance_reviews_the_grant(world: World, grant: dict[str, Any], decision: str) -> None:
    officer = world.member("alpha", "compliance_officer")
    oc = world.client(officer)
    queue = _queue(oc)
    assert [(g["id"], g["justification"]) for g in queue] == [(grant["grant"]["id"], JUSTIFICATION)]
    reads = _audit(world, "alpha", "review_list")
    assert [(e.actor_id, e.patient_ids, e.permission) for e in reads] == [
        (officer.user_id, [grant["patient_id"]], "break_glass:review")
    ]

    r = oc.post(
        f"/api/v1/orgs/alpha/break-glass/{grant['grant']['id']}/review",
        json={"decision": decision, "note_code": "justified" if decision == "approved" else "no_clinical_need"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["review_status"] == decision and r.json()["reviewed_by"] == str(officer.user_id)
    assert _queue(oc) == []
    assert [g["id"] for g in _queue(oc, decision)] == [grant["grant"]["id"]]
    with world.runtime.db.session(tenant_id=officer.org_id) as s:
        alert = s.get(Alert, uuid.UUID(grant["grant"]["alert_id"]))
        assert alert is not None and alert.status == "closed" and alert.closed_by == officer.user_id
    reviewed = _audit(world, "alpha", "break_glass_review")
    assert [(e.reason, e.actor_id) for e in reviewed] == [(decision, officer.user_id)]
    expected = {uuid.UUID(grant["patient_id"])} if decision == "approved" else set()
    assert _active(world, grant["holder"]) == expected  # a flagged grant ends at once

    again = oc.post(
        f"/api/v1/orgs/alpha/break-glass/{grant['grant']['id']}/review",
        json={"decision": "approved", "note_code": "justified"},
    )
    assert again.status_code == 409


def test_holder_cannot_review_own_grant(world: World, capture: Capture) -> None:
    patient_id = _patient(world, "alpha")
    both = world.member("alpha", "biller", "compliance_officer")
    client = world.client(both)
    created = _invoke(client, "alpha", patient_id).json()
    r = client.post(
        f"/api/v1/orgs/alpha/break-glass/{created['id']}/review",
        json={"decision": "approved", "note_code": "justified"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "own_grant"
    assert [g["review_status"] for g in _queue(client)] == ["pending"]
    refused = [e for e in _audit(world, "alpha", "break_glass_review") if e.outcome == "denied"]
    assert [(e.reason, str(e.entity_id)) for e in refused] == [("own_grant", created["id"])]


def test_review_needs_the_review_permission(world: World, grant: dict[str, Any]) -> None:
    assert grant["client"].get("/api/v1/orgs/alpha/break-glass/reviews").status_code == 403
    r = grant["client"].post(
        f"/api/v1/orgs/alpha/break-glass/{grant['grant']['id']}/review",
        json={"decision": "approved", "note_code": "justified"},
    )
    assert r.status_code == 403


def test_other_organizations_cannot_see_or_review(world: World, grant: dict[str, Any]) -> None:
    attacker = world.client(world.member("bravo", "compliance_officer", "biller"))
    grant_id = grant["grant"]["id"]
    assert attacker.get("/api/v1/orgs/alpha/break-glass/reviews").status_code == 404
    r = attacker.get("/api/v1/orgs/bravo/break-glass/reviews?status=all")
    assert r.status_code == 200 and r.json() == []
    body = {"decision": "flagged", "note_code": "policy_violation"}
    assert attacker.post(f"/api/v1/orgs/bravo/break-glass/{grant_id}/review", json=body).status_code == 404
    assert attacker.post(f"/api/v1/orgs/alpha/break-glass/{grant_id}/review", json=body).status_code == 404
    assert _invoke(attacker, "alpha", grant["patient_id"]).status_code == 404
    assert _invoke(attacker, "bravo", grant["patient_id"]).status_code == 404
    officer = world.client(world.member("alpha", "compliance_officer"))
    assert [g["review_status"] for g in _queue(officer)] == ["pending"]


def test_provider_without_care_assignment_reads_the_patient_only_under_a_grant(world: World, capture: Capture) -> None:
    """Integration with the gate's relationship scope: break-the-glass exists for exactly this provider."""
    patient_id = _patient(world, "alpha")
    provider = world.member("alpha", "provider")
    client = world.client(provider)
    assert client.get(f"/api/v1/orgs/alpha/patients/{patient_id}").status_code == 404
    r = _invoke(client, "alpha", patient_id)
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/orgs/alpha/patients/{patient_id}")
    assert got.status_code == 200 and got.json()["family_name"] == PATIENT["family_name"]
    with world.runtime.db.session(tenant_id=provider.org_id) as s:
        s.execute(update(BreakGlassGrant).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get(f"/api/v1/orgs/alpha/patients/{patient_id}").status_code == 404
