"""Password change and forced change, through the service and the API: the current password is checked, the
policy applies (with the user's username and organizations as context), other sessions end while this one
continues, a forced change locks the user out of everything but the change, and no response, event or audit
record ever carries a password. Runs on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from claimvault.accounts.models import AuthSession, SecurityEvent, User
from claimvault.accounts.password_change import change_password, force_password_change
from claimvault.accounts.sessions import now_utc
from claimvault.security import password_policy
from claimvault.security.models import AuditEvent
from tests.conftest import PASSWORD, Member, World

CHANGE = "/api/v1/auth/password"
CHECK = "/api/v1/auth/password/check"
ME = "/api/v1/auth/me"
NEW = "violet tractor kettle moonbeam"


def force_path(org: str, user_id: uuid.UUID) -> str:
    return f"/api/v1/orgs/{org}/users/{user_id}/force-password-change"


def events(world: World, user_id: uuid.UUID, kind: str) -> list[SecurityEvent]:
    with world.runtime.db.session(tenant_id=None) as s:
        return list(
            s.scalars(select(SecurityEvent).where(SecurityEvent.user_id == user_id, SecurityEvent.kind == kind))
        )


def user_row(world: World, user_id: uuid.UUID) -> User:
    with world.runtime.db.session(tenant_id=None) as s:
        user = s.get(User, user_id)
        assert user is not None
        return user


def live_sessions(world: World, user_id: uuid.UUID) -> int:
    with world.runtime.db.session(tenant_id=None) as s:
        rows = s.scalars(select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)))
        return len(list(rows))


def login_status(world: World, username: str, password: str) -> int:
    with TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False) as c:
        return c.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


def set_reauthenticated(world: World, user_id: uuid.UUID, minutes_ago: float) -> None:
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id)
            .values(reauthenticated_at=now_utc() - timedelta(minutes=minutes_ago))
        )


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text and secret.lower() not in text.lower()


# Own change -------------------------------------------------------------------------------------------------------
def test_change_ends_other_sessions_and_keeps_this_one(world: World) -> None:
    member = world.member("alpha", "biller")
    this, other = world.client(member), world.client(member)
    assert other.get(ME).status_code == 200
    r = this.post(CHANGE, json={"current_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 204, r.text
    assert this.get(ME).status_code == 200
    assert this.get("/api/v1/orgs/alpha/patients").status_code == 200
    assert other.get(ME).status_code == 401
    assert live_sessions(world, member.user_id) == 1
    assert login_status(world, member.username, PASSWORD) == 401
    assert login_status(world, member.username, NEW) == 200
    row = user_row(world, member.user_id)
    assert row.password_changed_at is not None and not row.must_change_password
    [event] = events(world, member.user_id, "password.changed")
    assert event.outcome == "success" and event.detail == {"sessions_ended": 1}
    assert_no_secret(repr(event.detail), PASSWORD, NEW)


def test_wrong_current_password_is_refused_and_recorded(world: World) -> None:
    member = world.member("alpha", "biller")
    c = world.client(member)
    wrong = "Zq-not-the-current-password"
    r = c.post(CHANGE, json={"current_password": wrong, "new_password": NEW})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_current_password"
    assert_no_secret(r.text, wrong, NEW)
    assert login_status(world, member.username, PASSWORD) == 200
    [event] = events(world, member.user_id, "password.changed")
    assert event.outcome == "failure" and event.detail == {"reason": "invalid_current_password"}


def test_policy_problems_come_back_with_feedback_but_never_the_password(world: World) -> None:
    member = world.member("alpha", "biller")
    c = world.client(member)
    weak = "asdfghjkl;asdfg"
    r = c.post(CHANGE, json={"current_password": PASSWORD, "new_password": weak})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "password_policy"
    assert [d["code"] for d in error["details"]] == ["too_guessable"]
    assert error["feedback"]["score"] < 3 and error["feedback"]["warning"]
    assert_no_secret(r.text, weak, PASSWORD)
    assert login_status(world, member.username, PASSWORD) == 200

    with_name = f"{member.username} rides the violet tractor"
    r = c.post(CHANGE, json={"current_password": PASSWORD, "new_password": with_name})
    assert r.status_code == 422 and "context_word" in [d["code"] for d in r.json()["error"]["details"]]
    assert_no_secret(r.text, with_name, member.username)

    with_org = "Alpha centauri violet tractor"  # the organization is named "Alpha"
    r = c.post(CHANGE, json={"current_password": PASSWORD, "new_password": with_org})
    assert r.status_code == 422 and "context_word" in [d["code"] for d in r.json()["error"]["details"]]

    blocked = next(p for p in FREQUENCY_LISTS["passwords"] if len(p) >= 12)
    r = c.post(CHANGE, json={"current_password": PASSWORD, "new_password": blocked})
    assert "common_password" in [d["code"] for d in r.json()["error"]["details"]]
    assert_no_secret(r.text, blocked)

    too_long = "walrus pebble " * 20
    r = c.post(CHANGE, json={"current_password": PASSWORD, "new_password": too_long})
    assert r.status_code == 422 and [d["code"] for d in r.json()["error"]["details"]] == ["too_long"]
    assert not events(world, member.user_id, "password.changed")


def test_the_current_password_cannot_be_reused(world: World) -> None:
    member = world.member("alpha", "biller")
    r = world.client(member).post(CHANGE, json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert r.status_code == 422 and r.json()["error"]["code"] == "password_reused"
    assert_no_secret(r.text, PASSWORD)


def test_long_password_is_hashed_whole_while_zxcvbn_sees_100(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = world.member("alpha", "biller")  # created (and its password checked) before the spy is installed
    seen: list[int] = []
    real = password_policy.zxcvbn

    def spy(password: str, user_inputs: list[str], max_length: int) -> dict[str, Any]:
        seen.append(len(password))
        return dict(real(password, user_inputs=user_inputs, max_length=max_length))

    monkeypatch.setattr(password_policy, "zxcvbn", spy)
    long = ("quartz lantern orchard pebble walrus cinnamon harbor velvet " * 3)[:170]
    ended = change_password(
        db=world.runtime.db,
        passwords=world.runtime.passwords,
        user_id=member.user_id,
        current_password=PASSWORD,
        new_password=long,
        source_address="203.0.113.9",
        keep_session_id=None,
    )
    assert ended == 0 and seen == [100]
    assert login_status(world, member.username, long) == 200
    assert login_status(world, member.username, long[:100]) == 401
    assert login_status(world, member.username, long[:-1]) == 401


def test_password_is_hashed_in_nfc_form(world: World) -> None:
    member = world.member("alpha", "biller")
    decomposed = "cafe\u0301 violet tractor moonbeam"
    change_password(
        db=world.runtime.db,
        passwords=world.runtime.passwords,
        user_id=member.user_id,
        current_password=PASSWORD,
        new_password=decomposed,
        source_address=None,
        keep_session_id=None,
    )
    assert login_status(world, member.username, "caf\u00e9 violet tractor moonbeam") == 200


def test_check_endpoint_reports_without_changing_anything(world: World) -> None:
    member = world.member("alpha", "biller")
    c = world.client(member)
    r = c.post(CHECK, json={"password": "Alpha orchard lantern"})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is False and [p["code"] for p in body["problems"]] == ["context_word"]
    assert body["min_length"] == 12 and body["max_length"] == 256
    assert_no_secret(r.text, "Alpha orchard lantern")
    r = c.post(CHECK, json={"password": NEW})
    assert r.json()["ok"] is True and r.json()["feedback"]["score"] >= 3
    assert r.json()["length"] == len(NEW)
    assert c.post(CHECK, json={"password": NEW, "extra": 1}).status_code == 422
    assert world.client().post(CHECK, json={"password": NEW}).status_code == 401
    assert login_status(world, member.username, PASSWORD) == 200
    assert not events(world, member.user_id, "password.changed")


# Must change ------------------------------------------------------------------------------------------------------
def test_must_change_user_reaches_only_the_change_then_everything(world: World) -> None:
    member = world.member("alpha", "front_desk")
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(User).where(User.id == member.user_id).values(must_change_password=True))
    c = world.client(member)
    r = c.get("/api/v1/orgs/alpha/patients")
    assert r.status_code == 403 and r.json()["error"]["code"] == "password_change_required"
    assert c.get(ME).json()["must_change_password"] is True
    r = c.post(CHANGE, json={"current_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 204, r.text
    assert c.get("/api/v1/orgs/alpha/patients").status_code == 200
    assert c.get(ME).json()["must_change_password"] is False


# Forced change -----------------------------------------------------------------------------------------------------
def _admin_and_target(world: World) -> tuple[Member, TestClient, Member, TestClient]:
    admin = world.member("alpha", "security_admin")
    target = world.member("alpha", "front_desk")
    return admin, world.client(admin), target, world.client(target)


def test_forced_change_needs_recent_reauthentication(world: World) -> None:
    admin, admin_client, target, target_client = _admin_and_target(world)
    set_reauthenticated(world, admin.user_id, minutes_ago=10)
    r = admin_client.post(force_path("alpha", target.user_id))
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert target_client.get(ME).status_code == 200
    assert not user_row(world, target.user_id).must_change_password


def test_forced_change_ends_sessions_and_requires_a_new_password(world: World) -> None:
    admin, admin_client, target, target_client = _admin_and_target(world)
    set_reauthenticated(world, admin.user_id, minutes_ago=1)
    r = admin_client.post(force_path("alpha", target.user_id))
    assert r.status_code == 204, r.text
    assert target_client.get(ME).status_code == 401
    assert live_sessions(world, target.user_id) == 0
    assert user_row(world, target.user_id).must_change_password

    again = world.client(target)
    r = again.get("/api/v1/orgs/alpha/patients")
    assert r.status_code == 403 and r.json()["error"]["code"] == "password_change_required"
    assert again.post(CHANGE, json={"current_password": PASSWORD, "new_password": NEW}).status_code == 204
    assert again.get("/api/v1/orgs/alpha/patients").status_code == 200

    [event] = events(world, target.user_id, "password.change_forced")
    assert event.organization_id == world.org("alpha")
    assert event.detail == {"actor_user_id": str(admin.user_id), "sessions_ended": 1}
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        audit = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_change_forced")))
    assert len(audit) == 1
    assert audit[0].actor_id == admin.user_id and audit[0].entity_id == target.user_id
    assert audit[0].roles == ["security_admin"] and audit[0].permission == "user:manage"


def test_forced_change_is_refused_to_others_and_outside_the_org(world: World) -> None:
    _, admin_client, target, _ = _admin_and_target(world)
    outsider = world.member("beta", "front_desk")
    r = admin_client.post(force_path("alpha", outsider.user_id))
    assert r.status_code == 404
    r = admin_client.post(force_path("alpha", uuid.uuid4()))
    assert r.status_code == 404
    r = admin_client.post(force_path("beta", target.user_id))
    assert r.status_code == 404
    colleague = world.member("alpha", "billing_manager", "org_admin")
    r = world.client(colleague).post(force_path("alpha", target.user_id))
    assert r.status_code == 403
    assert not user_row(world, outsider.user_id).must_change_password
    assert not user_row(world, target.user_id).must_change_password


def test_force_service_without_an_org_context(world: World) -> None:
    target = world.member("alpha", "biller")
    world.client(target)
    world.client(target)
    ended = force_password_change(db=world.runtime.db, user_id=target.user_id, actor_user_id=target.user_id)
    assert ended == 2 and live_sessions(world, target.user_id) == 0
    assert user_row(world, target.user_id).must_change_password
