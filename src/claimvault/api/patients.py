"""Patient routes. Every one declares its permission and calls the patient service through the PHI gate.

Search criteria travel in a POST body, never in the URL (URLs end up in logs and browser history).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from claimvault.billing.patients import service
from claimvault.billing.patients.schemas import (
    PatientCreate,
    PatientOut,
    PatientPage,
    PatientSearch,
    PatientUpdate,
)
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/patients", tags=["patients"])


@router.post("", status_code=201, summary="Register a patient")
def create_patient(
    body: PatientCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_CREATE))],
) -> PatientOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.create_patient(gate=gate, data=body)


@router.get("", summary="List patients (keyset pagination)")
def list_patients(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_LIST))],
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    after: uuid.UUID | None = None,
) -> PatientPage:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_patients(gate=gate, limit=limit, after=after)


@router.post("/search", summary="Find patients by family name and date of birth (exact match)")
def search_patients(
    body: PatientSearch,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_SEARCH))],
) -> list[PatientOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.search_patients(gate=gate, criteria=body)


@router.get("/{patient_id}", summary="Read one patient")
def get_patient(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_READ))],
) -> PatientOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.get_patient(gate=gate, patient_id=patient_id)


@router.patch("/{patient_id}", summary="Change a patient's demographics")
def update_patient(
    patient_id: uuid.UUID,
    body: PatientUpdate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_UPDATE))],
) -> PatientOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.update_patient(gate=gate, patient_id=patient_id, changes=body)
