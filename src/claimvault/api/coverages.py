"""Coverage routes: a patient's insurance coverages, read and managed through the PHI gate. Member-id search
travels in a POST body (never the URL) and matches exactly through a blind index."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from claimvault.billing.coverage import service
from claimvault.billing.coverage.schemas import CoverageCreate, CoverageOut, CoverageSearch, CoverageUpdate
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["coverages"])


@router.post("/patients/{patient_id}/coverages", status_code=201, summary="Add a coverage to a patient")
def add_coverage(
    patient_id: uuid.UUID,
    body: CoverageCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_MANAGE))],
) -> CoverageOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.add_coverage(gate=gate, patient_id=patient_id, data=body)


@router.get("/patients/{patient_id}/coverages", summary="List a patient's coverages")
def list_coverages(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_READ))],
) -> list[CoverageOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_coverages(gate=gate, patient_id=patient_id)


@router.post("/coverages/search", summary="Find coverages by member id (exact match)")
def search_coverages(
    body: CoverageSearch,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_READ))],
) -> list[CoverageOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.search_coverages(gate=gate, criteria=body)


@router.get("/coverages/{coverage_id}", summary="Read one coverage")
def get_coverage(
    coverage_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_READ))],
) -> CoverageOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.get_coverage(gate=gate, coverage_id=coverage_id)


@router.patch("/coverages/{coverage_id}", summary="Change a coverage (optional expected_version)")
def update_coverage(
    coverage_id: uuid.UUID,
    body: CoverageUpdate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_MANAGE))],
) -> CoverageOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.update_coverage(gate=gate, coverage_id=coverage_id, changes=body)
