"""Coverage services. Keyword-only; every function takes the PHI gate (tenant, permission, relationship scope,
encryption, audit). Rules: at most one active coverage per rank and patient for any day; effective dates in
order; subscriber details exactly when the subscriber is not the patient. Rules read plain columns only."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select

from claimvault.billing.coverage.models import Coverage
from claimvault.billing.coverage.schemas import (
    RANKS,
    SUBSCRIBER_FIELDS,
    X12_RELATIONSHIP,
    CoverageCreate,
    CoverageOut,
    CoverageSearch,
    CoverageUpdate,
    check_coverage_shape,
)
from claimvault.billing.patients.models import Patient
from claimvault.billing.payers.models import Payer
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

READ = Permission.COVERAGE_READ
MANAGE = Permission.COVERAGE_MANAGE


def _out(record: Record) -> CoverageOut:
    values = dict(record.values)
    values["subscriber_relationship_code"] = X12_RELATIONSHIP[values["subscriber_relationship"]]
    return CoverageOut.model_validate({"id": record.id, **values, "withheld": sorted(record.masked)})


def _require_patient(gate: PHIGate, patient_id: uuid.UUID, permission: Permission, *, lock: bool = False) -> None:
    """The patient exists in this tenant and within the caller's reach; otherwise "not found" (audited when out of
    reach). With ``lock`` the patient row is locked, which serialises coverage changes of one patient."""
    gate.authorize(permission, entity_type=Coverage.__tablename__)
    stmt = select(Patient.id).where(Patient.id == patient_id)
    if gate.session.scalar(stmt.with_for_update() if lock else stmt) is None:
        raise NotFound("No such patient.")
    gate.check_in_scope(Patient, patient_id, permission)


def _check_overlap(
    gate: PHIGate,
    *,
    patient_id: uuid.UUID,
    rank: str,
    start: date,
    end: date | None,
    exclude: uuid.UUID | None = None,
) -> None:
    stmt = (
        select(func.count())
        .select_from(Coverage)
        .where(
            Coverage.patient_id == patient_id,
            Coverage.rank == rank,
            Coverage.status == "active",
            or_(Coverage.effective_to.is_(None), Coverage.effective_to >= start),
        )
    )
    if end is not None:
        stmt = stmt.where(Coverage.effective_from <= end)
    if exclude is not None:
        stmt = stmt.where(Coverage.id != exclude)
    if gate.session.scalar(stmt):
        raise Conflict("The patient already has an active coverage of this rank for these dates.")


def _check_payer(gate: PHIGate, payer_id: uuid.UUID | None) -> None:
    if payer_id is not None and gate.session.get(Payer, payer_id) is None:
        raise NotFound("No such payer.")


def add_coverage(
    *, gate: PHIGate, patient_id: uuid.UUID, data: CoverageCreate, import_key: str | None = None
) -> CoverageOut:
    """Add a coverage (no overlapping active coverage of the same rank). ``import_key`` marks a coverage created
    by an idempotent import (unique per organization)."""
    _require_patient(gate, patient_id, MANAGE, lock=True)
    _check_payer(gate, data.payer_id)
    _check_overlap(gate, patient_id=patient_id, rank=data.rank, start=data.effective_from, end=data.effective_to)
    values: dict[str, Any] = {
        **data.model_dump(exclude_none=True),
        "patient_id": patient_id,
        "status": "active",
        "created_by": gate.ctx.actor_id,
    }
    if import_key is not None:
        values["import_key"] = import_key
    return _out(gate.create(Coverage, values, permission=MANAGE))


def list_coverages(*, gate: PHIGate, patient_id: uuid.UUID) -> list[CoverageOut]:
    """A patient's coverages: primary, secondary, tertiary, each newest first."""
    _require_patient(gate, patient_id, READ)
    stmt = select(Coverage).where(Coverage.patient_id == patient_id).order_by(Coverage.id)
    items = [
        _out(r) for r in gate.select(stmt, model=Coverage, permission=READ, action="list", about_patient=patient_id)
    ]
    return sorted(items, key=lambda c: (RANKS.index(c.rank), -c.effective_from.toordinal()))


def get_coverage(*, gate: PHIGate, coverage_id: uuid.UUID) -> CoverageOut:
    return _out(gate.get(Coverage, coverage_id, permission=READ))


def update_coverage(*, gate: PHIGate, coverage_id: uuid.UUID, changes: CoverageUpdate) -> CoverageOut:
    """Apply ``changes`` after validating the merged coverage (plain columns and which encrypted ones are set are
    enough: nothing is decrypted for the checks)."""
    gate.authorize(MANAGE, entity_type=Coverage.__tablename__, entity_id=coverage_id)
    row = gate.session.get(Coverage, coverage_id)
    if row is None:
        raise NotFound("No such record.")
    gate.check_in_scope(Coverage, coverage_id, MANAGE)
    values = changes.model_dump(exclude_unset=True, exclude={"expected_version"})
    _check_payer(gate, values.get("payer_id"))
    for name in ("rank", "status", "payer_name", "member_id", "subscriber_relationship", "effective_from"):
        if name in values and values[name] is None:
            raise ValidationFailed("This coverage field cannot be removed.")
    relationship = values.get("subscriber_relationship", row.subscriber_relationship)
    if relationship == "self" and row.subscriber_relationship != "self":
        for name in SUBSCRIBER_FIELDS:  # the patient is now the subscriber: drop the other person's details
            values.setdefault(name, None)
    present = {
        name: values[name] is not None if name in values else getattr(row, name) is not None
        for name in SUBSCRIBER_FIELDS
    }
    start = values.get("effective_from", row.effective_from)
    end = values.get("effective_to", row.effective_to)
    try:
        check_coverage_shape(
            relationship=relationship, subscriber_given=any(present.values()), effective_from=start, effective_to=end
        )
    except ValueError as problem:
        raise ValidationFailed(str(problem).capitalize() + ".") from None
    if relationship != "self" and not all(present.values()):
        raise ValidationFailed("A subscriber other than the patient needs given name, family name and birth date.")
    if values.get("status", row.status) == "active":
        gate.session.scalar(select(Patient.id).where(Patient.id == row.patient_id).with_for_update())
        _check_overlap(
            gate,
            patient_id=row.patient_id,
            rank=values.get("rank", row.rank),
            start=start,
            end=end,
            exclude=coverage_id,
        )
    record = gate.update(Coverage, coverage_id, values, permission=MANAGE, expected_version=changes.expected_version)
    return _out(record)


def search_coverages(*, gate: PHIGate, criteria: CoverageSearch) -> list[CoverageOut]:
    """Exact member-id match through the blind index; one audited search naming the patients found."""
    records = gate.find_by_index(
        Coverage, index="member_id_bidx", values={"member_id": criteria.member_id}, permission=READ
    )
    return [_out(r) for r in records]
