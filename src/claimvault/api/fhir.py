"""FHIR R4B routes: read and search Patient, Coverage, Claim and ExplanationOfBenefit (``application/fhir+json``).

Searches whose parameters can hold PHI (names, birth date, identifiers, telecom) are accepted only as
``POST [type]/_search`` with a form-encoded (or JSON object) body, never in a URL: a ``GET [type]?family=...`` is
refused before anything is read, and the refusal does not repeat the value. Errors of these routes are
OperationOutcomes (see ``web.errors``) naming parameters, never values.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from claimvault.billing.fhir import eob, views
from claimvault.billing.fhir.resources import searchset_bundle
from claimvault.errors import ClaimVaultError
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/fhir", tags=["FHIR R4B"])
FHIR_JSON = "application/fhir+json"
MAX_SEARCH_BODY = 16 * 1024


class SearchBodyRefused(ClaimVaultError):
    status_code = 400
    code = "fhir_search_refused"


def _fhir(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, media_type=FHIR_JSON, headers={"Cache-Control": "no-store"})


def _bundle(request: Request, resources: list[dict[str, Any]]) -> JSONResponse:
    base = f"{str(request.base_url).rstrip('/')}/api/v1/orgs/{request.path_params['org']}/fhir"
    return _fhir(searchset_bundle(resources, base_url=base))


async def body_params(request: Request) -> list[tuple[str, str]]:
    """Search parameters from a POST body: form-encoded (the FHIR default) or a JSON object of strings."""
    body = await request.body()
    if len(body) > MAX_SEARCH_BODY:
        raise SearchBodyRefused("The search body is too large.", status_code=413)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            return parse_qsl(body.decode("utf-8"), strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise SearchBodyRefused("The search body is not a valid form.") from None
    if kind in ("application/json", FHIR_JSON):
        try:
            data = json.loads(body or b"{}")
        except (UnicodeDecodeError, ValueError):
            raise SearchBodyRefused("The search body is not valid JSON.") from None
        if not isinstance(data, dict) or not all(isinstance(v, str | int) for v in data.values()):
            raise SearchBodyRefused("The JSON search body must be an object of parameter names to strings.")
        return [(str(k), str(v)) for k, v in data.items()]
    raise SearchBodyRefused("Send search parameters form-encoded or as JSON.", status_code=415)


def url_params(request: Request) -> list[tuple[str, str]]:
    """Search parameters from the URL, refused when any can hold PHI (the value is never repeated)."""
    params = list(request.query_params.multi_items())
    if any(name.split(":", 1)[0] in views.PHI_PARAMETERS for name, _ in params):
        raise SearchBodyRefused(
            "Search parameters that can hold PHI (names, birth date, identifiers, telecom) are accepted only in the"
            " body of POST [type]/_search, never in a URL."
        )
    return params


BodyParams = Annotated[list[tuple[str, str]], Depends(body_params)]
UrlParams = Annotated[list[tuple[str, str]], Depends(url_params)]


@router.get("/Patient/{patient_id}", summary="Read a Patient", response_class=JSONResponse)
def read_patient(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _fhir(views.read_patient(gate=gate, patient_id=patient_id))


@router.get("/Coverage/{coverage_id}", summary="Read a Coverage", response_class=JSONResponse)
def read_coverage(
    coverage_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _fhir(views.read_coverage(gate=gate, coverage_id=coverage_id))


@router.get("/Claim/{claim_id}", summary="Read a Claim", response_class=JSONResponse)
def read_claim(
    claim_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _fhir(views.read_claim(gate=gate, claim_id=claim_id))


@router.post(
    "/Patient/_search",
    summary="Search Patients: family + birthdate (+ given), identifier (SSN or MRN system) or phone",
    response_class=JSONResponse,
)
def search_patients(
    request: Request,
    params: BodyParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_SEARCH))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, views.search_patients(gate=gate, params=params))


@router.get(
    "/Patient", summary="Search Patients by _id (PHI parameters need POST _search)", response_class=JSONResponse
)
def search_patients_by_url(
    request: Request,
    params: UrlParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PATIENT_SEARCH))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, views.search_patients(gate=gate, params=params))


@router.post(
    "/Coverage/_search",
    summary="Search Coverages: patient (or beneficiary) id, or member id (identifier)",
    response_class=JSONResponse,
)
def search_coverages(
    request: Request,
    params: BodyParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, views.search_coverages(gate=gate, params=params))


@router.get(
    "/Coverage",
    summary="Search Coverages by patient or beneficiary id (member ids need POST _search)",
    response_class=JSONResponse,
)
def search_coverages_by_url(
    request: Request,
    params: UrlParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.COVERAGE_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, views.search_coverages(gate=gate, params=params))


@router.post(
    "/Claim/_search",
    summary="Search Claims: patient id with optional status, or identifier (patient control number)",
    response_class=JSONResponse,
)
def search_claims(
    request: Request,
    params: BodyParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, views.search_claims(gate=gate, params=params))


@router.get("/Claim", summary="Search Claims by patient id and status", response_class=JSONResponse)
def search_claims_by_url(
    request: Request,
    params: UrlParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.CLAIM_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, views.search_claims(gate=gate, params=params))


@router.get(
    "/ExplanationOfBenefit/{eob_id}",
    summary="Read an ExplanationOfBenefit (a posted claim payment)",
    response_class=JSONResponse,
)
def read_eob(
    eob_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.REMITTANCE_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _fhir(eob.read_eob(gate=gate, posting_id=eob_id))


@router.post(
    "/ExplanationOfBenefit/_search",
    summary="Search ExplanationOfBenefits: patient and/or claim id",
    response_class=JSONResponse,
)
def search_eobs(
    request: Request,
    params: BodyParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.REMITTANCE_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, eob.search_eobs(gate=gate, params=params))


@router.get(
    "/ExplanationOfBenefit",
    summary="Search ExplanationOfBenefits by patient and/or claim id",
    response_class=JSONResponse,
)
def search_eobs_by_url(
    request: Request,
    params: UrlParams,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.REMITTANCE_READ))],
) -> JSONResponse:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return _bundle(request, eob.search_eobs(gate=gate, params=params))
