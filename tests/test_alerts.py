"""Alerts: raised in the caller's transaction, delivered only after it commits, managed through the API with
every change audited, and invisible to other organizations."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.errors import ValidationFailed
from claimvault.monitoring import alerts
from claimvault.monitoring.models import Alert
from claimvault.monitoring.notifiers import AlertMessage
from claimvault.security.models import AuditEvent
from claimvault.storage.database import Database
from tests.conftest import World


class Capture:
    """Records deliveries, and whether the alert was already committed (visible to a fresh session)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sent: list[AlertMessage] = []
        self.visible_at_send: list[bool] = []

    def send(self, alert: AlertMessage) -> None:
        with self.db.session(tenant_id=alert.organization_id) as s:
            self.visible_at_send.append(s.get(Alert, alert.alert_id) is not None)
        self.sent.append(alert)


class Failing:
    def send(self, alert: AlertMessage) -> None:
        raise ConnectionRefusedError("smtp.example.com refused")


def _raise(session: Any, org_id: uuid.UUID, notifier: Any, **kw: Any) -> Alert:
    return alerts.raise_alert(
        session,
        organization_id=org_id,
        kind=kw.pop("kind", "break_glass"),
        severity=kw.pop("severity", "high"),
        summary=kw.pop("summary", "Break-the-glass access invoked, reason emergency_care"),
        notifier=notifier,
        **kw,
    )


def test_delivery_happens_after_commit(world: World) -> None:
    db = world.runtime.db
    org_id = world.org("alpha")
    capture = Capture(db)
    with db.session(tenant_id=org_id) as s:
        alert = _raise(s, org_id, capture)
        assert capture.sent == []  # not before the commit
    assert len(capture.sent) == 1 and capture.visible_at_send == [True]
    message = capture.sent[0]
    assert (message.alert_id, message.organization_id, message.organization_slug) == (alert.id, org_id, "alpha")
    assert (message.kind, message.severity) == ("break_glass", "high")
    assert message.link_path == f"/api/v1/orgs/alpha/alerts/{alert.id}"
    with db.session(tenant_id=org_id) as s:
        stored = s.get(Alert, alert.id)
        assert stored is not None and stored.status == "open"
        raised = s.scalars(select(AuditEvent).where(AuditEvent.action == "alert_raised")).all()
        assert [e.entity_id for e in raised] == [alert.id]


def test_rolled_back_work_sends_nothing(world: World) -> None:
    db = world.runtime.db
    org_id = world.org("alpha")
    capture = Capture(db)
    with pytest.raises(RuntimeError), db.session(tenant_id=org_id) as s:
        _raise(s, org_id, capture)
        raise RuntimeError("the work failed")
    with db.session(tenant_id=org_id) as s:
        kept = _raise(s, org_id, capture, summary="kept")
        with pytest.raises(RuntimeError), s.begin_nested():
            _raise(s, org_id, capture, summary="inner savepoint rolled back")
            raise RuntimeError("inner work failed")
    assert [m.alert_id for m in capture.sent] == [kept.id]
    with db.session(tenant_id=org_id) as s:
        assert list(s.scalars(select(Alert.summary))) == ["kept"]


def test_a_failing_channel_never_breaks_the_transaction(world: World, caplog: pytest.LogCaptureFixture) -> None:
    db = world.runtime.db
    org_id = world.org("alpha")
    with db.session(tenant_id=org_id) as s:
        alert = _raise(s, org_id, Failing())
    with db.session(tenant_id=org_id) as s:
        assert s.get(Alert, alert.id) is not None
    assert "alert delivery failed" in caplog.text and "example.com" not in caplog.text


