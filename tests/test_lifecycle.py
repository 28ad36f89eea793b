"""Account lifecycle: termination refuses the very next request (session and token), re-activation only through a
second security administrator, the dormant-account job, members and role changes, and the security-event views.
Runs on both backends."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from claimvault.accounts.lifecycle import disable_dormant_accounts, terminate_user
from claimvault.accounts.models import AuthSession, Membership, SecurityEvent, User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.sessions import now_utc
from claimvault.errors import PermissionDenied
from claimvault.security.context import UserContext
from claimvault.security.models import AuditEvent
from tests.conftest import Member, World, complete_mfa_for_test
from tests.test_api_tokens import bearer, make_token

USERS = "/api/v1/orgs/{org}/users"


def users(org: str = "alpha") -> str:
    return USERS.format(org=org)


def _user(world: World, user_id: uuid.UUID) -> User:
    with world.runtime.db.session(tenant_id=None) as s:
        user = s.get(User, user_id)
    assert user is not None
    return user


def _events(world: World, user_id: uuid.UUID) -> list[str]:
    with world.runtime.db.session(tenant_id=None) as s:
        return [e.kind for e in s.scalars(select(SecurityEvent).where(SecurityEvent.user_id == user_id))]


def _audit(world: World, org_id: uuid.UUID | None, action: str) -> list[AuditEvent]:
    with world.runtime.db.session(tenant_id=org_id) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _stale_reauth(world: World, member: Member) -> None:
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == member.user_id)
            .values(reauthenticated_at=now_utc() - timedelta(minutes=6))
        )


def login(world: World, username: str, password: str) -> Any:
    c = TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False)
    return c, c.post("/api/v1/auth/login", json={"username": username, "password": password})


# Termination --------------------------------------------------------------------------------------------------
def test_termination_refuses_the_very_next_request_with_session_or_token(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    victim = world.member("alpha", "billing_manager")
    session_client = world.client(victim)
    token = make_token(world, victim, ["patient:list"])["token"]
    token_client = bearer(world, token)
    assert session_client.get("/api/v1/orgs/alpha/patients").status_code == 200
    assert token_client.get("/api/v1/orgs/alpha/patients").status_code == 200

    r = world.client(admin).post(f"{users()}/{victim.user_id}/terminate")
    assert r.status_code == 200, r.text
    assert r.json()["sessions_revoked"] >= 1 and r.json()["tokens_revoked"] == 1

    assert session_client.get("/api/v1/orgs/alpha/patients").status_code == 401
    assert session_client.get("/api/v1/auth/me").status_code == 401
    assert token_client.get("/api/v1/orgs/alpha/patients").status_code == 401
    assert login(world, victim.username, victim.password)[1].status_code == 401

    user = _user(world, victim.user_id)
    assert user.terminated_at is not None and not user.is_active and not user.can_log_in
    assert "user.terminated" in _events(world, victim.user_id)
    with world.runtime.db.session(tenant_id=None) as s:
        live = s.scalars(
            select(AuthSession).where(AuthSession.user_id == victim.user_id, AuthSession.revoked_at.is_(None))
        )
        assert list(live) == []
    [event] = _audit(world, victim.org_id, "user.terminate")
    assert event.actor_id == admin.user_id and event.entity_id == victim.user_id and event.outcome == "success"


def test_termination_guards(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    c = world.client(admin)
    outsider = world.member("bravo", "biller")
    assert c.post(f"{users()}/{admin.user_id}/terminate").status_code == 403  # not yourself
    assert c.post(f"{users()}/{outsider.user_id}/terminate").status_code == 404  # not a member here
    assert c.post(f"{users()}/{uuid.uuid4()}/terminate").status_code == 404
    biller = world.member("alpha", "biller")
    assert world.client(biller).post(f"{users()}/{admin.user_id}/terminate").status_code == 403
    assert (
        world.client(world.member("bravo", "security_admin")).post(f"{users()}/{biller.user_id}/terminate").status_code
        == 404
    )
    assert _user(world, outsider.user_id).can_log_in and _user(world, admin.user_id).can_log_in
    target = world.member("alpha", "coder")
    assert c.post(f"{users()}/{target.user_id}/terminate").status_code == 200
    assert c.post(f"{users()}/{target.user_id}/terminate").status_code == 409


def test_termination_needs_recent_reauthentication(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    victim = world.member("alpha", "biller")
    c = world.client(admin)
    _stale_reauth(world, admin)
    r = c.post(f"{users()}/{victim.user_id}/terminate")
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert _user(world, victim.user_id).can_log_in


def test_terminate_user_service_refuses_self_and_missing_permission(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    ctx = UserContext(user_id=admin.user_id, organization_id=admin.org_id, roles=frozenset({"security_admin"}))
    with pytest.raises(PermissionDenied):
        terminate_user(db=world.runtime.db, user_id=admin.user_id, actor=ctx)
    auditor = UserContext(user_id=uuid.uuid4(), organization_id=admin.org_id, roles=frozenset({"auditor"}))
    with pytest.raises(PermissionDenied):
        terminate_user(db=world.runtime.db, user_id=admin.user_id, actor=auditor)


def test_reactivation_needs_a_different_security_admin(world: World) -> None:
    first = world.member("alpha", "security_admin")
    second = world.member("alpha", "security_admin")
    org_admin = world.member("alpha", "org_admin", "billing_manager")
    victim = world.member("alpha", "biller")
    old_session = world.client(victim)
    c1 = world.client(first)
    assert c1.post(f"{users()}/{victim.user_id}/terminate").status_code == 200

    created = c1.post(
        "/api/v1/orgs/alpha/approvals", json={"kind": "user_reactivation", "subject_id": str(victim.user_id)}
    )
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    assert created.json()["status"] == "pending" and created.json()["requested_by"] == str(first.user_id)
    decide = f"/api/v1/orgs/alpha/approvals/{request_id}/decide"
    approve = {"approve": True, "reason_code": "rehired"}

    own = c1.post(decide, json=approve)
    assert own.status_code == 403 and own.json()["error"]["code"] == "approval_same_person"
    wrong_role = world.client(org_admin).post(decide, json=approve)  # billing_manager decides money, not accounts
    assert wrong_role.status_code == 403
    assert not _user(world, victim.user_id).can_log_in

    done = world.client(second).post(decide, json=approve)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "executed" and done.json()["decided_by"] == str(second.user_id)
    user = _user(world, victim.user_id)
    assert user.can_log_in and user.must_change_password and user.terminated_at is None and user.disabled_at is None
    assert old_session.get("/api/v1/auth/me").status_code == 401  # sessions stay revoked
    c, r = login(world, victim.username, victim.password)
    assert r.status_code == 200
    complete_mfa_for_test(world.runtime, c)
    assert c.get("/api/v1/orgs/alpha").json()["error"]["code"] == "password_change_required"
    assert "user.reactivated" in _events(world, victim.user_id)
    assert world.client(second).post(decide, json=approve).status_code == 409


def test_reactivation_of_an_active_account_is_refused(world: World) -> None:
    admin = world.client(world.member("alpha", "security_admin"))
    active = world.member("alpha", "biller")
    r = admin.post(
        "/api/v1/orgs/alpha/approvals", json={"kind": "user_reactivation", "subject_id": str(active.user_id)}
    )
    assert r.status_code == 409


# Dormant accounts ---------------------------------------------------------------------------------------------
def _set_times(world: World, member: Member, *, created: datetime, last_login: datetime | None) -> None:
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(User).where(User.id == member.user_id).values(created_at=created, last_login_at=last_login))


def test_dormant_job_disables_exactly_the_old_accounts_and_reports_them(world: World) -> None:
    now = now_utc()
    old_login = world.member("alpha", "biller")
    never_old = world.member("alpha", "coder")
    recent_login = world.member("alpha", "front_desk")
    never_new = world.member("alpha", "auditor")
    edge = world.member("alpha", "biller")
    gone = world.member("alpha", "biller")
    _set_times(world, old_login, created=now - timedelta(days=400), last_login=now - timedelta(days=100))
    _set_times(world, never_old, created=now - timedelta(days=120), last_login=None)
    _set_times(world, recent_login, created=now - timedelta(days=400), last_login=now - timedelta(days=10))
    _set_times(world, never_new, created=now - timedelta(days=5), last_login=None)
    _set_times(world, edge, created=now - timedelta(days=400), last_login=now - timedelta(days=89))
    _set_times(world, gone, created=now - timedelta(days=400), last_login=now - timedelta(days=300))
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(User).where(User.id == gone.user_id).values(terminated_at=now, is_active=False))
    live = world.client(old_login)  # a session that must end
    assert live.get("/api/v1/auth/me").status_code == 200
    _set_times(world, old_login, created=now - timedelta(days=400), last_login=now - timedelta(days=100))
    token = make_token(world, world.member("alpha", "billing_manager"), ["patient:list"])  # unaffected owner

    dry = disable_dormant_accounts(db=world.runtime.db, now=now, days=90, dry_run=True)
    assert {r.username for r in dry} == {old_login.username, never_old.username}
    assert _user(world, old_login.user_id).disabled_at is None

    report = disable_dormant_accounts(db=world.runtime.db, now=now, days=90)
    assert {r.username for r in report} == {old_login.username, never_old.username}
    by_name = {r.username: r for r in report}
    assert by_name[never_old.username].last_login_at is None and by_name[never_old.username].idle_days == 120
    assert by_name[old_login.username].last_login_at is not None and by_name[old_login.username].idle_days == 100

    for member in (old_login, never_old):
        user = _user(world, member.user_id)
        assert user.disabled_at is not None and user.disabled_reason == "dormant" and not user.can_log_in
        assert "user.disabled" in _events(world, member.user_id)
        assert login(world, member.username, member.password)[1].status_code == 401
    for member in (recent_login, never_new, edge):
        assert _user(world, member.user_id).disabled_at is None
    assert _user(world, gone.user_id).disabled_at is None
    assert live.get("/api/v1/auth/me").status_code == 401
    assert bearer(world, token["token"]).get("/api/v1/orgs/alpha/patients").status_code == 200
    assert disable_dormant_accounts(db=world.runtime.db, now=now, days=90) == []
    audited = _audit(world, world.org("alpha"), "user.disable")
    assert sorted(str(e.entity_id) for e in audited) == sorted(str(m.user_id) for m in (old_login, never_old))
    assert {(e.actor_type, e.actor_name, e.reason) for e in audited} == {("system", "disable-dormant", "dormant")}


def test_dormant_job_revokes_the_dormant_users_tokens(world: World) -> None:
    manager = world.member("alpha", "billing_manager")
    token = make_token(world, manager, ["patient:list"])["token"]
    now = now_utc()
    _set_times(world, manager, created=now - timedelta(days=200), last_login=now - timedelta(days=95))
    assert [r.user_id for r in disable_dormant_accounts(db=world.runtime.db, now=now)] == [manager.user_id]
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(User).where(User.id == manager.user_id).values(disabled_at=None))  # even if re-enabled
    assert bearer(world, token).get("/api/v1/orgs/alpha/patients").status_code == 401


# Members and roles --------------------------------------------------------------------------------------------
def test_users_list_shows_members_roles_state_without_secrets(world: World) -> None:
    admin = world.member("alpha", "org_admin")
    world.member("alpha", "biller", "coder")
    world.member("bravo", "biller")
    r = world.client(admin).get(users())
    assert r.status_code == 200
    body = r.json()
    assert len(body) == 2
    assert "password_hash" not in r.text and "$argon2" not in r.text
    roles = sorted(tuple(m["roles"]) for m in body)
    assert roles == [("biller", "coder"), ("org_admin",)]
    assert {m["state"] for m in body} == {"active"}
    assert world.client(world.member("alpha", "biller")).get(users()).status_code == 403


def test_create_user_returns_a_one_time_password_once(world: World) -> None:
    admin = world.client(world.member("alpha", "security_admin"))
    r = admin.post(users(), json={"username": "new.biller", "roles": ["biller", "coder"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["roles"] == ["biller", "coder"] and len(body["one_time_password"]) >= 20
    user = _user(world, uuid.UUID(body["user_id"]))
    assert user.must_change_password and body["one_time_password"] not in user.password_hash
    _, login_r = login(world, "new.biller", body["one_time_password"])
    assert login_r.status_code == 200
    listed = admin.get(users()).json()
    assert body["one_time_password"] not in str(listed)
    assert admin.post(users(), json={"username": "new.biller", "roles": ["biller"]}).status_code == 409
    assert admin.post(users(), json={"username": "x2y", "roles": ["wizard"]}).status_code == 422
    assert admin.post(users(), json={"username": "x2y", "roles": []}).status_code == 422
    [event] = _audit(world, world.org("alpha"), "user.create")
    assert event.detail == {"roles": ["biller", "coder"]}


def test_role_change_takes_effect_on_the_next_request(world: World) -> None:
    admin = world.member("alpha", "org_admin")
    target = world.member("alpha", "biller")
    target_client = world.client(target)
    assert target_client.get("/api/v1/orgs/alpha/patients").status_code == 200
    c = world.client(admin)
    r = c.post(f"{users()}/{target.user_id}/roles", json={"roles": ["auditor"]})
    assert r.status_code == 200 and r.json()["roles"] == ["auditor"]
    assert target_client.get("/api/v1/orgs/alpha/patients").status_code == 401  # session ended
    fresh = world.client(target)
    assert fresh.get("/api/v1/orgs/alpha/patients").status_code == 403
    assert fresh.get("/api/v1/orgs/alpha").json()["your_roles"] == ["auditor"]
    [event] = _audit(world, world.org("alpha"), "membership.change")
    assert event.detail == {"added": ["auditor"], "removed": ["biller"]} and event.actor_id == admin.user_id


def test_role_change_guards(world: World) -> None:
    admin = world.member("alpha", "org_admin")
    c = world.client(admin)
    assert (
        c.post(f"{users()}/{admin.user_id}/roles", json={"roles": ["org_admin", "security_admin"]}).status_code == 403
    )
    outsider = world.member("bravo", "biller")
    assert c.post(f"{users()}/{outsider.user_id}/roles", json={"roles": ["biller"]}).status_code == 404
    target = world.member("alpha", "biller")
    assert c.post(f"{users()}/{target.user_id}/roles", json={"roles": ["wizard"]}).status_code == 422
    security_admin = world.client(world.member("alpha", "security_admin"))  # user:manage is not membership:manage
    assert security_admin.post(f"{users()}/{target.user_id}/roles", json={"roles": ["coder"]}).status_code == 403
    _stale_reauth(world, admin)
    r = c.post(f"{users()}/{target.user_id}/roles", json={"roles": ["coder"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    with world.runtime.db.session(tenant_id=None) as s:
        assert list(s.scalars(select(Membership.role).where(Membership.user_id == target.user_id))) == ["biller"]


# Security events ----------------------------------------------------------------------------------------------
def test_own_security_events_newest_first(world: World) -> None:
    member = world.member("alpha", "biller")
    c = world.client(member)
    with world.runtime.db.session(tenant_id=None) as s:
        add_security_event(s, user_id=member.user_id, kind="password.changed")
    other = world.member("alpha", "biller")
    world.client(other)
    r = c.get("/api/v1/auth/security-events")
    assert r.status_code == 200
    events = r.json()
    assert events[0]["kind"] == "password.changed" and any(e["kind"] == "login" for e in events)
    times = [e["created_at"] for e in events]
    assert times == sorted(times, reverse=True)
    with world.runtime.db.session(tenant_id=None) as s:
        other_ids = {str(e.id) for e in s.scalars(select(SecurityEvent).where(SecurityEvent.user_id == other.user_id))}
    assert other_ids and not other_ids & {e["id"] for e in events}
    assert TestClient(world.app, base_url="https://testserver").get("/api/v1/auth/security-events").status_code == 401


def test_member_security_events_for_security_readers_only(world: World) -> None:
    member = world.member("alpha", "biller")
    world.client(member)
    with world.runtime.db.session(tenant_id=world.org("bravo")) as s:
        add_security_event(s, user_id=member.user_id, kind="token.created", organization_id=world.org("bravo"))
    path = f"/api/v1/orgs/alpha/users/{member.user_id}/security-events"
    officer = world.member("alpha", "compliance_officer")
    r = world.client(officer).get(path)
    assert r.status_code == 200
    kinds = [e["kind"] for e in r.json()]
    assert "login" in kinds and "token.created" not in kinds  # another organization's event stays there
    assert world.client(world.member("alpha", "biller")).get(path).status_code == 403
    assert world.client(world.member("bravo", "security_admin")).get(path).status_code == 404
    outsider = world.member("bravo", "biller")
    assert world.client(officer).get(f"/api/v1/orgs/alpha/users/{outsider.user_id}/security-events").status_code == 404
    [event] = _audit(world, world.org("alpha"), "security_events.read")
    assert event.actor_id == officer.user_id and event.entity_id == member.user_id
