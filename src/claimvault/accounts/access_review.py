"""Access reviews: periodic campaigns in which reviewers confirm or revoke each member's roles.

``start_campaign`` snapshots the organization's memberships (one entry per user and role). Reviewers holding
``access_review:manage`` decide entries ``keep`` or ``revoke``; nobody decides their own. ``close_campaign``
applies the revocations (the memberships are deleted, the users' sessions and this organization's tokens of
theirs are revoked, since their privileges changed); undecided entries are kept and flagged ``defaulted``.
Closed campaigns stay as audit evidence and are never deleted. Every step is audited under the acting context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from claimvault.accounts.api_tokens import revoke_tokens_of_users
from claimvault.accounts.lifecycle_models import AccessReviewCampaign, AccessReviewEntry
from claimvault.accounts.models import Membership, User
from claimvault.accounts.services import normalize_username
from claimvault.accounts.sessions import now_utc, revoke_all_for_user
from claimvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.audit.pending import AuditRecord
from claimvault.security.context import AccessContext, UserContext
from claimvault.security.permissions import Permission
from claimvault.storage.database import Database

DECISIONS = ("keep", "revoke")


@dataclass(frozen=True)
class CloseReport:
    campaign_id: uuid.UUID
    revoked: list[tuple[str, str]]  # (username, role)
    kept: int
    defaulted: list[tuple[str, str]]  # undecided at close: kept, flagged in the evidence


def _org(ctx: AccessContext) -> uuid.UUID:
    if not ctx.allows(Permission.ACCESS_REVIEW_MANAGE):
        raise PermissionDenied("You do not have permission to do this.")
    if ctx.organization_id is None:
        raise ValidationFailed("Name the organization.")
    return ctx.organization_id


def _audit(
    ctx: AccessContext,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    *,
    outcome: str = "success",
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    return build_event(
        ctx,
        action=action,
        outcome=outcome,
        permission=Permission.ACCESS_REVIEW_MANAGE.value,
        entity_type=entity_type,
        entity_id=entity_id,
        reason=reason,
        detail=detail,
    )


def start_campaign(*, db: Database, ctx: AccessContext) -> AccessReviewCampaign:
    """Open a campaign with one entry per current (member, role). One open campaign per organization."""
    org_id = _org(ctx)
    with db.session(tenant_id=org_id) as session:
        if session.scalar(select(AccessReviewCampaign.id).where(AccessReviewCampaign.status == "open")) is not None:
            raise Conflict("A review is already open; close it first.", code="review_open")
        campaign = AccessReviewCampaign(
            organization_id=org_id,
            status="open",
            started_by=ctx.actor_id,
            started_by_name=ctx.actor_name,
            started_at=now_utc(),
        )
        session.add(campaign)
        session.flush()
        rows = session.execute(
            select(Membership.user_id, User.username, Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == org_id)
            .order_by(User.username, Membership.role)
        ).all()
        session.add_all(
            AccessReviewEntry(organization_id=org_id, campaign_id=campaign.id, user_id=u, username=n, role=r)
            for u, n, r in rows
        )
        record(
            session,
            _audit(ctx, "access_review.start", "access_review_campaigns", campaign.id, detail={"entries": len(rows)}),
        )
    return campaign


def list_campaigns(*, db: Database, ctx: AccessContext) -> list[AccessReviewCampaign]:
    with db.session(tenant_id=_org(ctx)) as session:
        return list(
            session.scalars(
                select(AccessReviewCampaign).order_by(
                    AccessReviewCampaign.started_at.desc(), AccessReviewCampaign.id.desc()
                )
            )
        )


def get_campaign(
    *, db: Database, ctx: AccessContext, campaign_id: uuid.UUID
) -> tuple[AccessReviewCampaign, list[AccessReviewEntry]]:
    with db.session(tenant_id=_org(ctx)) as session:
        campaign = session.scalar(select(AccessReviewCampaign).where(AccessReviewCampaign.id == campaign_id))
        if campaign is None:
            raise NotFound("No such access review.")
        entries = list(
            session.scalars(
                select(AccessReviewEntry)
                .where(AccessReviewEntry.campaign_id == campaign_id)
                .order_by(AccessReviewEntry.username, AccessReviewEntry.role)
            )
        )
    return campaign, entries


def entries_for_username(
    *, db: Database, ctx: AccessContext, campaign_id: uuid.UUID, username: str, role: str | None = None
) -> list[AccessReviewEntry]:
    _, entries = get_campaign(db=db, ctx=ctx, campaign_id=campaign_id)
    name = normalize_username(username)
    found = [e for e in entries if e.username == name and (role is None or e.role == role)]
    if not found:
        raise NotFound("No such entry in this review.")
    return found


def decide_entry(
    *, db: Database, ctx: AccessContext, campaign_id: uuid.UUID, entry_id: uuid.UUID, decision: str
) -> AccessReviewEntry:
    """Record ``keep`` or ``revoke`` for one entry of an open campaign (changeable until the campaign closes)."""
    org_id = _org(ctx)
    if decision not in DECISIONS:
        raise ValidationFailed("The decision is 'keep' or 'revoke'.", code="invalid_decision")
    with db.session(tenant_id=org_id) as session:
        campaign = session.scalar(select(AccessReviewCampaign).where(AccessReviewCampaign.id == campaign_id))
        entry = session.scalar(
            select(AccessReviewEntry).where(
                AccessReviewEntry.id == entry_id, AccessReviewEntry.campaign_id == campaign_id
            )
        )
        if campaign is None or entry is None:
            raise NotFound("No such entry in this review.")
        if campaign.status != "open":
            raise Conflict("This review is closed.", code="review_closed")
        own = isinstance(ctx, UserContext) and entry.user_id == ctx.user_id
        if not own:
            entry.decision = decision
            entry.decided_by = ctx.actor_id
            entry.decided_by_name = ctx.actor_name
            entry.decided_at = now_utc()
            record(
                session,
                _audit(ctx, "access_review.decide", "access_review_entries", entry.id, detail={"decision": decision}),
            )
    if own:
        with db.session(tenant_id=org_id) as session:
            record(
                session,
                _audit(
                    ctx,
                    "access_review.decide",
                    "access_review_entries",
                    entry_id,
                    outcome="denied",
                    reason="own_access",
                ),
            )
        raise PermissionDenied("Another reviewer must decide your own access.", code="own_access")
    return entry


def close_campaign(*, db: Database, ctx: AccessContext, campaign_id: uuid.UUID) -> CloseReport:
    """Apply the revocations and close. Undecided entries are kept and flagged. The campaign stays as evidence."""
    org_id = _org(ctx)
    now = now_utc()
    revoked: list[tuple[str, str]] = []
    defaulted: list[tuple[str, str]] = []
    revoked_users: set[uuid.UUID] = set()
    kept = 0
    with db.session(tenant_id=org_id) as session:
        campaign = session.scalar(select(AccessReviewCampaign).where(AccessReviewCampaign.id == campaign_id))
        if campaign is None:
            raise NotFound("No such access review.")
        if campaign.status != "open":
            raise Conflict("This review is already closed.", code="review_closed")
        entries = session.scalars(
            select(AccessReviewEntry)
            .where(AccessReviewEntry.campaign_id == campaign_id)
            .order_by(AccessReviewEntry.username, AccessReviewEntry.role)
        )
        for entry in entries:
            if entry.decision is None:
                entry.decision = "keep"
                entry.defaulted = True
                defaulted.append((entry.username, entry.role))
            if entry.decision == "keep":
                kept += 1
                continue
            session.execute(
                delete(Membership).where(
                    Membership.user_id == entry.user_id,
                    Membership.organization_id == org_id,
                    Membership.role == entry.role,
                )
            )
            entry.applied_at = now
            revoked.append((entry.username, entry.role))
            revoked_users.add(entry.user_id)
            record(
                session,
                _audit(
                    ctx,
                    "membership.revoke",
                    "users",
                    entry.user_id,
                    reason="access_review",
                    detail={"role": entry.role, "campaign_id": str(campaign_id)},
                ),
            )
        campaign.status = "closed"
        campaign.closed_at = now
        campaign.closed_by = ctx.actor_id
        campaign.closed_by_name = ctx.actor_name
        record(
            session,
            _audit(
                ctx,
                "access_review.close",
                "access_review_campaigns",
                campaign_id,
                detail={"revoked": len(revoked), "kept": kept, "defaulted": len(defaulted)},
            ),
        )
    for user_id in sorted(revoked_users):
        revoke_all_for_user(db=db, user_id=user_id)
    revoke_tokens_of_users(db=db, user_ids=sorted(revoked_users), organization_id=org_id)
    return CloseReport(campaign_id=campaign_id, revoked=revoked, kept=kept, defaulted=defaulted)
