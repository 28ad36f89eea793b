"""Login and server-side sessions: the cookie's attributes, no user enumeration, audited attempts, rotation at
login, logout, idle and absolute timeouts, deactivation, Argon2id parameters and their upgrade at login, and
hostile cookies. Runs on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from claimvault.accounts.models import AuthSession, User
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.models import AuditEvent
from claimvault.web.app import create_app
from tests.conftest import PASSWORD, Member, World, complete_mfa_for_test
from tests.harness import PostgresBackend, SQLiteBackend

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
COOKIE = "cv_session"


# Helpers ------------------------------------------------------------------------------------------------------
def _new_client(app: Any, token: str | None = None) -> TestClient:
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    if token is not None:
        client.cookies.set(COOKIE, token)
    return client


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password})


def _token(response: Any) -> str:
    token = response.cookies.get(COOKIE)
    assert token, "login set no session cookie"
    return str(token)


def _status_with(app: Any, token: str) -> int:
    """The status of /me for a fresh client presenting only ``token``."""
    with _new_client(app, token) as c:
        return c.get(ME).status_code


def _cookie_attributes(header: str) -> tuple[str, str, dict[str, str]]:
    """Split a raw Set-Cookie header into (name, value, {lower-case attribute: value})."""
    first, *rest = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    attributes: dict[str, str] = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.strip().lower()] = val.strip()
    return name, value, attributes


def _sessions_of(runtime: Runtime, user_id: uuid.UUID) -> list[AuthSession]:
    with runtime.db.session(tenant_id=None) as s:
        return list(s.scalars(select(AuthSession).where(AuthSession.user_id == user_id)))


def _only_session(runtime: Runtime, user_id: uuid.UUID) -> AuthSession:
    sessions = _sessions_of(runtime, user_id)
    assert len(sessions) == 1
    return sessions[0]


def _update_session(runtime: Runtime, session_id: uuid.UUID, **values: Any) -> None:
    with runtime.db.session(tenant_id=None) as s:
        row = s.get(AuthSession, session_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def _update_user(runtime: Runtime, user_id: uuid.UUID, **values: Any) -> None:
    with runtime.db.session(tenant_id=None) as s:
        user = s.get(User, user_id)
        assert user is not None
        for key, value in values.items():
            setattr(user, key, value)


def _stored_hash(runtime: Runtime, user_id: uuid.UUID) -> str:
    with runtime.db.session(tenant_id=None) as s:
        user = s.get(User, user_id)
        assert user is not None
        return user.password_hash


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _logged_in(world: World, *roles: str) -> tuple[Member, TestClient, str]:
    """A fully logged-in client (second factor marked done, CSRF header set) and its current session token."""
    member = world.member("alpha", *roles or ("biller",))
    client = world.client(member)
    token = client.cookies.get(COOKIE)
    assert token
    return member, client, str(token)


# Login --------------------------------------------------------------------------------------------------------
def test_login_sets_a_strict_secure_httponly_cookie(world: World) -> None:
    member = world.member("alpha", "biller")
    with world.client() as c:
        response = _login(c, member.username)
    assert response.status_code == 200, response.text
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1
    name, value, attributes = _cookie_attributes(headers[0])
    assert name == COOKIE
    assert 32 <= len(value) <= 128
    assert "httponly" in attributes
    assert "secure" in attributes
    assert attributes.get("samesite", "").lower() == "strict"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes
    assert response.headers.get("cache-control") == "no-store"


def test_login_and_me_return_the_user_and_memberships_without_the_hash(world: World) -> None:
    member = world.member("alpha", "biller", "coder")
    world.member("beta", "auditor")  # another organization the user does not belong to
    stored = _stored_hash(world.runtime, member.user_id)
    with world.client() as c:
        login = _login(c, member.username)
        pending = c.get(ME)
        complete_mfa_for_test(world.runtime, c)
        me = c.get(ME)
    assert login.status_code == 200 and me.status_code == 200, me.text
    assert login.json()["status"] == "mfa_enrollment_required" and login.json()["csrf_token"]
    assert pending.json()["mfa_verified"] is False and pending.json()["memberships"] == []
    body = me.json()
    assert body["username"] == member.username
    assert body["user_id"] == str(member.user_id)
    assert body["must_change_password"] is False and body["mfa_verified"] is True
    assert body["memberships"] == [{"organization": "alpha", "name": "Alpha", "roles": ["biller", "coder"]}]
    for response in (login, pending, me):
        assert stored not in response.text
        assert "argon2" not in response.text and "password" not in response.text.replace("must_change_password", "")
        assert PASSWORD not in response.text


def test_username_is_case_and_space_insensitive(world: World) -> None:
    member = world.member("alpha", "biller")
    with world.client() as c:
        assert _login(c, f"  {member.username.upper()} ").status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    member = world.member("alpha", "biller")
    with world.client() as c:
        wrong = _login(c, member.username, "not the right password at all")
        unknown = _login(c, "nobody-by-this-name", PASSWORD)
        assert c.get(ME).status_code == 401
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_credentials"
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert set(wrong.json()["error"]) == set(unknown.json()["error"])
    for response in (wrong, unknown):
        assert "set-cookie" not in response.headers
        assert member.username not in response.text and "nobody-by-this-name" not in response.text


def test_inactive_or_terminated_user_cannot_log_in(world: World) -> None:
    inactive = world.member("alpha", "biller")
    terminated = world.member("alpha", "biller")
    _update_user(world.runtime, inactive.user_id, is_active=False)
    _update_user(world.runtime, terminated.user_id, terminated_at=datetime.now(UTC))
    with world.client() as c:
        a = _login(c, inactive.username)
        b = _login(c, terminated.username)
    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["code"] == b.json()["error"]["code"] == "invalid_credentials"


# Audit of login attempts (needs committed rows: login events have no tenant, so on PostgreSQL only the schema
# owner can read them back) ----------------------------------------------------------------------------------
@pytest.fixture
def committed_runtime(
    backend: SQLiteBackend | PostgresBackend, tmp_path: Path, settings: Settings
) -> Iterator[Runtime]:
    with backend.database(tmp_path, committed=True) as db:
        keyring = LocalKeyring.create(settings.resolved_keyring_path)
        yield build_runtime(settings, db=db, key_provider=keyring)


def _all_audit_events(backend: SQLiteBackend | PostgresBackend, runtime: Runtime) -> list[AuditEvent]:
    if isinstance(backend, PostgresBackend):
        engine = create_engine(backend.owner_url)
        try:
            with Session(engine) as s:
                return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        finally:
            engine.dispose()
    with runtime.db.session(tenant_id=None) as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_failed_logins_are_audited_without_username_or_password(
    backend: SQLiteBackend | PostgresBackend, committed_runtime: Runtime
) -> None:
    app = create_app(settings=committed_runtime.settings, runtime=committed_runtime)
    world = World(committed_runtime, app)
    member = world.member("alpha", "biller")
    wrong_password = "Zq-wrong-password-marker"
    unknown_user = "zq-unknown-user-marker"
    with world.client() as c:
        assert _login(c, member.username, wrong_password).status_code == 401
        assert _login(c, unknown_user, wrong_password).status_code == 401
        assert _login(c, member.username).status_code == 200

    events = [e for e in _all_audit_events(backend, committed_runtime) if e.action == "login"]
    failures = [e for e in events if e.outcome == "failure"]
    successes = [e for e in events if e.outcome == "success"]
    assert len(failures) == 2 and len(successes) == 1
    assert successes[0].actor_id == member.user_id

    def shape(event: AuditEvent) -> tuple[Any, ...]:
        return (event.actor_type, event.actor_id, event.actor_name, event.reason, event.organization_id, event.detail)

    assert shape(failures[0]) == shape(failures[1]), "failures must not reveal whether the user exists"
    for event in failures:
        assert event.actor_id is None and event.reason == "invalid_credentials"
    columns = [c.key for c in AuditEvent.__table__.columns]
    for event in events:
        dumped = repr({name: getattr(event, name) for name in columns})
        for secret in (member.username, unknown_user, wrong_password, PASSWORD):
            assert secret not in dumped and secret.lower() not in dumped.lower()


# Session lifecycle --------------------------------------------------------------------------------------------
def test_login_rotates_the_session_id_and_revokes_the_old_one(world: World) -> None:
    member, client, first = _logged_in(world)
    with client:
        again = _login(client, member.username)  # the client still presents the first cookie
        assert again.status_code == 200
        second = _token(again)
        assert second != first
        assert client.get(ME).status_code == 200
    assert _status_with(world.app, first) == 401
    assert _status_with(world.app, second) == 200
    sessions = _sessions_of(world.runtime, member.user_id)
    assert len(sessions) == 2 and sum(s.revoked_at is None for s in sessions) == 1


def test_logout_revokes_the_session(world: World) -> None:
    _, client, token = _logged_in(world)
    with client:
        assert client.get(ME).status_code == 200
        out = client.post(LOGOUT)
        assert out.status_code == 204
        cleared = out.headers.get("set-cookie", "")
        assert cleared.startswith(f"{COOKIE}=") and ("max-age=0" in cleared.lower() or "expires=" in cleared.lower())
        assert client.get(ME).status_code == 401
    assert _status_with(world.app, token) == 401
    with _new_client(world.app, token) as c:
        assert c.post(LOGOUT).status_code == 401


def test_logout_requires_a_session(world: World) -> None:
    with world.client() as c:
        assert c.post(LOGOUT).status_code == 401


def test_stored_session_holds_a_keyed_hash_not_the_token(world: World) -> None:
    member, _, token = _logged_in(world)
    row = _only_session(world.runtime, member.user_id)
    assert token.encode() not in row.token_hash and len(row.token_hash) == 32
    assert row.revoked_at is None
    assert _aware(row.expires_at) - _aware(row.created_at) == timedelta(
        seconds=world.runtime.settings.session_absolute_timeout_seconds
    )


def test_idle_timeout_ends_the_session(world: World) -> None:
    member, _, token = _logged_in(world)
    idle = world.runtime.settings.session_idle_timeout_seconds
    row = _only_session(world.runtime, member.user_id)

    # Active a minute within the idle limit: still valid, and the activity is recorded.
    _update_session(world.runtime, row.id, last_seen_at=datetime.now(UTC) - timedelta(seconds=idle - 60))
    assert _status_with(world.app, token) == 200
    seen = _aware(_only_session(world.runtime, member.user_id).last_seen_at)
    assert datetime.now(UTC) - seen < timedelta(seconds=60)

    _update_session(world.runtime, row.id, last_seen_at=datetime.now(UTC) - timedelta(seconds=idle + 1))
    assert _status_with(world.app, token) == 401
    assert _only_session(world.runtime, member.user_id).revoked_at is not None
    # Stays ended even if activity were somehow recorded again.
    _update_session(world.runtime, row.id, last_seen_at=datetime.now(UTC))
    assert _status_with(world.app, token) == 401


def test_absolute_timeout_ends_an_active_session(world: World) -> None:
    member, _, token = _logged_in(world)
    row = _only_session(world.runtime, member.user_id)
    now = datetime.now(UTC)
    _update_session(world.runtime, row.id, expires_at=now + timedelta(minutes=5), last_seen_at=now)
    assert _status_with(world.app, token) == 200
    _update_session(world.runtime, row.id, expires_at=now - timedelta(seconds=1), last_seen_at=now)
    assert _status_with(world.app, token) == 401
    assert _only_session(world.runtime, member.user_id).revoked_at is not None


@pytest.mark.parametrize("change", ["deactivate", "terminate"])
def test_deactivated_or_terminated_user_loses_access_immediately(world: World, change: str) -> None:
    member, client, token = _logged_in(world)
    with client:
        assert client.get(ME).status_code == 200
        assert client.get("/api/v1/orgs/alpha/patients").status_code == 200
        if change == "deactivate":
            _update_user(world.runtime, member.user_id, is_active=False)
        else:
            _update_user(world.runtime, member.user_id, terminated_at=datetime.now(UTC))
        assert client.get(ME).status_code == 401
        assert client.get("/api/v1/orgs/alpha/patients").status_code == 401
    # Reactivating the account does not bring the ended session back.
    _update_user(world.runtime, member.user_id, is_active=True, terminated_at=None)
    assert _status_with(world.app, token) == 401


# Password hashing ---------------------------------------------------------------------------------------------
def test_password_hash_is_argon2id_with_the_configured_parameters(world: World) -> None:
    member = world.member("alpha", "biller")
    stored = _stored_hash(world.runtime, member.user_id)
    s = world.runtime.settings
    assert stored.startswith("$argon2id$")
    assert f"m={s.argon2_memory_cost_kib},t={s.argon2_time_cost},p={s.argon2_parallelism}" in stored
    assert PASSWORD not in stored


def test_changed_parameters_upgrade_the_hash_at_the_next_successful_login(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    old = _stored_hash(runtime, member.user_id)
    assert "m=64,t=1,p=1" in old

    stronger = runtime.settings.model_copy(
        update={"argon2_time_cost": 2, "argon2_memory_cost_kib": 128, "argon2_parallelism": 1}
    )
    upgraded_runtime = build_runtime(stronger, db=runtime.db, key_provider=runtime.keys.provider)
    upgraded_app = create_app(settings=stronger, runtime=upgraded_runtime)
    with _new_client(upgraded_app) as c:
        assert _login(c, member.username, "a wrong password, no upgrade").status_code == 401
        assert _stored_hash(runtime, member.user_id) == old
        assert _login(c, member.username).status_code == 200

    new = _stored_hash(runtime, member.user_id)
    assert new != old
    assert new.startswith("$argon2id$") and "m=128,t=2,p=1" in new
    # The upgraded hash still verifies under the new parameters, and logging in again leaves it alone.
    with _new_client(upgraded_app) as c:
        assert _login(c, member.username).status_code == 200
    assert _stored_hash(runtime, member.user_id) == new


# Hostile input ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cookie",
    [
        "a" * 129,
        "b" * 4000,
        "garbage",
        "!!!not-base64$$$",
        "\u00e9t\u00e9",
        "",
        "x" * 128,
    ],
    ids=["129-chars", "4000-chars", "garbage", "punctuation", "latin-1", "empty", "128-unknown"],
)
def test_bad_cookies_are_401_not_500(world: World, cookie: str) -> None:
    world.member("alpha", "biller")
    with world.client() as c:
        header = f"{COOKIE}={cookie}".encode("latin-1")
        response = c.get(ME, headers={"cookie": header})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "authentication_required"
        assert c.get("/api/v1/orgs/alpha/patients", headers={"cookie": header}).status_code == 401


def test_login_with_an_oversized_old_cookie_still_works(world: World) -> None:
    member = world.member("alpha", "biller")
    with _new_client(world.app, "z" * 500) as c:
        response = _login(c, member.username)
        assert response.status_code == 200, response.text
        assert c.get(ME).status_code == 200


def test_a_long_token_prefix_of_a_real_one_is_refused(world: World) -> None:
    _, _, token = _logged_in(world)
    assert _status_with(world.app, token) == 200
    assert _status_with(world.app, token[:-1]) == 401
    assert _status_with(world.app, token + "A") == 401


# Credentials never in URLs ------------------------------------------------------------------------------------
def test_no_route_takes_credentials_in_the_query_string(app: Any) -> None:
    schema = app.openapi()
    credential_names = {"username", "password", "token", COOKIE}
    offenders = [
        (path, method, param["name"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for param in operation.get("parameters", [])
        if param.get("in") == "query" and param["name"].lower() in credential_names
    ]
    assert offenders == []
    login = schema["paths"][LOGIN]
    assert set(login) == {"post"}
    assert login["post"]["requestBody"]["required"] is True
    assert "parameters" not in login["post"] or login["post"]["parameters"] == []


def test_login_with_credentials_in_the_query_is_refused(world: World) -> None:
    member = world.member("alpha", "biller")
    with world.client() as c:
        post = c.post(LOGIN, params={"username": member.username, "password": PASSWORD})
        get = c.get(LOGIN, params={"username": member.username, "password": PASSWORD})
        assert c.get(ME).status_code == 401
    assert post.status_code in {400, 422}
    assert get.status_code == 405
    for response in (post, get):
        assert "set-cookie" not in response.headers
        assert PASSWORD not in response.text and member.username not in response.text


def test_login_body_rejects_unknown_fields_and_oversized_values(world: World) -> None:
    member = world.member("alpha", "biller")
    with world.client() as c:
        extra = c.post(LOGIN, json={"username": member.username, "password": PASSWORD, "admin": True})
        long_name = c.post(LOGIN, json={"username": "u" * 65, "password": PASSWORD})
        long_password = c.post(LOGIN, json={"username": member.username, "password": "p" * 1025})
    for response in (extra, long_name, long_password):
        assert response.status_code == 422
        assert "set-cookie" not in response.headers
        assert PASSWORD not in response.text and "p" * 100 not in response.text
