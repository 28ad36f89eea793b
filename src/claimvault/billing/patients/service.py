"""Patient services. Keyword-only; every function takes the PHI gate, which checks tenant and permission,
decrypts and audits. Nothing here touches ciphertext or keys directly."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from claimvault.billing.coverage.models import Coverage
from claimvault.billing.patients.models import Patient
from claimvault.billing.patients.schemas import (
    PatientCreate,
    PatientOut,
    PatientPage,
    PatientSearch,
    PatientUpdate,
)
from claimvault.errors import DuplicateSuspected, ValidationFailed
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


def find_duplicates(
    *,
    gate: PHIGate,
    family_name: str,
    birth_date: object,
    ssn: str | None = None,
    mrn: str | None = None,
    member_ids: tuple[str, ...] = (),
) -> dict[uuid.UUID, list[str]]:
    """Existing patients matching through the blind indexes: family name + date of birth, SSN, MRN, or a member
    id of one of their coverages. Returns patient id -> the identifiers that matched (names, never values).
    Nothing is decrypted; each matching lookup is audited as a search naming the matches."""
    found: dict[uuid.UUID, list[str]] = {}
    checks: list[tuple[str, dict[str, object]]] = [
        ("name_dob_bidx", {"family_name": family_name, "birth_date": birth_date})
    ]
    if ssn is not None:
        checks.append(("ssn_bidx", {"ssn": ssn}))
    if mrn is not None:
        checks.append(("mrn_bidx", {"mrn": mrn}))
    labels = {"name_dob_bidx": "family_name+birth_date", "ssn_bidx": "ssn", "mrn_bidx": "mrn"}
    for index, values in checks:
        for pid in gate.match_ids(Patient, index=index, values=values, permission=Permission.PATIENT_CREATE):
            found.setdefault(pid, []).append(labels[index])
    for member_id in member_ids:
        for cid in gate.match_ids(
            Coverage, index="member_id_bidx", values={"member_id": member_id}, permission=Permission.PATIENT_CREATE
        ):
            owner = gate.session.scalar(select(Coverage.patient_id).where(Coverage.id == cid))
            if owner is not None and "member_id" not in found.setdefault(owner, []):
                found[owner].append("member_id")
    merged = set(
        gate.session.scalars(select(Patient.id).where(Patient.id.in_(found), Patient.merged_into_id.is_not(None)))
    )
    return {pid: matched for pid, matched in found.items() if pid not in merged}


def duplicate_error(found: dict[uuid.UUID, list[str]]) -> DuplicateSuspected:
    details: list[dict[str, object]] = [
        {"patient_id": str(pid), "matched_on": sorted(matched)} for pid, matched in sorted(found.items())
    ]
    return DuplicateSuspected(
        "This patient may already be registered. Open the existing record (or merge), or confirm that this is a"
        " different person.",
        details=details,
    )


def create_patient(
    *,
    gate: PHIGate,
    data: PatientCreate,
    confirm_new: bool = False,
    member_ids: tuple[str, ...] = (),
    import_key: str | None = None,
) -> PatientOut:
    """Register a patient. Unless ``confirm_new``, a match on family name + birth date, SSN, MRN or one of
    ``member_ids`` (the coverages about to be added) with an existing patient refuses the registration
    (``duplicate_suspected``, naming the matching records and identifiers). ``import_key`` marks a patient created
    by an idempotent import (unique per organization)."""
    if not confirm_new:
        found = find_duplicates(
            gate=gate,
            family_name=data.family_name,
            birth_date=data.birth_date,
            ssn=data.ssn,
            mrn=data.mrn,
            member_ids=member_ids,
        )
        if found:
            raise duplicate_error(found)
    values: dict[str, object] = data.model_dump(exclude_none=True)
    if import_key is not None:
        values["import_key"] = import_key
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
    stmt = select(Patient).where(Patient.merged_into_id.is_(None)).order_by(Patient.id).limit(limit)
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
    elif criteria.mrn is not None:
        index, values = "mrn_bidx", {"mrn": criteria.mrn}
    else:
        index, values = "name_dob_bidx", {"family_name": criteria.family_name, "birth_date": criteria.birth_date}
    records = gate.find_by_index(Patient, index=index, values=values, permission=Permission.PATIENT_SEARCH)
    return [
        _out(r) for r in records if r.values.get("merged_into_id") is None
    ]  # a merged record is found via its survivor


def export_patients(*, gate: PHIGate) -> list[PatientOut]:
    """Every patient the caller reaches with ``patient:export``, decrypted and masked for the caller's roles, in id
    order. One audit event (action ``export``) names every patient exported."""
    stmt = select(Patient).order_by(Patient.id)
    records = gate.select(stmt, model=Patient, permission=Permission.PATIENT_EXPORT, action="export")
    return [_out(r) for r in records]
