"""Merging duplicate patient records: the duplicate's coverages, encounters (with diagnoses and service lines),
claims, payment methods and disclosures move to the surviving record, re-encrypted under its key; the duplicate
stays (retention, audit history) but is marked merged and points at the survivor, and leaves lists, searches and
duplicate detection. One transaction: a problem anywhere leaves both records as they were."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from claimvault.billing.claims.models import Claim
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.eligibility.models import EligibilityCheck
from claimvault.billing.encounters.models import Encounter, EncounterDiagnosis, ServiceLine
from claimvault.billing.patients.models import Patient
from claimvault.billing.patients.schemas import PatientOut
from claimvault.billing.patients.service import get_patient
from claimvault.billing.payments.models import PaymentMethod
from claimvault.billing.remittance.models import (
    ClaimBalance,
    ClaimPaymentPosting,
    DenialWorkItem,
    LedgerEntry,
    LinePosting,
)
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.privacy.disclosures.models import Disclosure
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow

MERGE = Permission.PATIENT_MERGE
# Everything that belongs to the person rather than to the record. Break-the-glass grants, care assignments, files
# and the audit trail stay with the record they were made for (history is never rewritten).
MOVED: tuple[type[Any], ...] = (
    Coverage,
    Encounter,
    EncounterDiagnosis,
    ServiceLine,
    Claim,
    PaymentMethod,
    Disclosure,
    ClaimPaymentPosting,
    LinePosting,
    DenialWorkItem,
    ClaimBalance,
    LedgerEntry,
    EligibilityCheck,
)


class PatientMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_id: uuid.UUID
    expected_version: int | None = None  # of the duplicate, when the caller reviewed it


class MergeOut(BaseModel):
    survivor: PatientOut
    duplicate_id: uuid.UUID
    moved: dict[str, int]


def _overlap(a: Any, b: Any) -> bool:
    far = date.max
    return bool(a.effective_from <= (b.effective_to or far) and b.effective_from <= (a.effective_to or far))


def _coverage_conflicts(
    gate: PHIGate, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Active coverages of the duplicate that overlap an active one of the same rank on the survivor: the same
    policy (same member id by blind index, same payer) is ``redundant`` (kept as an inactive copy); a different one
    is a ``clash`` that a person must resolve. Nothing is decrypted."""
    columns = (Coverage.id, Coverage.patient_id, Coverage.rank, Coverage.effective_from, Coverage.effective_to)
    rows = gate.session.execute(
        select(*columns, Coverage.member_id_bidx, Coverage.payer_name, Coverage.payer_id).where(
            Coverage.patient_id.in_([survivor_id, duplicate_id]), Coverage.status == "active"
        )
    ).all()
    kept = [r for r in rows if r.patient_id == survivor_id]
    redundant: list[uuid.UUID] = []
    clashes: list[uuid.UUID] = []
    for dup in (r for r in rows if r.patient_id == duplicate_id):
        same_rank = [own for own in kept if own.rank == dup.rank and _overlap(own, dup)]
        if not same_rank:
            continue
        policy = (dup.member_id_bidx, dup.payer_id, dup.payer_name.casefold())
        if all((own.member_id_bidx, own.payer_id, own.payer_name.casefold()) == policy for own in same_rank):
            redundant.append(dup.id)
        else:
            clashes.append(dup.id)
    return redundant, clashes


def merge_patients(*, gate: PHIGate, survivor_id: uuid.UUID, data: PatientMerge) -> MergeOut:
    """Merge ``data.duplicate_id`` into ``survivor_id``. Refused when they are the same, when either is already
    merged into another, or when an active coverage of the duplicate overlaps one of the same rank on the survivor
    (end or deactivate one first; the error names the coverage ids). The same policy on both records is not a
    clash: the duplicate's copy is kept, inactive."""
    duplicate_id = data.duplicate_id
    if duplicate_id == survivor_id:
        raise ValidationFailed("A patient cannot be merged into itself.")
    for pid in (survivor_id, duplicate_id):
        gate.authorize(MERGE, entity_type=Patient.__tablename__, entity_id=pid)
        gate.check_in_scope(Patient, pid, MERGE)
    rows = {
        r.id: r
        for r in gate.session.scalars(
            select(Patient).where(Patient.id.in_([survivor_id, duplicate_id])).with_for_update()
        )
    }
    if len(rows) != 2:
        raise NotFound("No such record.")
    if rows[survivor_id].merged_into_id is not None or rows[duplicate_id].merged_into_id is not None:
        raise Conflict("One of these records has already been merged into another patient.")
    if data.expected_version is not None and rows[duplicate_id].row_version != data.expected_version:
        raise Conflict("The record was changed by someone else; reload it and try again.")
    redundant, clashes = _coverage_conflicts(gate, survivor_id, duplicate_id)
    if clashes:
        raise Conflict(
            "Both records have an active coverage of the same rank for overlapping dates: end or deactivate one"
            " before merging.",
            details=[{"coverage_id": str(cid)} for cid in clashes],
        )
    for coverage_id in redundant:  # the same policy on both records: the survivor's stays the active one
        gate.update(Coverage, coverage_id, {"status": "inactive"}, permission=MERGE)
    moved: dict[str, int] = {}
    for model in MOVED:
        ids = list(gate.session.scalars(select(model.id).where(model.patient_id == duplicate_id)))
        if ids:
            moved[model.__tablename__] = gate.move_to_patient(model, ids, to_patient=survivor_id, permission=MERGE)
    gate.update(
        Patient, duplicate_id, {"merged_into_id": survivor_id, "merged_at": utcnow()}, permission=MERGE, action="merge"
    )
    return MergeOut(survivor=get_patient(gate=gate, patient_id=survivor_id), duplicate_id=duplicate_id, moved=moved)
