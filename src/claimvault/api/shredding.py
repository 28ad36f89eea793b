"""Crypto-shredding and retention holds. Shredding destroys a patient's data key for good: it needs recent
re-authentication and is refused while a retention hold applies. Holds are placed and released here.

Permissions are provisional: shredding uses ``key:manage`` (until ``patient:shred``) and holds ``org:manage``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from claimvault.billing.patients.models import Patient
from claimvault.errors import NotFound
from claimvault.privacy.holds import RetentionHold, place_hold, release_hold
from claimvault.security.audit import build_event, record
from claimvault.security.context import UserContext
from claimvault.security.crypto.shredding import shred_patient
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, require_recent_reauthentication, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["crypto-shredding"])

ReasonCode = Literal["litigation", "regulatory", "audit", "investigation", "other"]


class ShredOut(BaseModel):
    patient_id: uuid.UUID
    shredded: bool
    key_ids: list[uuid.UUID]


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: uuid.UUID | None = None  # omitted: a hold on the whole organization
    reason_code: ReasonCode


class HoldOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID | None
    reason_code: str
    placed_at: datetime
    released_at: datetime | None


@router.post("/patients/{patient_id}/shred", summary="Crypto-shred a patient (irreversible; re-authentication)")
def shred(
    patient_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_SHRED))],
) -> ShredOut:
    require_recent_reauthentication(request)
    report = shred_patient(
        db=runtime.db,
        keys=runtime.keys,
        ctx=ctx,
        patient_id=patient_id,
        ledger_path=runtime.settings.shred_ledger_path,
    )
    return ShredOut(patient_id=report.patient_id, shredded=True, key_ids=list(report.key_ids))


@router.post("/retention-holds", status_code=201, summary="Place a retention hold (patient or whole organization)")
def create_hold(
    body: HoldBody,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.RETENTION_HOLD_MANAGE))],
) -> HoldOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        gate.authorize(Permission.RETENTION_HOLD_MANAGE, entity_type="retention_holds")
        if body.patient_id is not None and gate.session.get(Patient, body.patient_id) is None:
            raise NotFound("No such patient.")  # tenant-scoped: another organization's patient is not found
        hold = place_hold(
            gate.session,
            org_id=ctx.organization_id,
            patient_id=body.patient_id,
            reason_code=body.reason_code,
            placed_by=ctx.user_id,
        )
        return _recorded(gate.session, ctx, hold, "retention_hold.place")


@router.delete("/retention-holds/{hold_id}", summary="Release a retention hold")
def delete_hold(
    hold_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.RETENTION_HOLD_MANAGE))],
) -> HoldOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        gate.authorize(Permission.RETENTION_HOLD_MANAGE, entity_type="retention_holds", entity_id=hold_id)
        hold = release_hold(gate.session, hold_id=hold_id, released_by=ctx.user_id)
        return _recorded(gate.session, ctx, hold, "retention_hold.release")


def _recorded(session: Session, ctx: UserContext, hold: RetentionHold, action: str) -> HoldOut:
    record(
        session,
        build_event(
            ctx,
            action=action,
            permission=Permission.RETENTION_HOLD_MANAGE.value,
            entity_type="retention_holds",
            entity_id=hold.id,
            patient_ids={hold.patient_id} if hold.patient_id else (),
            reason=hold.reason_code,
        ),
    )
    return HoldOut(
        id=hold.id,
        patient_id=hold.patient_id,
        reason_code=hold.reason_code,
        placed_at=hold.placed_at,
        released_at=hold.released_at,
    )
