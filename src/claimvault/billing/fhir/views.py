"""FHIR R4B read and search over ClaimVault records: Patient, Coverage and Claim, built from what the domain
services return through the PHI gate (so every read is authorized and audited there).

Search parameters arrive as a flat list of (name, value) pairs from a ``POST _search`` body. Parameters that can hold
PHI (names, birth date, identifiers, telecom) are refused when they come from a URL (``PHI_PARAMETERS``); the
interface decides where they came from. Errors name parameters, never their values.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from claimvault.billing.claims import service as claims
from claimvault.billing.claims.assembly import claim_documents
from claimvault.billing.claims.lifecycle import STATUSES
from claimvault.billing.claims.models import Claim
from claimvault.billing.coverage import service as coverages
from claimvault.billing.coverage.schemas import CoverageSearch
from claimvault.billing.fhir.resources import (
    CONTROL_NUMBER_SYSTEM,
    MRN_SYSTEM,
    SSN_SYSTEM,
    claim_resource,
    coverage_resource,
    patient_resource,
)
from claimvault.billing.patients import service as patients
from claimvault.billing.patients.schemas import PatientSearch
from claimvault.errors import NotFound, ValidationFailed
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission

Params = Sequence[tuple[str, str]]
MAX_COUNT = 100
PHI_PARAMETERS = frozenset(
    {"name", "family", "given", "birthdate", "identifier", "telecom", "phone", "email", "address", "subscriber-id"}
)
SUPPORTED = {
    "Patient": frozenset({"_id", "_count", "family", "given", "birthdate", "identifier", "phone", "telecom"}),
    "Coverage": frozenset({"_id", "_count", "patient", "beneficiary", "identifier", "subscriber-id"}),
    "Claim": frozenset({"_id", "_count", "patient", "identifier", "status"}),
}


class SearchRefused(ValidationFailed):
    """A search that cannot be run as asked (unknown parameter, PHI in a URL, missing pair)."""

    code = "fhir_search_refused"


def _single(params: Params, resource: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in params:
        base = name.split(":", 1)[0]
        if base not in SUPPORTED[resource]:
            known = ", ".join(sorted(SUPPORTED[resource]))
            raise SearchRefused(f"Unsupported {resource} search parameter (supported: {known}).")
        if base in found:
            raise SearchRefused(f"The parameter {base} may be given once.")
        if ":" in name and name.split(":", 1)[1] != "exact":
            raise SearchRefused(f"Unsupported modifier on {base} (only :exact; every match is exact).")
        found[base] = value
    return found


def _count(found: dict[str, str]) -> int:
    raw = found.get("_count", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise SearchRefused(f"_count must be a number from 1 to {MAX_COUNT}.")
    return int(raw)


def _uuid(value: str, name: str) -> uuid.UUID:
    tail = value.rsplit("/", 1)[-1]
    try:
        return uuid.UUID(tail)
    except ValueError:
        raise SearchRefused(f"{name} must be a resource id or reference.") from None


def _token(value: str) -> tuple[str | None, str]:
    if "|" in value:
        system, code = value.split("|", 1)
        return (system or None), code
    return None, value


def read_patient(*, gate: PHIGate, patient_id: uuid.UUID) -> dict[str, Any]:
    return patient_resource(patients.get_patient(gate=gate, patient_id=patient_id).model_dump())


def read_coverage(*, gate: PHIGate, coverage_id: uuid.UUID) -> dict[str, Any]:
    return coverage_resource(coverages.get_coverage(gate=gate, coverage_id=coverage_id).model_dump())


def _claims(gate: PHIGate, claim_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Claim resources in the order of ``claim_ids`` (one batched, audited read of their documents)."""
    if not claim_ids:
        return []
    stmt = select(Claim).where(Claim.id.in_(claim_ids))
    rows = {r.id: r for r in gate.select(stmt, model=Claim, permission=Permission.CLAIM_READ, action="read")}
    documents = claim_documents(gate=gate, claim_ids=list(rows))
    return [
        claim_resource(documents[cid], status=rows[cid]["status"], patient_id=rows[cid]["patient_id"])
        for cid in claim_ids
        if cid in documents
    ]


