"""Accounting-of-disclosures routes (45 CFR 164.528): record a disclosure, list a patient's disclosures, produce
the six-year accounting as JSON or PDF, and manage suspensions requested by agencies. Each route declares its
permission and works through the PHI gate. The PDF is streamed from memory; its file name carries no patient data.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from claimvault.privacy.disclosures import service
from claimvault.privacy.disclosures.accounting import render_pdf
from claimvault.privacy.disclosures.schemas import Accounting, DisclosureIn, DisclosureOut, SuspensionIn, SuspensionOut
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["disclosures"])

_PATIENT = "/patients/{patient_id}/disclosures"


@router.post(_PATIENT, status_code=201, summary="Record a disclosure of a patient's PHI")
def record_disclosure(
    patient_id: uuid.UUID,
    body: DisclosureIn,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.RECORD_PERMISSION))],
) -> DisclosureOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.record_disclosure(gate=gate, patient_id=patient_id, data=body)


@router.get(_PATIENT, summary="List a patient's recorded disclosures (exempt and suspended ones included)")
def list_disclosures(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.READ_PERMISSION))],
) -> list[DisclosureOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_disclosures(gate=gate, patient_id=patient_id)


@router.get(
    f"{_PATIENT}/accounting",
    summary="The patient's accounting of disclosures for the six years up to as_of (JSON or PDF)",
    response_model=Accounting,
    responses={200: {"content": {"application/pdf": {}}}},
)
def accounting(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.READ_PERMISSION))],
    output_format: Annotated[Literal["json", "pdf"], Query(alias="format")] = "json",
    as_of: Annotated[date | None, Query()] = None,
    summarize: Annotated[bool, Query()] = False,
) -> Accounting | Response:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        result = service.accounting_for(
            gate=gate, patient_id=patient_id, as_of=as_of, summarize=summarize, output_format=output_format
        )
        if output_format == "json":
            return result
        pdf = render_pdf(result)  # inside the transaction: a failed rendering leaves no "accounting" event
    filename = f"accounting-of-disclosures-{result.period.end.isoformat()}.pdf"
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/disclosure-suspensions", status_code=201, summary="Record an agency's suspension statement")
def create_suspension(
    body: SuspensionIn,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.SUSPEND_PERMISSION))],
) -> SuspensionOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.create_suspension(gate=gate, data=body)


@router.get("/disclosure-suspensions", summary="List suspensions of the accounting")
def list_suspensions(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.SUSPEND_PERMISSION))],
) -> list[SuspensionOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_suspensions(gate=gate)
