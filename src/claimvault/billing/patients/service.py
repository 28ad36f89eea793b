"""Patient services. Keyword-only; every function takes the PHI gate, which checks tenant and permission,
decrypts and audits. Nothing here touches ciphertext or keys directly."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from claimvault.billing.patients.schemas import (
    PatientCreate,
    PatientOut,
    PatientPage,
    PatientSearch,
    PatientUpdate,
)
from claimvault.errors import ValidationFailed
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

MAX_PAGE = 200


def _format_ssn(value: str | None) -> str | None:
    if value is None or len(value) != 9:
        return value  # already masked by the gate, or absent
    return f"{value[:3]}-{value[3:5]}-{value[5:]}"


# Fields that may not be removed by an update (contact fields may: set them to null).
_REQUIRED = frozenset({"given_name", "family_name", "birth_date", "ssn"})
# Columns of an export, in order (ids and the values the reader may see; masked ones as masked, removed ones empty).
EXPORT_COLUMNS = (
    "id",
    "given_name",
    "family_name",
    "birth_date",
    "ssn",
    "phone",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "created_at",
    "updated_at",
)


def _out(record: Record) -> PatientOut:
    values = dict(record.values)
    values["ssn"] = _format_ssn(values.get("ssn"))
    return PatientOut.model_validate({"id": record.id, **values, "withheld": sorted(record.masked)})


def create_patient(*, gate: PHIGate, data: PatientCreate) -> PatientOut:
    values = data.model_dump(exclude_none=True)
    return _out(gate.create(Patient, values, permission=Permission.PATIENT_CREATE))


def get_patient(*, gate: PHIGate, patient_id: uuid.UUID) -> PatientOut:
    return _out(gate.get(Patient, patient_id, permission=Permission.PATIENT_READ))


def update_patient(*, gate: PHIGate, patient_id: uuid.UUID, changes: PatientUpdate) -> PatientOut:
    values = changes.model_dump(exclude_unset=True, exclude={"expected_version"})
    if any(v is None for k, v in values.items() if k in _REQUIRED):
        raise ValidationFailed("Names, date of birth and SSN cannot be removed.")
    record = gate.update(
        Patient,
        patient_id,
        values,
        permission=Permission.PATIENT_UPDATE,
        expected_version=changes.expected_version,
    )
    return _out(record)


def list_patients(*, gate: PHIGate, limit: int = 50, after: uuid.UUID | None = None) -> PatientPage:
    """Keyset pagination in id order (UUIDv7: creation order). Only rows returned are decrypted and audited;
    a full page carries ``next_after`` (the next page may turn out empty)."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = select(Patient).order_by(Patient.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Patient.id > after)
    records = gate.select(stmt, model=Patient, permission=Permission.PATIENT_LIST, action="list")
    items = [_out(r) for r in records]
    return PatientPage(items=items, next_after=items[-1].id if len(items) == limit else None)


def search_patients(*, gate: PHIGate, criteria: PatientSearch) -> list[PatientOut]:
    values: dict[str, object]
    if criteria.ssn is not None:
        index, values = "ssn_bidx", {"ssn": criteria.ssn}
    elif criteria.phone is not None:
        index, values = "phone_bidx", {"phone": criteria.phone}
    else:
        index, values = "name_dob_bidx", {"family_name": criteria.family_name, "birth_date": criteria.birth_date}
    records = gate.find_by_index(Patient, index=index, values=values, permission=Permission.PATIENT_SEARCH)
    return [_out(r) for r in records]


def export_patients(*, gate: PHIGate) -> list[PatientOut]:
    """Every patient the caller reaches with ``patient:export``, decrypted and masked for the caller's roles, in id
    order. One audit event (action ``export``) names every patient exported."""
    stmt = select(Patient).order_by(Patient.id)
    records = gate.select(stmt, model=Patient, permission=Permission.PATIENT_EXPORT, action="export")
    return [_out(r) for r in records]
