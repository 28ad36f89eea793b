"""Encounter routes: a patient's encounters with their diagnoses and service lines, and a coder's diagnosis
assignment, through the PHI gate."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from claimvault.billing.encounters import service
from claimvault.billing.encounters.schemas import DiagnosesReplace, EncounterCreate, EncounterOut
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["encounters"])


@router.post(
    "/patients/{patient_id}/encounters",
    status_code=201,
    summary="Record an encounter with its diagnoses and service lines",
    description="Diagnoses are ICD-10-CM codes (validated as billable on the date of service when claims are"
    " scrubbed); codes of other systems are kept with their system and leave the encounter needing coding.",
)
def create_encounter(
    patient_id: uuid.UUID,
    body: EncounterCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.ENCOUNTER_MANAGE))],
) -> EncounterOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.create_encounter(gate=gate, patient_id=patient_id, data=body)


@router.get("/patients/{patient_id}/encounters", summary="List a patient's encounters")
def list_encounters(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.ENCOUNTER_READ))],
) -> list[EncounterOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_encounters(gate=gate, patient_id=patient_id)


@router.get("/encounters/{encounter_id}", summary="Read one encounter")
def get_encounter(
    encounter_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.ENCOUNTER_READ))],
) -> EncounterOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.get_encounter(gate=gate, encounter_id=encounter_id)


@router.put(
    "/encounters/{encounter_id}/diagnoses",
    summary="Assign the encounter's diagnoses (a coder's ICD-10-CM coding, in pointer order)",
)
def replace_diagnoses(
    encounter_id: uuid.UUID,
    body: DiagnosesReplace,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.ENCOUNTER_MANAGE))],
) -> EncounterOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.replace_diagnoses(gate=gate, encounter_id=encounter_id, data=body)
