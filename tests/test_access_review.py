"""Access reviews end to end: a campaign snapshots the memberships, reviewers decide entries (never their own),
closing revokes what was decided (the member loses access at once) and keeps undecided entries flagged, and the
closed campaign stays as audited evidence. Runs on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from claimvault.accounts import access_review
from claimvault.accounts.lifecycle_models import AccessReviewCampaign, AccessReviewEntry
from claimvault.accounts.models import AuthSession, Membership
from claimvault.accounts.sessions import now_utc
from claimvault.errors import PermissionDenied
from claimvault.security.context import SystemContext
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from tests.conftest import Member, World
from tests.test_api_tokens import bearer, make_token

REVIEWS = "/api/v1/orgs/alpha/access-reviews"


def _entry(detail: dict[str, Any], username: str, role: str | None = None) -> dict[str, Any]:
    [found] = [e for e in detail["entries"] if e["username"] == username and (role is None or e["role"] == role)]
    return found


def _decide(c: TestClient, campaign: str, entry: dict[str, Any], decision: str) -> Any:
    return c.post(f"{REVIEWS}/{campaign}/entries/{entry['id']}/decide", json={"decision": decision})


def _roles(world: World, member: Member) -> list[str]:
    with world.runtime.db.session(tenant_id=None) as s:
        return sorted(
            s.scalars(
                select(Membership.role).where(
                    Membership.user_id == member.user_id, Membership.organization_id == member.org_id
                )
            )
        )


@pytest.fixture
def team(world: World) -> dict[str, Member]:
    return {
        "reviewer": world.member("alpha", "compliance_officer"),
        "second": world.member("alpha", "org_admin"),
        "leaver": world.member("alpha", "billing_manager", "front_desk"),
        "stayer": world.member("alpha", "coder"),
        "forgotten": world.member("alpha", "auditor"),
        "outsider": world.member("bravo", "biller"),
    }


def test_access_review_end_to_end(world: World, team: dict[str, Member]) -> None:
    reviewer = world.client(team["reviewer"])
    leaver_client = world.client(team["leaver"])
    leaver_token = make_token(world, team["leaver"], ["patient:list"])["token"]
    assert leaver_client.get("/api/v1/orgs/alpha/patients").status_code == 200

    started = reviewer.post(REVIEWS)
    assert started.status_code == 201, started.text
    campaign = started.json()["id"]
    assert started.json()["status"] == "open" and started.json()["started_by"] == str(team["reviewer"].user_id)
    detail = reviewer.get(f"{REVIEWS}/{campaign}").json()
    snapshot = {(e["username"], e["role"]) for e in detail["entries"]}
    expected = {(m.username, role) for key, m in team.items() if key != "outsider" for role in _roles(world, m)}
    assert snapshot == expected and team["outsider"].username not in str(detail)

    # Changes after the start do not alter the snapshot.
    world.member("alpha", "biller")
    assert len(reviewer.get(f"{REVIEWS}/{campaign}").json()["entries"]) == len(expected)

    for role in ("billing_manager", "front_desk"):
        assert _decide(reviewer, campaign, _entry(detail, team["leaver"].username, role), "revoke").status_code == 200
    assert _decide(reviewer, campaign, _entry(detail, team["stayer"].username), "keep").status_code == 200
    assert _decide(reviewer, campaign, _entry(detail, team["second"].username), "keep").status_code == 200
    own = _decide(reviewer, campaign, _entry(detail, team["reviewer"].username), "keep")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_access"
    # Another reviewer decides the first reviewer's entry.
    second = world.client(team["second"])
    assert _decide(second, campaign, _entry(detail, team["reviewer"].username), "keep").status_code == 200

    closed = reviewer.post(f"{REVIEWS}/{campaign}/close")
    assert closed.status_code == 200, closed.text
    report = closed.json()
    assert sorted((a["username"], a["role"]) for a in report["revoked"]) == [
        (team["leaver"].username, "billing_manager"),
        (team["leaver"].username, "front_desk"),
    ]
    assert report["defaulted"] == [{"username": team["forgotten"].username, "role": "auditor"}]

    # The revoked member loses access at once: session and token refused, and no way back into the org.
    assert _roles(world, team["leaver"]) == []
    assert leaver_client.get("/api/v1/orgs/alpha/patients").status_code == 401
    assert bearer(world, leaver_token).get("/api/v1/orgs/alpha/patients").status_code == 401
    assert world.client(team["leaver"]).get("/api/v1/orgs/alpha/patients").status_code == 404
    assert _roles(world, team["stayer"]) == ["coder"] and _roles(world, team["forgotten"]) == ["auditor"]
    assert world.client(team["stayer"]).get("/api/v1/orgs/alpha/patients").status_code == 200

    # Evidence: the closed campaign, every decision, who and when, the defaulted flag.
    evidence = reviewer.get(f"{REVIEWS}/{campaign}").json()
    assert evidence["status"] == "closed" and evidence["closed_by"] == str(team["reviewer"].user_id)
    assert evidence["closed_at"] is not None
    forgotten = _entry(evidence, team["forgotten"].username)
    assert forgotten["decision"] == "keep" and forgotten["defaulted"] is True and forgotten["decided_by"] is None
    revoked = _entry(evidence, team["leaver"].username, "front_desk")
    assert revoked["decision"] == "revoke" and revoked["applied_at"] is not None
    assert revoked["decided_by"] == str(team["reviewer"].user_id) and not revoked["defaulted"]
    assert _entry(evidence, team["reviewer"].username)["decided_by"] == str(team["second"].user_id)
    assert [c["id"] for c in reviewer.get(REVIEWS).json()] == [campaign]

    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.recorded_at))]
        denied = s.scalar(
            select(AuditEvent).where(AuditEvent.action == "access_review.decide", AuditEvent.outcome == "denied")
        )
    assert actions.count("access_review.start") == 1 and actions.count("access_review.close") == 1
    assert actions.count("access_review.decide") == 6  # five decisions and the refused one
    assert actions.count("membership.revoke") == 2
    assert denied is not None and denied.actor_id == team["reviewer"].user_id and denied.reason == "own_access"


def test_closed_campaign_is_final(world: World, team: dict[str, Member]) -> None:
    reviewer = world.client(team["reviewer"])
    campaign = reviewer.post(REVIEWS).json()["id"]
    assert reviewer.post(REVIEWS).status_code == 409  # one open review at a time
    entry = reviewer.get(f"{REVIEWS}/{campaign}").json()["entries"][0]
    assert reviewer.post(f"{REVIEWS}/{campaign}/close").status_code == 200
    assert reviewer.post(f"{REVIEWS}/{campaign}/close").status_code == 409
    assert _decide(reviewer, campaign, entry, "revoke").status_code == 409
    again = reviewer.post(REVIEWS)
    assert again.status_code == 201 and again.json()["id"] != campaign
    assert len(reviewer.get(REVIEWS).json()) == 2  # the closed one is kept


def test_closing_needs_recent_reauthentication(world: World, team: dict[str, Member]) -> None:
    reviewer = world.client(team["reviewer"])
    campaign = reviewer.post(REVIEWS).json()["id"]
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == team["reviewer"].user_id)
            .values(reauthenticated_at=now_utc() - timedelta(minutes=6))
        )
    r = reviewer.post(f"{REVIEWS}/{campaign}/close")
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauthentication_required"
    assert reviewer.get(f"{REVIEWS}/{campaign}").json()["status"] == "open"


def test_access_reviews_need_the_permission_and_stay_in_their_org(world: World, team: dict[str, Member]) -> None:
    reviewer = world.client(team["reviewer"])
    campaign = reviewer.post(REVIEWS).json()["id"]
    entry = reviewer.get(f"{REVIEWS}/{campaign}").json()["entries"][0]
    biller = world.client(world.member("alpha", "biller"))
    assert biller.get(REVIEWS).status_code == 403 and biller.post(REVIEWS).status_code == 403
    assert _decide(biller, campaign, entry, "revoke").status_code == 403
    outsider = world.client(world.member("bravo", "compliance_officer"))
    assert outsider.get(REVIEWS).status_code == 404
    other = "/api/v1/orgs/bravo/access-reviews"
    assert outsider.get(f"{other}/{campaign}").status_code == 404
    assert (
        outsider.post(f"{other}/{campaign}/entries/{entry['id']}/decide", json={"decision": "revoke"}).status_code
        == 404
    )
    assert outsider.post(f"{other}/{campaign}/close").status_code == 404
    assert reviewer.get(f"{REVIEWS}/{campaign}").json()["status"] == "open"
    assert reviewer.get(f"{REVIEWS}/{uuid.uuid4()}").status_code == 404
    assert _decide(reviewer, campaign, entry, "maybe").status_code == 422


def test_service_with_a_system_context_records_the_command(world: World, team: dict[str, Member]) -> None:
    ctx = SystemContext(
        command="access-review start",
        organization_id=world.org("alpha"),
        permissions=frozenset({Permission.ACCESS_REVIEW_MANAGE}),
        operator="ops",
    )
    campaign = access_review.start_campaign(db=world.runtime.db, ctx=ctx)
    [entry] = access_review.entries_for_username(
        db=world.runtime.db, ctx=ctx, campaign_id=campaign.id, username=team["stayer"].username
    )
    access_review.decide_entry(
        db=world.runtime.db, ctx=ctx, campaign_id=campaign.id, entry_id=entry.id, decision="revoke"
    )
    report = access_review.close_campaign(db=world.runtime.db, ctx=ctx, campaign_id=campaign.id)
    assert report.revoked == [(team["stayer"].username, "coder")]
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        stored = s.get(AccessReviewCampaign, campaign.id)
        decided = s.get(AccessReviewEntry, entry.id)
    assert (
        stored is not None
        and stored.started_by is None
        and stored.started_by_name == "access-review start (operator ops)"
    )
    assert decided is not None and decided.decided_by_name == "access-review start (operator ops)"
    no_permission = SystemContext(command="x", organization_id=world.org("alpha"), permissions=frozenset())
    with pytest.raises(PermissionDenied):
        access_review.start_campaign(db=world.runtime.db, ctx=no_permission)