def read_claim(*, gate: PHIGate, claim_id: uuid.UUID) -> dict[str, Any]:
    found = _claims(gate, [claim_id])
    if not found:
        raise NotFound("No such record.")
    return found[0]


def search_patients(*, gate: PHIGate, params: Params) -> list[dict[str, Any]]:
    """By ``family`` + ``birthdate`` (with an optional exact ``given``), ``identifier`` (SSN or MRN system), or
    ``phone``/``telecom``; exact matches through blind indexes. ``_id`` reads one patient."""
    found = _single(params, "Patient")
    count = _count(found)
    if "_id" in found:
        return [read_patient(gate=gate, patient_id=_uuid(found["_id"], "_id"))]
    criteria: dict[str, Any] = {}
    if "family" in found or "birthdate" in found:
        criteria["family_name"] = found.get("family")
        birth = found.get("birthdate", "")
        try:
            criteria["birth_date"] = date.fromisoformat(birth.removeprefix("eq")) if birth else None
        except ValueError:
            raise SearchRefused("birthdate must be a date (YYYY-MM-DD, optionally prefixed eq).") from None
    if "identifier" in found:
        system, value = _token(found["identifier"])
        if system == SSN_SYSTEM:
            criteria["ssn"] = value
        elif system in (MRN_SYSTEM, None):
            criteria["mrn"] = value
        else:
            raise SearchRefused("identifier must use the SSN or MRN system.")
    phone = found.get("phone") or found.get("telecom")
    if phone is not None:
        criteria["phone"] = _token(phone)[1]
    try:
        search = PatientSearch(**criteria)
    except ValidationError:
        raise SearchRefused(
            "Search Patient by family and birthdate together, by identifier (SSN or MRN) alone, or by phone alone."
        ) from None
    results = [p.model_dump() for p in patients.search_patients(gate=gate, criteria=search)]
    if "given" in found:
        wanted = found["given"].casefold()
        results = [p for p in results if str(p.get("given_name") or "").casefold() == wanted]
    return [patient_resource(p) for p in results[:count]]


def search_coverages(*, gate: PHIGate, params: Params) -> list[dict[str, Any]]:
    """By ``patient``/``beneficiary`` (a patient id), or ``identifier``/``subscriber-id`` (the member id)."""
    found = _single(params, "Coverage")
    count = _count(found)
    if "_id" in found:
        return [read_coverage(gate=gate, coverage_id=_uuid(found["_id"], "_id"))]
    patient = found.get("patient") or found.get("beneficiary")
    member = found.get("identifier") or found.get("subscriber-id")
    if (patient is None) == (member is None):
        raise SearchRefused("Search Coverage by patient (or beneficiary) or by member id (identifier).")
    if patient is not None:
        items = coverages.list_coverages(gate=gate, patient_id=_uuid(patient, "patient"))
    else:
        try:
            search = CoverageSearch(member_id=_token(member or "")[1])
        except ValidationError:
            raise SearchRefused("identifier must be a member id.") from None
        items = coverages.search_coverages(gate=gate, criteria=search)
    return [coverage_resource(c.model_dump()) for c in items[:count]]


def search_claims(*, gate: PHIGate, params: Params) -> list[dict[str, Any]]:
    """By ``patient`` (a patient id), optionally with ``status`` (a ClaimVault claim state) or ``identifier`` (the
    patient control number, CLM01)."""
    found = _single(params, "Claim")
    count = _count(found)
    if "_id" in found:
        return _claims(gate, [_uuid(found["_id"], "_id")])
    if "patient" not in found and "identifier" not in found:
        raise SearchRefused("Search Claim by patient or by identifier (the patient control number).")
    patient_id = _uuid(found["patient"], "patient") if "patient" in found else None
    status = found.get("status")
    if status is not None and status not in STATUSES:
        raise SearchRefused("status must be a ClaimVault claim state.")
    listed = claims.list_claims(gate=gate, status=status, patient_id=patient_id, limit=500)
    if "identifier" in found:
        system, value = _token(found["identifier"])
        if system not in (None, CONTROL_NUMBER_SYSTEM):
            raise SearchRefused("identifier must be a patient control number.")
        listed = [c for c in listed if c.control_number == value]
    return _claims(gate, [c.id for c in listed[:count]])
