"""TOTP: RFC 6238 codes with one step of drift, single use per step (replay refused), enrolment, and the TOTP
secret encrypted at rest under the platform key."""

from __future__ import annotations

import base64
import uuid

import pyotp
import pytest
from sqlalchemy import select, text

from claimvault.runtime import Runtime
from claimvault.security.crypto.platform import PlatformSecretError
from claimvault.security.mfa import totp
from claimvault.security.mfa.models import PlatformKey, TotpSecret
from claimvault.security.mfa.secrets import seal, unseal
from tests.conftest import World
from tests.test_mfa_flow import MFA, T0, Clock, enrol_totp, events, install_clock, pending


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch)


SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code_at(t: float, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(t)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_one_step_of_drift_is_accepted(offset: int) -> None:
    step = totp.matching_step(SECRET, code_at(T0 + 30 * offset), last_used_step=None, at=T0)
    assert step == int(T0 // 30) + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_two_steps_of_drift_are_refused(offset: int) -> None:
    assert totp.matching_step(SECRET, code_at(T0 + 30 * offset), last_used_step=None, at=T0) is None


def test_steps_at_or_before_the_last_used_one_are_refused() -> None:
    now_step = int(T0 // 30)
    code = code_at(T0)
    assert totp.matching_step(SECRET, code, last_used_step=now_step - 1, at=T0) == now_step
    assert totp.matching_step(SECRET, code, last_used_step=now_step, at=T0) is None
    assert totp.matching_step(SECRET, code_at(T0 - 30), last_used_step=now_step, at=T0) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.matching_step(SECRET, code, last_used_step=None, at=T0) is None


def test_setup_returns_secret_uri_and_inline_svg(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    body = c.post(f"{MFA}/totp/setup").json()
    assert len(base64.b32decode(body["secret"])) == 20
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert parsed.secret == body["secret"] and parsed.issuer == "ClaimVault" and parsed.digits == 6
    assert parsed.interval == 30 and parsed.name == member.username
    assert body["qr_svg"].startswith("<svg") and "<script" not in body["qr_svg"]
    # Not active until confirmed.
    assert c.get(f"{MFA}/methods").json()["methods"] == []


def test_confirmation_needs_setup_and_a_valid_code(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    r = c.post(f"{MFA}/totp/confirm", json={"code": "123456"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_pending_enrolment"
    first = c.post(f"{MFA}/totp/setup").json()["secret"]
    second = c.post(f"{MFA}/totp/setup").json()["secret"]  # a new setup replaces the unconfirmed one
    r = c.post(f"{MFA}/totp/confirm", json={"code": code_at(clock.now, first)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_mfa_code"
    r = c.post(f"{MFA}/totp/confirm", json={"code": code_at(clock.now + 90, second)})
    assert r.status_code == 422
    r = c.post(f"{MFA}/totp/confirm", json={"code": code_at(clock.now, second)})
    assert r.status_code == 200 and r.json()["mfa_verified"] is True
    with world.runtime.db.session(tenant_id=None) as s:
        rows = list(s.scalars(select(TotpSecret).where(TotpSecret.user_id == member.user_id)))
    assert len(rows) == 1 and rows[0].confirmed_at is not None
    assert rows[0].last_used_step == int(clock.now // 30)


def _verify(world: World, member: object, code: str) -> int:
    c = pending(world, member)  # type: ignore[arg-type]
    return c.post(f"{MFA}/verify", json={"method": "totp", "code": code}).status_code


def test_login_accepts_one_step_of_drift_and_refuses_two(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    secret, _ = enrol_totp(pending(world, member), clock)
    clock.now += 300
    assert _verify(world, member, code_at(clock.now + 60, secret)) == 401  # two steps ahead
    assert _verify(world, member, code_at(clock.now - 60, secret)) == 401  # two steps behind
    assert _verify(world, member, code_at(clock.now - 30, secret)) == 200  # one behind
    assert _verify(world, member, code_at(clock.now + 30, secret)) == 200  # one ahead
    assert len(events(world.runtime, member.user_id, "mfa.failed")) == 2


def test_a_code_works_once_and_older_steps_stay_refused(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    secret, _ = enrol_totp(pending(world, member), clock)
    # The enrolment code itself is used up.
    assert _verify(world, member, code_at(clock.now, secret)) == 401
    clock.now += 30
    code = code_at(clock.now, secret)
    assert _verify(world, member, code) == 200
    assert _verify(world, member, code) == 401  # replay
    assert _verify(world, member, code_at(clock.now - 30, secret)) == 401  # an older step, still within drift
    clock.now += 30
    assert _verify(world, member, code_at(clock.now, secret)) == 200  # the next step is fine


def test_totp_secret_is_not_stored_in_plaintext(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    secret, _ = enrol_totp(pending(world, member), clock)
    raw_secret = base64.b32decode(secret)
    with world.runtime.db.session(tenant_id=None) as s:
        rows = s.execute(text("SELECT * FROM mfa_totp_secrets")).all()
        keys = s.execute(text("SELECT * FROM platform_keys")).all()
    assert len(rows) == 1
    dump = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in rows[0])
    assert secret.encode() not in dump and secret.lower().encode() not in dump and raw_secret not in dump
    ciphertext = next(v for v in rows[0] if isinstance(v, bytes))
    assert ciphertext[0] == 1 and len(ciphertext) == 1 + 16 + 12 + len(secret) + 16
    assert len(keys) == 1 and keys[0]._mapping["purpose"] == "workforce_secret"


def test_platform_secret_is_bound_to_row_and_column(runtime: Runtime) -> None:
    row_id, other = uuid.uuid4(), uuid.uuid4()
    with runtime.db.session(tenant_id=None) as s:
        ct = seal(s, runtime.keys, table="mfa_totp_secrets", column="secret", row_id=row_id, plaintext=b"seed")
        assert unseal(s, runtime.keys, table="mfa_totp_secrets", column="secret", row_id=row_id, ciphertext=ct) == (
            b"seed"
        )
        for table, column, rid in (("mfa_totp_secrets", "secret", other), ("mfa_totp_secrets", "x", row_id)):
            with pytest.raises(PlatformSecretError):
                unseal(s, runtime.keys, table=table, column=column, row_id=rid, ciphertext=ct)
        tampered = bytearray(ct)
        tampered[-1] ^= 1
        with pytest.raises(PlatformSecretError):
            unseal(
                s, runtime.keys, table="mfa_totp_secrets", column="secret", row_id=row_id, ciphertext=bytes(tampered)
            )
        # The data key is stored only wrapped, bound to its purpose and id.
        key_row = s.scalars(select(PlatformKey)).one()
        assert len(key_row.wrapped_key) == 12 + 32 + 16
        again = seal(s, runtime.keys, table="mfa_totp_secrets", column="secret", row_id=row_id, plaintext=b"seed")
        assert again[:17] == ct[:17] and again != ct
