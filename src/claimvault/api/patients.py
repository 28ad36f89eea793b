"""Patient routes. Every one declares its permission and calls the patient service through the PHI gate.

Search criteria travel in a POST body, never in the URL (URLs end up in logs and browser history). The CSV export
needs recent re-authentication; it is read and audited (one ``export`` event) before the first byte is sent.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from claimvault.billing.patients import service
from claimvault.billing.patients.merge import MergeOut, PatientMerge, merge_patients
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
from claimvault.web.deps import RuntimeDep, require_recent_reauthentication, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/patients", tags=["patients"])


@router.post(
    "",
    status_code=201,
    summary="Register a patient",
    description="A match with an existing patient (family name + birth date, SSN or MRN, through blind indexes)"
    " answers 409 `duplicate_suspected` naming the matching patient ids and identifiers; repeat with"
    " `confirm_new=true` when the person is someone else.",
)
def create_patient(
    body: PatientCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_CREATE))],
    confirm_new: Annotated[bool, Query(description="Register even though a possible duplicate exists")] = False,
) -> PatientOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.create_patient(gate=gate, data=body, confirm_new=confirm_new)


@router.get("", summary="List patients (keyset pagination)")
def list_patients(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_LIST))],
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    after: uuid.UUID | None = None,
) -> PatientPage:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_patients(gate=gate, limit=limit, after=after)


@router.post(
    "/{patient_id}/merge",
    summary="Merge a duplicate record into this patient",
    description="The duplicate's coverages, encounters, claims, payment methods and disclosures move to this record"
    " (re-encrypted under its key); the duplicate stays, marked merged and pointing here, and leaves lists and"
    " searches. The same policy on both records keeps the duplicate's copy inactive; different overlapping"
    " coverages of one rank answer 409 naming them.",
)
def merge_patient(
    patient_id: uuid.UUID,
    body: PatientMerge,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_MERGE))],
) -> MergeOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return merge_patients(gate=gate, survivor_id=patient_id, data=body)


@router.post("/search", summary="Find patients by family name and date of birth, SSN or phone (exact match)")
def search_patients(
    body: PatientSearch,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_SEARCH))],
) -> list[PatientOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.search_patients(gate=gate, criteria=body)


# Spreadsheet formula injection: a cell starting with one of these is prefixed with "'" (E.164 phones excepted).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EXPORT_BATCH = 200


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    if text.startswith(_FORMULA_START) and not _E164.match(text):
        return "'" + text
    return text


def _csv_rows(rows: list[PatientOut]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(service.EXPORT_COLUMNS)
    for start in range(0, len(rows), _EXPORT_BATCH):
        for patient in rows[start : start + _EXPORT_BATCH]:
            values = patient.model_dump()
            writer.writerow([_cell(values.get(column)) for column in service.EXPORT_COLUMNS])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


@router.get(
    "/export",
    summary="Export the patients you may export as CSV (re-authentication)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_patients(
    org: str,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_EXPORT))],
    format: Literal["csv"] = "csv",
) -> StreamingResponse:
    require_recent_reauthentication(request)
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        rows = service.export_patients(gate=gate)
    # The gate has committed: the rows are audited before any of them leaves. The filename holds no PHI.
    filename = f"patients-{org}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{format}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(_csv_rows(rows), media_type="text/csv; charset=utf-8", headers=headers)


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
