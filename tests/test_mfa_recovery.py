"""Recovery codes: ten per first enrolment, shown once, stored as salted HMAC-SHA256, each usable once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from claimvault.runtime import Runtime
from claimvault.security.mfa import recovery
from claimvault.security.mfa.models import RecoveryCode
from tests.conftest import World
from tests.test_mfa_flow import MFA, Clock, enrol_totp, events, install_clock, pending

CODE_SHAPE = re.compile(r"^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch)


def _recover(world: World, member: object, code: str) -> int:
    c = pending(world, member)  # type: ignore[arg-type]
    return c.post(f"{MFA}/verify", json={"method": "recovery", "code": code}).status_code


def test_first_enrolment_issues_ten_distinct_codes(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    _, codes = enrol_totp(pending(world, member), clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_SHAPE.match(code) for code in codes)
    generated = events(world.runtime, member.user_id, "recovery_codes.generated")
    assert len(generated) == 1 and generated[0].detail == {"count": 10}


def test_a_recovery_code_works_once(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    _, codes = enrol_totp(pending(world, member), clock)
    c = pending(world, member)
    r = c.post(f"{MFA}/verify", json={"method": "recovery", "code": codes[3]})
    assert r.status_code == 200
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    assert c.get("/api/v1/orgs/alpha").status_code == 200
    assert _recover(world, member, codes[3]) == 401  # used up
    used = events(world.runtime, member.user_id, "recovery_code.used")
    assert len(used) == 1 and used[0].detail == {"remaining": 9}
    assert c.get(f"{MFA}/methods").json()["recovery_codes_remaining"] == 9
    # Typing is forgiving: lower case, no dashes, spaces.
    assert _recover(world, member, codes[4].replace("-", " ").lower()) == 200


def test_codes_belong_to_one_user(world: World, clock: Clock) -> None:
    alice, bob = world.member("alpha", "biller"), world.member("alpha", "biller")
    _, alice_codes = enrol_totp(pending(world, alice), clock)
    enrol_totp(pending(world, bob), clock)
    assert _recover(world, bob, alice_codes[0]) == 401
    assert _recover(world, alice, alice_codes[0]) == 200


@pytest.mark.parametrize("code", ["", "AAAA-AAAA-AAAA-AAAA", "not a code", "1" * 64])
def test_wrong_codes_are_refused(world: World, clock: Clock, code: str) -> None:
    member = world.member("alpha", "biller")
    enrol_totp(pending(world, member), clock)
    c = pending(world, member)
    r = c.post(f"{MFA}/verify", json={"method": "recovery", "code": code})
    assert r.status_code in (401, 422)
    assert c.get("/api/v1/orgs/alpha").status_code == 403


def test_codes_are_stored_hashed_with_their_own_salt(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    _, codes = enrol_totp(pending(world, member), clock)
    with world.runtime.db.session(tenant_id=None) as s:
        rows = s.execute(text("SELECT * FROM mfa_recovery_codes")).all()
    assert len(rows) == 10
    dump = b"".join(v if isinstance(v, bytes) else str(v).encode() for row in rows for v in row)
    for code in codes:
        assert code.encode() not in dump and code.replace("-", "").encode() not in dump
    salts = {row._mapping["salt"] for row in rows}
    assert len(salts) == 10


def test_replacing_codes_invalidates_the_old_ones(runtime: Runtime, world: World) -> None:
    member = world.member("alpha", "biller")
    with runtime.db.session(tenant_id=None) as s:
        old = recovery.replace_codes(s, user_id=member.user_id)
    with runtime.db.session(tenant_id=None) as s:
        new = recovery.replace_codes(s, user_id=member.user_id)
    with runtime.db.session(tenant_id=None) as s:
        assert not recovery.consume(s, user_id=member.user_id, code=old[0])
        assert recovery.consume(s, user_id=member.user_id, code=new[0])
        assert not recovery.consume(s, user_id=member.user_id, code=new[0])
        assert recovery.remaining(s, user_id=member.user_id) == 9
        assert len(list(s.scalars(select(RecoveryCode).where(RecoveryCode.user_id == member.user_id)))) == 10
