"""WebAuthn with a software authenticator (soft-webauthn: EC P-256, ES256, "none" attestation): registration and
assertion, counter regression, single-use and expiring challenges, origin checks, re-authentication, removal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from soft_webauthn import SoftWebauthnDevice
from sqlalchemy import select, update
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from claimvault.accounts.sessions import now_utc
from claimvault.security.mfa.models import WebAuthnChallenge, WebAuthnCredential
from tests.conftest import Member, World
from tests.test_mfa_flow import MFA, Clock, age_reauthentication, enrol_totp, events, install_clock, pending, use_csrf

ORIGIN = "https://localhost:8443"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch)


def _b64(value: bytes) -> str:
    return bytes_to_base64url(value)


def create(device: SoftWebauthnDevice, options: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
    """What the browser returns from navigator.credentials.create(), in the JSON form the API takes."""
    user = {**options["user"], "id": base64url_to_bytes(options["user"]["id"])}
    public_key = {**options, "challenge": base64url_to_bytes(options["challenge"]), "user": user}
    att = device.create({"publicKey": public_key}, origin)
    return {
        "id": _b64(att["rawId"]),
        "rawId": _b64(att["rawId"]),
        "type": "public-key",
        "response": {
            "clientDataJSON": _b64(att["response"]["clientDataJSON"]),
            "attestationObject": _b64(att["response"]["attestationObject"]),
            "transports": ["usb"],
        },
    }


def get(device: SoftWebauthnDevice, options: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
    """What the browser returns from navigator.credentials.get()."""
    public_key = {**options, "challenge": base64url_to_bytes(options["challenge"])}
    assertion = device.get({"publicKey": public_key}, origin)
    response = assertion["response"]
    return {
        "id": _b64(assertion["rawId"]),
        "rawId": _b64(assertion["rawId"]),
        "type": "public-key",
        "response": {
            "clientDataJSON": _b64(response["clientDataJSON"]),
            "authenticatorData": _b64(response["authenticatorData"]),
            "signature": _b64(response["signature"]),
            "userHandle": _b64(response["userHandle"]),
        },
    }


def register(c: TestClient, device: SoftWebauthnDevice, name: str = "Blue key") -> dict[str, Any]:
    options = c.post(f"{MFA}/webauthn/register/options")
    assert options.status_code == 200, options.text
    r = c.post(f"{MFA}/webauthn/register/verify", json={"credential": create(device, options.json()), "name": name})
    assert r.status_code == 200, r.text
    use_csrf(c, r.json())
    return dict(r.json())


def assertion_for(c: TestClient, device: SoftWebauthnDevice) -> dict[str, Any]:
    options = c.post(f"{MFA}/webauthn/authenticate/options")
    assert options.status_code == 200, options.text
    return get(device, options.json())


def login_with_key(world: World, member: Member, device: SoftWebauthnDevice) -> tuple[TestClient, int]:
    c = pending(world, member)
    r = c.post(f"{MFA}/webauthn/authenticate/verify", json={"credential": assertion_for(c, device)})
    if r.status_code == 200:
        use_csrf(c, r.json())
    return c, r.status_code


def test_registration_and_assertion(world: World) -> None:
    member = world.member("alpha", "biller")
    device = SoftWebauthnDevice()
    c = pending(world, member)
    options = c.post(f"{MFA}/webauthn/register/options").json()
    assert options["rp"]["id"] == "localhost" and options["attestation"] == "none"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    body = register(c, device)
    assert body["mfa_verified"] is True and len(body["recovery_codes"]) == 10
    assert c.get("/api/v1/orgs/alpha").status_code == 200
    methods = c.get(f"{MFA}/methods").json()
    assert methods["methods"] == ["webauthn"]
    assert methods["webauthn_credentials"][0]["name"] == "Blue key"

    c2, status = login_with_key(world, member, device)
    assert status == 200
    assert c2.get("/api/v1/orgs/alpha").status_code == 200
    with world.runtime.db.session(tenant_id=None) as s:
        row = s.scalars(select(WebAuthnCredential).where(WebAuthnCredential.user_id == member.user_id)).one()
    assert row.sign_count == 1 and row.last_used_at is not None and row.transports == ["usb"]
    assert row.credential_id == device.credential_id
    assert [e.detail["method"] for e in events(world.runtime, member.user_id, "mfa.verified")].count("webauthn") == 2


def test_sign_count_regression_is_refused(world: World) -> None:
    member = world.member("alpha", "biller")
    device = SoftWebauthnDevice()
    register(pending(world, member), device)
    assert login_with_key(world, member, device)[1] == 200
    assert login_with_key(world, member, device)[1] == 200  # counter now 2
    device.sign_count = 1  # a clone that is behind: it will sign with 2 again
    c, status = login_with_key(world, member, device)
    assert status == 401
    assert c.get("/api/v1/orgs/alpha").status_code == 403
    failed = events(world.runtime, member.user_id, "mfa.failed")
    assert failed and failed[0].detail == {"method": "webauthn", "purpose": "login", "reason": "invalid_code"}
    with world.runtime.db.session(tenant_id=None) as s:
        assert s.scalars(select(WebAuthnCredential.sign_count)).one() == 2


def test_authentication_challenge_is_single_use(world: World) -> None:
    member = world.member("alpha", "biller")
    device = SoftWebauthnDevice()
    register(pending(world, member), device)
    c = pending(world, member)
    good = assertion_for(c, device)
    bad = {**good, "response": {**good["response"], "signature": _b64(b"\x30\x06\x02\x01\x01\x02\x01\x01")}}
    assert c.post(f"{MFA}/webauthn/authenticate/verify", json={"credential": bad}).status_code == 401
    # The failed attempt used the challenge up: even the genuine response for it is refused now.
    assert c.post(f"{MFA}/webauthn/authenticate/verify", json={"credential": good}).status_code == 401
    with world.runtime.db.session(tenant_id=None) as s:
        assert s.scalars(select(WebAuthnChallenge)).first() is None
    r = c.post(f"{MFA}/webauthn/authenticate/verify", json={"credential": assertion_for(c, device)})
    assert r.status_code == 200


def test_expired_challenge_is_refused(world: World) -> None:
    member = world.member("alpha", "biller")
    device = SoftWebauthnDevice()
    register(pending(world, member), device)
    c = pending(world, member)
    credential = assertion_for(c, device)
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(WebAuthnChallenge).values(expires_at=now_utc() - timedelta(seconds=1)))
    assert c.post(f"{MFA}/webauthn/authenticate/verify", json={"credential": credential}).status_code == 401


def test_registration_challenge_is_single_use_and_origin_is_checked(world: World) -> None:
    member = world.member("alpha", "biller")
    c = pending(world, member)
    options = c.post(f"{MFA}/webauthn/register/options").json()
    wrong_origin = create(SoftWebauthnDevice(), options, origin="https://evil.example")
    r = c.post(f"{MFA}/webauthn/register/verify", json={"credential": wrong_origin})
    assert r.status_code == 422 and r.json()["error"]["code"] == "webauthn_rejected"
    # That attempt consumed the challenge: a correct response to the same options is refused.
    replay = create(SoftWebauthnDevice(), options)
    r = c.post(f"{MFA}/webauthn/register/verify", json={"credential": replay})
    assert r.status_code == 422 and r.json()["error"]["code"] == "webauthn_challenge_expired"
    assert c.get(f"{MFA}/methods").json()["methods"] == []


def test_a_key_of_another_user_is_refused(world: World) -> None:
    alice, bob = world.member("alpha", "biller"), world.member("alpha", "biller")
    alice_key, bob_key = SoftWebauthnDevice(), SoftWebauthnDevice()
    register(pending(world, alice), alice_key)
    register(pending(world, bob), bob_key)
    c = pending(world, alice)
    options = c.post(f"{MFA}/webauthn/authenticate/options").json()
    r = c.post(f"{MFA}/webauthn/authenticate/verify", json={"credential": get(bob_key, options)})
    assert r.status_code == 401


def test_no_key_no_options(world: World) -> None:
    c = pending(world, world.member("alpha", "biller"))
    assert c.post(f"{MFA}/webauthn/authenticate/options").status_code == 404


def test_second_factor_added_and_removed_with_reauth(world: World, clock: Clock) -> None:
    member = world.member("alpha", "biller")
    device = SoftWebauthnDevice()
    c = pending(world, member)
    enrol_totp(c, clock)
    body = register(c, device)  # a second factor: no new recovery codes, session stays verified
    assert body["recovery_codes"] == [] and body["mfa_verified"] is True
    assert c.get(f"{MFA}/methods").json()["methods"] == ["totp", "webauthn"]

    # Re-authentication with the key.
    age_reauthentication(world.runtime, member.user_id)
    key_id = c.get(f"{MFA}/methods").json()["webauthn_credentials"][0]["id"]
    assert c.delete(f"{MFA}/webauthn/credentials/{key_id}").status_code == 403
    credential = assertion_for(c, device)
    r = c.post(
        f"{MFA}/reauthenticate", json={"password": member.password, "method": "webauthn", "credential": credential}
    )
    assert r.status_code == 204, r.text
    assert c.delete(f"{MFA}/webauthn/credentials/{key_id}").status_code == 204
    assert c.get(f"{MFA}/methods").json()["methods"] == ["totp"]
    removed = events(world.runtime, member.user_id, "mfa.removed")
    assert len(removed) == 1 and removed[0].detail["method"] == "webauthn"
    assert pending(world, member).post(f"{MFA}/webauthn/authenticate/options").status_code == 404  # no key left
