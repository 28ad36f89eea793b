"""Claim routes: create from a coded encounter, scrub, move through the lifecycle, correct (new version, replacement
or void), release 837P files, apply 999/277CA acknowledgements and read the X12 files, all through the PHI gate.

Identifiers in URLs are record ids and claim states, never patient data. X12 content travels in bodies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from claimvault.billing.claims import files, secondary, service
from claimvault.billing.claims.acknowledgements import import_ack
from claimvault.billing.claims.lifecycle import STATUSES
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.schemas import (
    ClaimCorrection,
    ClaimCreate,
    ClaimOut,
    ClaimTransitionRequest,
    ScrubResultOut,
    TransitionOut,
)
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["claims"])
ClaimStatus = Literal[STATUSES]  # type: ignore[valid-type]
MAX_X12_BYTES = 20 * 1024 * 1024


class ScrubRequest(BaseModel):
    claim_ids: list[uuid.UUID] | None = Field(default=None, max_length=5000, description="Default: every open claim")
    today: date | None = Field(default=None, description="The day timely filing and future dates are judged on")


class ReleasedFileOut(BaseModel):
    file_id: uuid.UUID
    payer_id: str
    interchange_control: int
    claim_count: int


class RefusedFileOut(BaseModel):
    payer_id: str
    claim_count: int
    errors: list[str]


class ExportOut(BaseModel):
    released: list[ReleasedFileOut]
    refused: list[RefusedFileOut]
    skipped_payers: list[str]


class AckOut(BaseModel):
    kind: str
    file_id: uuid.UUID | None
    already_imported: bool
    accepted: list[str]
    rejected: list[str]
    pending: list[str]
    unmatched: int
    not_applied: list[str]


@router.post("/claims", status_code=201, summary="Create a draft claim from a coded encounter")
def create_claim(
    body: ClaimCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_MANAGE))],
) -> ClaimOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.create_claim(gate=gate, data=body)


@router.get("/claims", summary="List claims (newest first), optionally by state or patient id")
def list_claims(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_READ))],
    status: Annotated[ClaimStatus | None, Query()] = None,
    patient_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ClaimOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_claims(gate=gate, status=status, patient_id=patient_id, limit=limit)


@router.post(
    "/claims/scrub",
    summary="Scrub claims: errors send a claim back to draft, warnings wait for acknowledgement, clean ones are ready",
)
def scrub_claims(
    body: ScrubRequest,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_MANAGE))],
) -> list[ScrubResultOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.scrub_claims(gate=gate, claim_ids=body.claim_ids, today=body.today)


@router.post(
    "/claims/export-837",
    summary="Release every ready claim as pyx12-validated 837P files, one per payer",
    description="Each released file is stored encrypted and recorded as a disclosure for payment; its claims"
    " become exported. A file that fails validation is not released: its claims stay ready and the errors are"
    " listed (codes and positions, no values).",
)
def export_claims(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_SUBMIT))],
    payer: Annotated[str | None, Query(max_length=80, pattern=r"^[A-Za-z0-9 .-]+$")] = None,
) -> ExportOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        result = export_837p(gate=gate, blobs=runtime.blobs, payer=payer)
    return ExportOut(
        released=[
            ReleasedFileOut(
                file_id=r.file_id,
                payer_id=r.payer_id,
                interchange_control=r.interchange_control,
                claim_count=r.claim_count,
            )
            for r in result.released
        ],
        refused=[
            RefusedFileOut(
                payer_id=r.payer_id,
                claim_count=r.claim_count,
                errors=[issue.describe() for issue in r.report.issues[:50]],
            )
            for r in result.refused
        ],
        skipped_payers=list(result.skipped),
    )


@router.post(
    "/claims/acknowledgements",
    summary="Apply a 999 or 277CA acknowledgement (the X12 text is the request body)",
    description="Validated with pyx12 first; importing the same file again changes nothing.",
)
def import_acknowledgement(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_SUBMIT))],
    content: Annotated[bytes, Body(media_type="application/edi-x12", max_length=MAX_X12_BYTES)],
) -> AckOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        result = import_ack(gate=gate, blobs=runtime.blobs, data=content)
    return AckOut(
        kind=result.kind,
        file_id=result.file_id,
        already_imported=result.already_imported,
        accepted=result.accepted,
        rejected=result.rejected,
        pending=result.pending,
        unmatched=result.unmatched,
        not_applied=result.not_applied,
    )


@router.get("/claims/{claim_id}", summary="Read one claim with its scrubber findings")
def get_claim(
    claim_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_READ))],
) -> ClaimOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.get_claim(gate=gate, claim_id=claim_id)


@router.get("/claims/{claim_id}/history", summary="Every transition of a claim: from, to, source, actor, time")
def claim_history(
    claim_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_READ))],
) -> list[TransitionOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.claim_history(gate=gate, claim_id=claim_id)


@router.post(
    "/claims/{claim_id}/transitions",
    summary="Move a claim: acknowledge warnings (ready), back to draft, appeal or close",
    description="An illegal transition answers 409 naming the allowed ones.",
)
def transition_claim(
    claim_id: uuid.UUID,
    body: ClaimTransitionRequest,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_MANAGE))],
) -> ClaimOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.request_transition(gate=gate, claim_id=claim_id, request=body)


@router.post(
    "/claims/{claim_id}/corrections",
    status_code=201,
    summary="Correct a claim: a new version (1), a replacement (7) or a void (8) with the payer's claim number",
)
def correct_claim(
    claim_id: uuid.UUID,
    body: ClaimCorrection,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_MANAGE))],
) -> ClaimOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.correct_claim(gate=gate, claim_id=claim_id, data=body)


@router.post(
    "/claims/{claim_id}/secondary",
    status_code=201,
    summary="Bill the next payer: a secondary (or tertiary) claim carrying the posted adjudication of this claim",
    description="Allowed once this claim is paid, partially paid or denied with a posted remittance and the patient"
    " has an active coverage of the next rank on the date of service; the new claim is a draft like any other.",
)
def create_secondary_claim(
    claim_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_MANAGE))],
) -> ClaimOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return secondary.create_secondary_claim(gate=gate, primary_claim_id=claim_id)


@router.get("/x12-files", summary="Released and received X12 files (envelope numbers and counts, no content)")
def list_x12_files(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_SUBMIT))],
    kind: Annotated[Literal["837P", "999", "277CA", "835"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=files.MAX_LISTED)] = 100,
) -> list[files.X12FileOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return files.list_x12_files(gate=gate, kind=kind, limit=limit)


@router.get(
    "/x12-files/{file_id}/content",
    summary="Download one X12 file (decrypted for this request; audited)",
    response_class=Response,
    responses={200: {"content": {"application/edi-x12": {}}}},
)
def download_x12_file(
    file_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_SUBMIT))],
) -> Response:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        meta, content = files.read_x12_file(gate=gate, blobs=runtime.blobs, file_id=file_id)
    name = f"{meta.kind}-{meta.interchange_control or 0:09d}.x12"
    return Response(
        content,
        media_type="application/edi-x12",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
