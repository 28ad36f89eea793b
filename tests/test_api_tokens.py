"""API tokens: created once with permissions the creator holds, sent as a Bearer header without cookie or CSRF,
reaching exactly their permissions in their own organization, and refused after revocation, expiry, termination
or loss of membership. Only a keyed hash is stored. Runs on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from claimvault.accounts.api_tokens import resolve_api_token
from claimvault.accounts.lifecycle_models import ApiToken
from claimvault.accounts.models import AuthSession, Membership, SecurityEvent, User
from claimvault.accounts.sessions import aware, now_utc, token_hash
from tests.conftest import Member, World

PATIENT = {"given_name": "Tobias", "family_name": "Quillfeather", "birth_date": "1971-04-02"}


def tokens_path(org: str) -> str:
    return f"/api/v1/orgs/{org}/tokens"


def bearer(world: World, token: str) -> TestClient:
    """A client holding nothing but the token: no cookie, no CSRF header."""
    c = TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False)
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def make_token(
    world: World, owner: Member, permissions: list[str], *, days: int = 30, name: str = "integration"
) -> dict[str, Any]:
    r = world.client(owner).post(
        tokens_path(owner.org_slug), json={"name": name, "permissions": permissions, "expires_in_days": days}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _token_row(world: World, org_id: uuid.UUID, token_id: str) -> ApiToken:
    with world.runtime.db.session(tenant_id=org_id) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.id == uuid.UUID(token_id)))
    assert row is not None
    return row


@pytest.fixture
def manager(world: World) -> Member:
    return world.member("alpha", "billing_manager")


# Creation ---------------------------------------------------------------------------------------------------
def test_token_is_shown_once_and_stored_only_as_a_keyed_hash(world: World, manager: Member) -> None:
    created = make_token(world, manager, ["patient:read", "patient:list"])
    raw = created["token"]
    assert raw.startswith(f"cvt_{manager.org_id.hex}_{uuid.UUID(created['id']).hex}_")
    assert created["permissions"] == ["patient:list", "patient:read"] and created["state"] == "active"
    row = _token_row(world, manager.org_id, created["id"])
    assert row.token_hash == token_hash(world.runtime.settings, raw)
    assert raw.encode() not in row.token_hash
    assert aware(row.expires_at) - now_utc() > timedelta(days=29)

    listed = world.client(manager).get(tokens_path("alpha"))
    assert listed.status_code == 200
    assert raw not in listed.text and "token_hash" not in listed.text and '"token"' not in listed.text
    assert [t["id"] for t in listed.json()] == [created["id"]]


def test_token_creation_is_a_security_event(world: World, manager: Member) -> None:
    created = make_token(world, manager, ["patient:read"])
    with world.runtime.db.session(tenant_id=None) as s:
        kinds = [e.kind for e in s.scalars(select(SecurityEvent).where(SecurityEvent.user_id == manager.user_id))]
        detail = s.scalar(select(SecurityEvent.detail).where(SecurityEvent.kind == "token.created"))
    assert "token.created" in kinds
    assert detail is not None and detail["token_id"] == created["id"] and created["token"] not in str(detail)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "permissions": ["user:manage"], "expires_in_days": 30}, 403),  # not held by the creator
        ({"name": "x", "permissions": ["patient:read", "key:manage"], "expires_in_days": 30}, 403),
        ({"name": "x", "permissions": ["no:such"], "expires_in_days": 30}, 422),
        ({"name": "x", "permissions": [], "expires_in_days": 30}, 422),
        ({"name": "x", "permissions": ["patient:read"], "expires_in_days": 366}, 422),
        ({"name": "x", "permissions": ["patient:read"], "expires_in_days": 0}, 422),
        ({"name": "x", "permissions": ["patient:read"]}, 422),  # expiry is required
    ],
)
def test_token_creation_refuses_what_the_creator_does_not_hold_or_bad_expiry(
    world: World, manager: Member, body: dict[str, Any], status: int
) -> None:
    r = world.client(manager).post(tokens_path("alpha"), json=body)
    assert r.status_code == status, r.text
    with world.runtime.db.session(tenant_id=manager.org_id) as s:
        assert list(s.scalars(select(ApiToken))) == []


def test_creating_a_token_needs_recent_reauthentication(world: World, manager: Member) -> None:
    c = world.client(manager)
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == manager.user_id)
            .values(reauthenticated_at=now_utc() - timedelta(minutes=10))
        )
    r = c.post(tokens_path("alpha"), json={"name": "x", "permissions": ["patient:read"], "expires_in_days": 5})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"


def test_roles_without_token_manage_cannot_create_or_list(world: World) -> None:
    biller = world.client(world.member("alpha", "biller"))
    assert biller.get(tokens_path("alpha")).status_code == 403
    body = {"name": "x", "permissions": ["patient:read"], "expires_in_days": 5}
    assert biller.post(tokens_path("alpha"), json=body).status_code == 403


# Use ----------------------------------------------------------------------------------------------------------
def test_token_reaches_exactly_its_permissions_in_its_org(world: World, manager: Member) -> None:
    owner = world.client(manager)
    patient = owner.post("/api/v1/orgs/alpha/patients", json=PATIENT, params={"confirm_new": True}).json()
    token = make_token(world, manager, ["patient:read", "patient:list"])["token"]
    c = bearer(world, token)
    assert not c.cookies
    assert c.get("/api/v1/orgs/alpha/patients").status_code == 200
    assert c.get(f"/api/v1/orgs/alpha/patients/{patient['id']}").json()["family_name"] == "Quillfeather"
    # patient:read does not create, update or search; the token holds nothing else.
    assert c.post("/api/v1/orgs/alpha/patients", json=PATIENT, params={"confirm_new": True}).status_code == 403
    assert c.patch(f"/api/v1/orgs/alpha/patients/{patient['id']}", json={"given_name": "X"}).status_code == 403
    assert (
        c.post("/api/v1/orgs/alpha/patients/search", json={"family_name": "Q", "birth_date": "1971-04-02"}).status_code
        == 403
    )
    assert c.get("/api/v1/orgs/alpha").status_code == 403  # org:read is held by the role, not by the token
    assert c.get(tokens_path("alpha")).status_code == 403
    # Cookie-only routes do not take tokens.
    assert c.get("/api/v1/auth/me").status_code == 401


def test_token_writes_need_no_csrf_header(world: World, manager: Member) -> None:
    token = make_token(world, manager, ["patient:create"])["token"]
    r = bearer(world, token).post("/api/v1/orgs/alpha/patients", json=PATIENT, params={"confirm_new": True})
    assert r.status_code == 201, r.text


def test_token_does_not_reach_another_org_even_where_the_creator_is_a_member(world: World) -> None:
    both = world.member("alpha", "billing_manager")
    from claimvault.accounts.services import add_membership

    add_membership(
        db=world.runtime.db, user_id=both.user_id, organization_id=world.org("bravo"), role="billing_manager"
    )
    token = make_token(world, both, ["patient:list"])["token"]
    c = bearer(world, token)
    assert c.get("/api/v1/orgs/alpha/patients").status_code == 200
    assert c.get("/api/v1/orgs/bravo/patients").status_code == 404
    assert c.get("/api/v1/orgs/nowhere/patients").status_code == 404


def test_token_cannot_do_what_needs_reauthentication(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    victim = world.member("alpha", "biller")
    token = make_token(world, admin, ["token:manage", "user:manage", "user:read"])["token"]
    c = bearer(world, token)
    assert c.get("/api/v1/orgs/alpha/users").status_code == 200
    r = c.post(tokens_path("alpha"), json={"name": "y", "permissions": ["user:read"], "expires_in_days": 1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert c.post(f"/api/v1/orgs/alpha/users/{victim.user_id}/terminate").status_code == 403


@pytest.mark.parametrize("ending", ["revoke", "expire", "terminate", "leave_org", "disable"])
def test_token_is_refused_after_it_ends(world: World, manager: Member, ending: str) -> None:
    created = make_token(world, manager, ["patient:list"])
    c = bearer(world, created["token"])
    assert c.get("/api/v1/orgs/alpha/patients").status_code == 200
    db = world.runtime.db
    if ending == "revoke":
        assert world.client(manager).delete(f"{tokens_path('alpha')}/{created['id']}").status_code == 204
    elif ending == "expire":
        with db.session(tenant_id=manager.org_id) as s:
            s.execute(update(ApiToken).values(expires_at=now_utc() - timedelta(seconds=1)))
    elif ending == "terminate":
        admin = world.client(world.member("alpha", "security_admin"))
        assert admin.post(f"/api/v1/orgs/alpha/users/{manager.user_id}/terminate").status_code == 200
    elif ending == "leave_org":
        with db.session(tenant_id=None) as s:
            s.execute(delete(Membership).where(Membership.user_id == manager.user_id))
    else:
        with db.session(tenant_id=None) as s:
            s.execute(update(User).where(User.id == manager.user_id).values(disabled_at=now_utc()))
    r = c.get("/api/v1/orgs/alpha/patients")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


def test_token_permissions_shrink_with_the_creators_roles(world: World, manager: Member) -> None:
    token = make_token(world, manager, ["patient:list"])["token"]
    db = world.runtime.db
    with db.session(tenant_id=None) as s:
        s.execute(update(Membership).where(Membership.user_id == manager.user_id).values(role="auditor"))
    principal = resolve_api_token(db=db, settings=world.runtime.settings, raw=token)
    assert principal is not None and principal.permissions == frozenset()
    assert bearer(world, token).get("/api/v1/orgs/alpha/patients").status_code == 403


def test_revoked_token_is_listed_as_revoked_and_a_security_event(world: World, manager: Member) -> None:
    created = make_token(world, manager, ["patient:list"])
    admin = world.client(world.member("alpha", "org_admin"))
    assert admin.delete(f"{tokens_path('alpha')}/{created['id']}").status_code == 204
    listed = admin.get(tokens_path("alpha")).json()
    assert [(t["id"], t["state"]) for t in listed] == [(created["id"], "revoked")]
    with world.runtime.db.session(tenant_id=None) as s:
        kinds = [e.kind for e in s.scalars(select(SecurityEvent).where(SecurityEvent.user_id == manager.user_id))]
    assert "token.revoked" in kinds


def test_tokens_of_another_org_cannot_be_revoked_or_listed(world: World, manager: Member) -> None:
    created = make_token(world, manager, ["patient:list"])
    other = world.client(world.member("bravo", "org_admin"))
    assert other.delete(f"{tokens_path('bravo')}/{created['id']}").status_code == 404
    assert other.get(tokens_path("bravo")).json() == []
    assert other.get(tokens_path("alpha")).status_code == 404
    assert bearer(world, created["token"]).get("/api/v1/orgs/alpha/patients").status_code == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),  # wrong secret
        lambda raw: raw.replace("cvt_", "cvx_"),
        lambda raw: raw.rsplit("_", 1)[0],
        lambda raw: "cvt_" + uuid.uuid4().hex + raw[36:],  # another organization id
        lambda raw: "garbage",
        lambda raw: raw + "x" * 300,
    ],
)
def test_tampered_tokens_are_refused(world: World, manager: Member, mangle: Any) -> None:
    raw = make_token(world, manager, ["patient:list"])["token"]
    assert bearer(world, raw).get("/api/v1/orgs/alpha/patients").status_code == 200
    assert bearer(world, mangle(raw)).get("/api/v1/orgs/alpha/patients").status_code == 401


def test_token_of_one_org_presented_with_another_orgs_id_finds_nothing(world: World) -> None:
    a = world.member("alpha", "billing_manager")
    b = world.member("bravo", "billing_manager")
    raw = make_token(world, a, ["patient:list"])["token"]
    forged = raw.replace(a.org_id.hex, b.org_id.hex)
    assert resolve_api_token(db=world.runtime.db, settings=world.runtime.settings, raw=forged) is None
    assert bearer(world, forged).get("/api/v1/orgs/bravo/patients").status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(world: World, manager: Member) -> None:
    created = make_token(world, manager, ["patient:list"])
    c = bearer(world, created["token"])
    assert _token_row(world, manager.org_id, created["id"]).last_used_at is None
    c.get("/api/v1/orgs/alpha/patients")
    first = _token_row(world, manager.org_id, created["id"]).last_used_at
    assert first is not None
    recent = now_utc() - timedelta(seconds=30)
    with world.runtime.db.session(tenant_id=manager.org_id) as s:
        s.execute(update(ApiToken).values(last_used_at=recent))
    c.get("/api/v1/orgs/alpha/patients")
    assert aware(_token_row(world, manager.org_id, created["id"]).last_used_at or first) == recent
    with world.runtime.db.session(tenant_id=manager.org_id) as s:
        s.execute(update(ApiToken).values(last_used_at=now_utc() - timedelta(minutes=2)))
    c.get("/api/v1/orgs/alpha/patients")
    assert now_utc() - aware(_token_row(world, manager.org_id, created["id"]).last_used_at or first) < timedelta(
        seconds=30
    )