@pytest.mark.parametrize(
    "bad",
    [
        {"severity": "urgent"},
        {"kind": "Break Glass"},
        {"summary": "Patient jane.doe@example.com opened"},
        {"summary": "x" * 201},
        {"summary": ""},
    ],
)
def test_raise_alert_refuses_free_text_and_unknown_codes(world: World, bad: dict[str, str]) -> None:
    db = world.runtime.db
    org_id = world.org("alpha")
    with pytest.raises(ValidationFailed), db.session(tenant_id=org_id) as s:
        _raise(s, org_id, Capture(db), **bad)


def _seed_alert(world: World, slug: str) -> uuid.UUID:
    org_id = world.org(slug)
    with world.runtime.db.session(tenant_id=org_id) as s:
        return _raise(s, org_id, Capture(world.runtime.db), entity_type="patients").id


def _audit_actions(world: World, org_slug: str, alert_id: uuid.UUID) -> list[str]:
    with world.runtime.db.session(tenant_id=world.org(org_slug)) as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == alert_id).order_by(AuditEvent.recorded_at, AuditEvent.id)
        )
        return [e.action for e in events]


def test_alert_lifecycle_through_the_api(world: World) -> None:
    alert_id = _seed_alert(world, "alpha")
    officer = world.member("alpha", "compliance_officer")
    security = world.member("alpha", "security_admin")
    front_desk = world.member("alpha", "front_desk")
    outsider = world.member("bravo", "compliance_officer")
    c = world.client(officer)

    listed = c.get("/api/v1/orgs/alpha/alerts?status=open").json()
    assert [a["id"] for a in listed["items"]] == [str(alert_id)]
    assert c.get("/api/v1/orgs/alpha/alerts?status=closed").json()["items"] == []
    assert c.get("/api/v1/orgs/alpha/alerts?status=bogus").status_code == 422
    assert c.get(f"/api/v1/orgs/alpha/alerts/{alert_id}").json()["severity"] == "high"

    r = c.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/acknowledge")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == str(officer.user_id)

    for not_assignable in (front_desk.user_id, outsider.user_id, uuid.uuid4()):
        r = c.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/assign", json={"user_id": str(not_assignable)})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_assignee"
    r = c.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/assign", json={"user_id": str(security.user_id)})
    assert r.status_code == 200 and r.json()["assignee_user_id"] == str(security.user_id)

    r = c.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_by"] == str(officer.user_id)
    for action in ("close", "acknowledge"):
        r = c.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/{action}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "alert_closed"

    assert _audit_actions(world, "alpha", alert_id) == [
        "alert_raised",
        "alert_acknowledged",
        "alert_assigned",
        "alert_closed",
    ]


def test_permissions_on_alert_routes(world: World) -> None:
    alert_id = _seed_alert(world, "alpha")
    front_desk = world.client(world.member("alpha", "front_desk"))
    assert front_desk.get("/api/v1/orgs/alpha/alerts").status_code == 403
    assert front_desk.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/close").status_code == 403
    auditor = world.client(world.member("alpha", "auditor"))
    assert auditor.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/acknowledge").status_code == 403
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.status == "open"


def test_other_organizations_cannot_see_or_change_alerts(world: World) -> None:
    alert_id = _seed_alert(world, "alpha")
    attacker = world.client(world.member("bravo", "compliance_officer", "security_admin"))
    assert attacker.get("/api/v1/orgs/alpha/alerts").status_code == 404
    assert attacker.get("/api/v1/orgs/bravo/alerts").json()["items"] == []
    assert attacker.get(f"/api/v1/orgs/bravo/alerts/{alert_id}").status_code == 404
    for action in ("acknowledge", "close"):
        assert attacker.post(f"/api/v1/orgs/bravo/alerts/{alert_id}/{action}").status_code == 404
        assert attacker.post(f"/api/v1/orgs/alpha/alerts/{alert_id}/{action}").status_code == 404
    r = attacker.post(f"/api/v1/orgs/bravo/alerts/{alert_id}/assign", json={"user_id": str(uuid.uuid4())})
    assert r.status_code == 404
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.status == "open" and alert.assignee_user_id is None
