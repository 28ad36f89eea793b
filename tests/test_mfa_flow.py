"""The MFA login flow over HTTP: mandatory second factor, first enrolment, session rotation, enrolment rules,
re-authentication, recovery-code regeneration, factor removal and the administrator's MFA reset.

Also holds the helpers the other MFA test modules use (a fixed TOTP clock, enrolment and login)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from claimvault.accounts.models import AuthSession, SecurityEvent
from claimvault.accounts.sessions import now_utc, recently_reauthenticated
from claimvault.errors import PermissionDenied
from claimvault.runtime import Runtime
from claimvault.security.mfa import service, totp
from claimvault.security.mfa.models import RecoveryCode, TotpSecret
from claimvault.security.throttle import Throttled
from tests.conftest import Member, World

MFA = "/api/v1/auth/mfa"
T0 = 1_900_000_020.0  # a fixed instant, at the start of a 30-second step


@dataclass
class Clock:
    now: float = T0

    def code(self, offset_steps: int = 0, secret: str = "") -> str:
        return pyotp.TOTP(secret).at(self.now + 30 * offset_steps)


def install_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """TOTP checks read this clock instead of the system time (no sleeps, no flaky step boundaries)."""
    c = Clock()
    monkeypatch.setattr(totp, "current_time", lambda: c.now)
    return c


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch)


def pending(world: World, member: Member) -> TestClient:
    """A client after the password step only (session pending MFA), with its CSRF header."""
    return world.client(member, mfa=False)


def use_csrf(c: TestClient, body: dict[str, Any]) -> None:
    c.headers["X-CSRF-Token"] = body["csrf_token"]


def enrol_totp(c: TestClient, clock: Clock) -> tuple[str, list[str]]:
    """Enrol TOTP through the API on a pending or logged-in client; return (secret, recovery codes)."""
    r = c.post(f"{MFA}/totp/setup")
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = c.post(f"{MFA}/totp/confirm", json={"code": pyotp.TOTP(secret).at(clock.now)})
    assert r.status_code == 200, r.text
    use_csrf(c, r.json())
    return secret, r.json()["recovery_codes"]


def login_with_totp(world: World, member: Member, secret: str, clock: Clock) -> TestClient:
    c = pending(world, member)
    r = c.post(f"{MFA}/verify", json={"method": "totp", "code": pyotp.TOTP(secret).at(clock.now)})
    assert r.status_code == 200, r.text
    use_csrf(c, r.json())
    return c


def events(runtime: Runtime, user_id: uuid.UUID, kind: str) -> list[SecurityEvent]:
    with runtime.db.session(tenant_id=None) as s:
        return list(
            s.scalars(select(SecurityEvent).where(SecurityEvent.user_id == user_id, SecurityEvent.kind == kind))
        )


def session_row(runtime: Runtime, user_id: uuid.UUID) -> AuthSession:
    with runtime.db.session(tenant_id=None) as s:
        rows = list(
            s.scalars(
                select(AuthSession)
                .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                .order_by(AuthSession.created_at.desc())
            )
        )
    assert rows
    return rows[0]


def age_reauthentication(runtime: Runtime, user_id: uuid.UUID) -> None:
    with runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id)
            .values(reauthenticated_at=now_utc() - timedelta(minutes=10))
        )


# --- the flow ----------------------------------------------------------------------------------------------------


def test_every_login_needs_a_second_factor(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    r = c.post("/api/v1/auth/login", json={"username": member.username, "password": member.password})
    assert r.json()["status"] == "mfa_enrollment_required"
    use_csrf(c, r.json())
    assert c.get("/api/v1/orgs/alpha").json()["error"]["code"] == "mfa_required"
    assert c.get(f"{MFA}/methods").json()["enrolment_required"] is True

    secret, codes = enrol_totp(c, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert c.get("/api/v1/orgs/alpha").status_code == 200

    # The next login is pending again until the code.
    clock.now += 60
    c2 = pending(world, member)
    r = c2.get("/api/v1/orgs/alpha")
    assert r.status_code == 403 and r.json()["error"]["code"] == "mfa_required"
    assert c2.get(f"{MFA}/methods").json()["methods"] == ["totp"]
    r = c2.post(f"{MFA}/verify", json={"method": "totp", "code": pyotp.TOTP(secret).at(clock.now)})
    assert r.status_code == 200
    use_csrf(c2, r.json())
    assert c2.get("/api/v1/orgs/alpha").status_code == 200
    assert c2.get("/api/v1/auth/me").json()["mfa_verified"] is True
    assert events(world.runtime, member.user_id, "mfa.verified")
    assert events(world.runtime, member.user_id, "mfa.enrolled")[0].detail == {"method": "totp"}


def test_wrong_code_is_refused_and_recorded(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    secret, _ = enrol_totp(pending(world, member), clock)
    clock.now += 90
    c = pending(world, member)
    good = pyotp.TOTP(secret).at(clock.now)
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    r = c.post(f"{MFA}/verify", json={"method": "totp", "code": bad})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_mfa_code"
    assert bad not in r.text
    failed = events(world.runtime, member.user_id, "mfa.failed")
    assert len(failed) == 1 and failed[0].outcome == "failure"
    assert c.get("/api/v1/orgs/alpha").status_code == 403


def test_session_id_rotates_when_mfa_completes(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    secret, _ = enrol_totp(pending(world, member), clock)
    clock.now += 60
    c = pending(world, member)
    name = world.runtime.settings.session_cookie_name
    old = c.cookies.get(name)
    r = c.post(f"{MFA}/verify", json={"method": "totp", "code": pyotp.TOTP(secret).at(clock.now)})
    assert r.status_code == 200
    assert c.cookies.get(name) != old
    stale = TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False)
    stale.cookies.set(name, old or "")
    assert stale.get("/api/v1/auth/me").status_code == 401
    # First enrolment also rotates.
    other = world.member("alpha", "biller")
    c2 = pending(world, other)
    before = c2.cookies.get(name)
    enrol_totp(c2, clock)
    assert c2.cookies.get(name) != before


def test_verified_session_cannot_verify_again(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    secret, _ = enrol_totp(c, clock)
    clock.now += 30
    r = c.post(f"{MFA}/verify", json={"method": "totp", "code": pyotp.TOTP(secret).at(clock.now)})
    assert r.status_code == 409


def test_pending_session_with_a_factor_cannot_enrol_another(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    enrol_totp(pending(world, member), clock)
    attacker = pending(world, member)  # knows the password only
    for path in ("/totp/setup", "/webauthn/register/options"):
        r = attacker.post(f"{MFA}{path}")
        assert r.status_code == 403 and r.json()["error"]["code"] == "mfa_required", path
    r = attacker.post(f"{MFA}/totp/confirm", json={"code": "123456"})
    assert r.status_code == 403
    r = attacker.post(f"{MFA}/webauthn/register/verify", json={"credential": {}})
    assert r.status_code == 403
    assert service.enrolled_methods(db=world.runtime.db, user_id=member.user_id) == ["totp"]
    assert attacker.get("/api/v1/orgs/alpha").status_code == 403


def test_logged_in_session_needs_recent_reauth_to_add_a_factor(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    enrol_totp(c, clock)
    assert c.post(f"{MFA}/totp/setup").status_code == 200  # complete_mfa just re-authenticated the session
    age_reauthentication(world.runtime, member.user_id)
    r = c.post(f"{MFA}/totp/setup")
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"


def test_reauthentication(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    secret, codes = enrol_totp(c, clock)
    age_reauthentication(world.runtime, member.user_id)
    assert not recently_reauthenticated(session_row(world.runtime, member.user_id))

    clock.now += 30
    code = pyotp.TOTP(secret).at(clock.now)
    r = c.post(f"{MFA}/reauthenticate", json={"password": "wrong password", "method": "totp", "code": code})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_failed"
    r = c.post(f"{MFA}/reauthenticate", json={"password": member.password, "method": "totp", "code": "000000"})
    assert r.status_code == 403
    assert not recently_reauthenticated(session_row(world.runtime, member.user_id))
    r = c.post(f"{MFA}/reauthenticate", json={"password": member.password, "method": "totp", "code": code})
    assert r.status_code == 204, r.text
    assert recently_reauthenticated(session_row(world.runtime, member.user_id))
    assert [e.outcome for e in events(world.runtime, member.user_id, "reauthenticated")].count("success") == 1

    # A recovery code works for re-authentication too; pending sessions cannot re-authenticate.
    age_reauthentication(world.runtime, member.user_id)
    r = c.post(f"{MFA}/reauthenticate", json={"password": member.password, "method": "recovery", "code": codes[0]})
    assert r.status_code == 204
    p = pending(world, member)
    r = p.post(f"{MFA}/reauthenticate", json={"password": member.password, "method": "recovery", "code": codes[1]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "mfa_required"


def test_regenerate_recovery_codes_needs_reauth_and_invalidates_old(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    secret, old_codes = enrol_totp(c, clock)
    age_reauthentication(world.runtime, member.user_id)
    r = c.post(f"{MFA}/recovery-codes/regenerate")
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    clock.now += 30
    r = c.post(
        f"{MFA}/reauthenticate",
        json={"password": member.password, "method": "totp", "code": pyotp.TOTP(secret).at(clock.now)},
    )
    assert r.status_code == 204
    r = c.post(f"{MFA}/recovery-codes/regenerate")
    assert r.status_code == 200
    new_codes = r.json()["recovery_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    p = pending(world, member)
    assert p.post(f"{MFA}/verify", json={"method": "recovery", "code": old_codes[0]}).status_code == 401
    assert p.post(f"{MFA}/verify", json={"method": "recovery", "code": new_codes[0]}).status_code == 200
    assert len(events(world.runtime, member.user_id, "recovery_codes.generated")) == 2


def test_removing_factors(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    enrol_totp(c, clock)
    r = c.delete(f"{MFA}/totp")
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_factor"
    assert service.enrolled_methods(db=world.runtime.db, user_id=member.user_id) == ["totp"]
    assert c.delete(f"{MFA}/webauthn/credentials/{uuid.uuid4()}").status_code == 404


def test_methods_lists_state(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    body = c.get(f"{MFA}/methods").json()
    assert body == {
        "methods": [],
        "enrolment_required": True,
        "mfa_verified": False,
        "recovery_codes_remaining": 0,
        "webauthn_credentials": [],
    }
    enrol_totp(c, clock)
    body = c.get(f"{MFA}/methods").json()
    assert body["methods"] == ["totp"] and body["mfa_verified"] is True and body["recovery_codes_remaining"] == 10
    assert TestClient(world.app, base_url="https://testserver").get(f"{MFA}/methods").status_code == 401


def test_bodies_refuse_unknown_fields_and_do_not_echo_input(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    r = c.post(f"{MFA}/verify", json={"method": "totp", "code": "123456", "extra": "S3CRETVALUE"})
    assert r.status_code == 422 and "S3CRETVALUE" not in r.text
    r = c.post(f"{MFA}/verify", json={"method": "sms", "code": "S3CRETVALUE"})
    assert r.status_code == 422 and "S3CRETVALUE" not in r.text


def test_mfa_reset_removes_factors_and_revokes_sessions(world: World, clock: Clock) -> None:
    admin_a = world.member("alpha", "security_admin")
    admin_b = world.member("alpha", "security_admin")
    member = world.member("alpha", "biller")
    c = pending(world, member)
    enrol_totp(c, clock)
    assert c.get("/api/v1/orgs/alpha").status_code == 200
    db = world.runtime.db

    with pytest.raises(PermissionDenied):
        service.request_mfa_reset(db=db, target_user_id=member.user_id, requested_by=member.user_id)
    req = service.request_mfa_reset(db=db, target_user_id=member.user_id, requested_by=admin_a.user_id)
    assert req.action == "mfa_reset" and req.target_user_id == member.user_id
    assert service.enrolled_methods(db=db, user_id=member.user_id) == ["totp"]  # a request changes nothing

    revoked = service.apply_mfa_reset(
        db=db, target_user_id=member.user_id, requested_by=admin_a.user_id, approved_by=admin_b.user_id
    )
    assert revoked == 1
    assert service.enrolled_methods(db=db, user_id=member.user_id) == []
    with db.session(tenant_id=None) as s:
        assert s.scalars(select(RecoveryCode).where(RecoveryCode.user_id == member.user_id)).first() is None
        assert s.scalars(select(TotpSecret).where(TotpSecret.user_id == member.user_id)).first() is None
    assert c.get("/api/v1/auth/me").status_code == 401
    reset = events(world.runtime, member.user_id, "mfa.reset")
    assert len(reset) == 1 and reset[0].detail["approved_by"] == str(admin_b.user_id)
    # The next login must enrol afresh.
    fresh = pending(world, member)
    assert fresh.get(f"{MFA}/methods").json()["enrolment_required"] is True


class LockingLimiter:
    """Locks every key out at its second failure; records what it was asked."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}
        self.checked: list[list[str]] = []

    def check(self, keys: list[str]) -> None:
        self.checked.append(list(keys))
        if any(self.failures.get(k, 0) >= 2 for k in keys):
            raise Throttled(30)

    def failed(self, keys: list[str]) -> bool:
        for k in keys:
            self.failures[k] = self.failures.get(k, 0) + 1
        return any(self.failures[k] == 2 for k in keys)

    def succeeded(self, keys: list[str]) -> None:
        for k in keys:
            self.failures.pop(k, None)


def test_mfa_attempts_are_throttled_before_any_code_is_checked(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    secret, _ = enrol_totp(pending(world, member), clock)
    limiter = LockingLimiter()
    world.runtime.limiter = limiter
    clock.now += 60
    c = pending(world, member)
    assert c.post(f"{MFA}/verify", json={"method": "totp", "code": "000000"}).status_code == 401
    assert c.post(f"{MFA}/verify", json={"method": "totp", "code": "000001"}).status_code == 401
    good = pyotp.TOTP(secret).at(clock.now)
    r = c.post(f"{MFA}/verify", json={"method": "totp", "code": good})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert limiter.checked[-1] == [f"mfa:acct:{member.user_id}", "mfa:ip:testclient"]
    assert not any(k.startswith("pw:") for k in limiter.failures)  # counted apart from passwords
    locked = events(world.runtime, member.user_id, "login.locked")
    assert len(locked) == 1 and locked[0].detail == {"factor": "mfa"}
    # The code was not checked while throttled, so it was not used up.
    limiter.failures.clear()
    assert c.post(f"{MFA}/verify", json={"method": "totp", "code": good}).status_code == 200
