"""Access-review campaigns: start (snapshot of the memberships), list, read with entries, decide an entry (never
your own), close (revocations applied; the campaign stays as evidence)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from claimvault.accounts import access_review
from claimvault.accounts.lifecycle_models import AccessReviewCampaign, AccessReviewEntry
from claimvault.api.approvals import Utc, recent_reauth
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/access-reviews", tags=["access reviews"])
Reviewer = Annotated[UserContext, Depends(requires(Permission.ACCESS_REVIEW_MANAGE))]


class CampaignOut(BaseModel):
    id: uuid.UUID
    status: str
    started_by: uuid.UUID | None
    started_by_name: str | None
    started_at: Utc
    closed_by: uuid.UUID | None
    closed_by_name: str | None
    closed_at: Utc | None

    @classmethod
    def of(cls, row: AccessReviewCampaign) -> CampaignOut:
        return cls.model_validate(row, from_attributes=True)


class EntryOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    role: str
    decision: str | None
    defaulted: bool
    decided_by: uuid.UUID | None
    decided_by_name: str | None
    decided_at: Utc | None
    applied_at: Utc | None

    @classmethod
    def of(cls, row: AccessReviewEntry) -> EntryOut:
        return cls.model_validate(row, from_attributes=True)


class CampaignDetail(CampaignOut):
    entries: list[EntryOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    decision: Literal["keep", "revoke"]


class Assignment(BaseModel):
    username: str
    role: str


class CloseOut(BaseModel):
    campaign_id: uuid.UUID
    revoked: list[Assignment]
    kept: int
    defaulted: list[Assignment]


@router.post("", status_code=201, summary="Start a review: one entry per member and role")
def start_review(runtime: RuntimeDep, ctx: Reviewer) -> CampaignOut:
    return CampaignOut.of(access_review.start_campaign(db=runtime.db, ctx=ctx))


@router.get("", summary="Reviews, newest first (closed ones are kept as evidence)")
def list_reviews(runtime: RuntimeDep, ctx: Reviewer) -> list[CampaignOut]:
    return [CampaignOut.of(c) for c in access_review.list_campaigns(db=runtime.db, ctx=ctx)]


@router.get("/{campaign_id}", summary="A review with its entries and decisions")
def get_review(campaign_id: uuid.UUID, runtime: RuntimeDep, ctx: Reviewer) -> CampaignDetail:
    campaign, entries = access_review.get_campaign(db=runtime.db, ctx=ctx, campaign_id=campaign_id)
    return CampaignDetail(**CampaignOut.of(campaign).model_dump(), entries=[EntryOut.of(e) for e in entries])


@router.post("/{campaign_id}/entries/{entry_id}/decide", summary="Keep or revoke one entry (not your own)")
def decide_entry(
    campaign_id: uuid.UUID, entry_id: uuid.UUID, body: DecisionIn, runtime: RuntimeDep, ctx: Reviewer
) -> EntryOut:
    entry = access_review.decide_entry(
        db=runtime.db, ctx=ctx, campaign_id=campaign_id, entry_id=entry_id, decision=body.decision
    )
    return EntryOut.of(entry)


@router.post("/{campaign_id}/close", summary="Close: apply revocations; undecided entries are kept and flagged")
def close_review(campaign_id: uuid.UUID, request: Request, runtime: RuntimeDep, ctx: Reviewer) -> CloseOut:
    recent_reauth(request)
    report = access_review.close_campaign(db=runtime.db, ctx=ctx, campaign_id=campaign_id)
    return CloseOut(
        campaign_id=report.campaign_id,
        revoked=[Assignment(username=u, role=r) for u, r in report.revoked],
        kept=report.kept,
        defaulted=[Assignment(username=u, role=r) for u, r in report.defaulted],
    )
