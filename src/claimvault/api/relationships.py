"""Relationship routes: care assignments (which provider treats which patient) and service agreements (which
billing company works for a practice). They carry ids and dates, never patient values; every change is audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from claimvault.security.authorization import services
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["relationships"])

CareManager = Annotated[UserContext, Depends(requires(Permission.CARE_ASSIGNMENT_MANAGE))]
AgreementManager = Annotated[UserContext, Depends(requires(Permission.SERVICE_AGREEMENT_MANAGE))]


class CareAssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    provider_user_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class CareAssignmentOut(BaseModel):
    id: uuid.UUID
    provider_user_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None
    active: bool


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    partner_organization: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class AgreementChange(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    status: Literal["active", "suspended", "ended"]


class AgreementOut(BaseModel):
    id: uuid.UUID
    client_organization: str
    partner_organization: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    active: bool


@router.post("/care-assignments", status_code=201, summary="Assign a provider to a patient")
def create_care_assignment(body: CareAssignmentIn, runtime: RuntimeDep, ctx: CareManager) -> CareAssignmentOut:
    view = services.create_care_assignment(
        db=runtime.db,
        ctx=ctx,
        provider_user_id=body.provider_user_id,
        patient_id=body.patient_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    return CareAssignmentOut.model_validate(view, from_attributes=True)


@router.get("/care-assignments", summary="List care assignments (filter by provider or patient)")
def list_care_assignments(
    runtime: RuntimeDep,
    ctx: CareManager,
    provider_user_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    active: Annotated[bool, Query(description="only assignments in force now")] = False,
) -> list[CareAssignmentOut]:
    views = services.list_care_assignments(
        db=runtime.db, ctx=ctx, provider_user_id=provider_user_id, patient_id=patient_id, active_only=active
    )
    return [CareAssignmentOut.model_validate(v, from_attributes=True) for v in views]


@router.delete("/care-assignments/{assignment_id}", status_code=204, summary="End a care assignment now")
def end_care_assignment(assignment_id: uuid.UUID, runtime: RuntimeDep, ctx: CareManager) -> Response:
    services.end_care_assignment(db=runtime.db, ctx=ctx, assignment_id=assignment_id)
    return Response(status_code=204)


@router.post("/service-agreements", status_code=201, summary="Engage a billing company for this practice")
def create_service_agreement(body: AgreementIn, runtime: RuntimeDep, ctx: AgreementManager) -> AgreementOut:
    view = services.create_service_agreement(
        db=runtime.db, ctx=ctx, partner_slug=body.partner_organization, starts_at=body.starts_at, ends_at=body.ends_at
    )
    return AgreementOut.model_validate(view, from_attributes=True)


@router.get("/service-agreements", summary="Service agreements of this organization (as client or partner)")
def list_service_agreements(runtime: RuntimeDep, ctx: AgreementManager) -> list[AgreementOut]:
    return [
        AgreementOut.model_validate(v, from_attributes=True)
        for v in services.list_service_agreements(db=runtime.db, ctx=ctx)
    ]


@router.patch("/service-agreements/{agreement_id}", summary="Suspend, resume or end a service agreement")
def change_service_agreement(
    agreement_id: uuid.UUID, body: AgreementChange, runtime: RuntimeDep, ctx: AgreementManager
) -> AgreementOut:
    view = services.change_service_agreement(db=runtime.db, ctx=ctx, agreement_id=agreement_id, status=body.status)
    return AgreementOut.model_validate(view, from_attributes=True)
