"""Encounter services. Keyword-only; everything through the PHI gate. An encounter is ``needs_coding`` while any
diagnosis is in a code system we cannot bill (or it has none), ``open`` when billable, ``billed`` once a claim
has left (its coding is then frozen: corrections go through a new claim version)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from claimvault.billing.encounters.models import Encounter, EncounterDiagnosis, ServiceLine
from claimvault.billing.encounters.schemas import (
    DiagnosesReplace,
    DiagnosisIn,
    DiagnosisOut,
    EncounterCreate,
    EncounterOut,
    ServiceLineOut,
)
from claimvault.billing.fees.service import unit_charge
from claimvault.billing.patients.models import Patient
from claimvault.billing.providers.models import Facility, Provider
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

READ = Permission.ENCOUNTER_READ
MANAGE = Permission.ENCOUNTER_MANAGE


def _require_patient(gate: PHIGate, patient_id: uuid.UUID, permission: Permission) -> None:
    gate.authorize(permission, entity_type=Encounter.__tablename__)
    if gate.session.scalar(select(Patient.id).where(Patient.id == patient_id).with_for_update()) is None:
        raise NotFound("No such patient.")
    gate.check_in_scope(Patient, patient_id, permission)


def _check_references(gate: PHIGate, data: EncounterCreate) -> None:
    providers = {
        "billing_provider_id": data.billing_provider_id,
        "rendering_provider_id": data.rendering_provider_id,
        "referring_provider_id": data.referring_provider_id,
    }
    for name, provider_id in providers.items():
        if provider_id is None:
            continue
        row = gate.session.get(Provider, provider_id)
        if row is None or not row.active:
            raise NotFound(f"No such provider ({name}).")
        if name == "billing_provider_id" and not row.can_bill:
            raise ValidationFailed("The billing provider is not set up to bill (can_bill, tax id).")
    if data.facility_id is not None and gate.session.get(Facility, data.facility_id) is None:
        raise NotFound("No such facility.")


def coding_status(diagnoses: list[DiagnosisIn]) -> str:
    if not diagnoses or any(d.code_system != "icd10cm" for d in diagnoses):
        return "needs_coding"
    return "open"


def _add_diagnoses(gate: PHIGate, *, encounter_id: uuid.UUID, patient_id: uuid.UUID, items: list[DiagnosisIn]) -> None:
    for position, dx in enumerate(items, start=1):
        values: dict[str, Any] = {
            "encounter_id": encounter_id,
            "patient_id": patient_id,
            "position": position,
            "code_system": dx.code_system,
            "code": dx.code,
            "needs_coding": dx.code_system != "icd10cm",
        }
        gate.create(EncounterDiagnosis, values, permission=MANAGE)


def create_encounter(
    *, gate: PHIGate, patient_id: uuid.UUID, data: EncounterCreate, import_key: str | None = None
) -> EncounterOut:
    _require_patient(gate, patient_id, MANAGE)
    _check_references(gate, data)
    values: dict[str, Any] = {
        **data.model_dump(exclude={"diagnoses", "lines"}, exclude_none=True),
        "patient_id": patient_id,
        "status": coding_status(data.diagnoses),
        "created_by": gate.ctx.actor_id,
    }
    if import_key is not None:
        values["import_key"] = import_key
    encounter = gate.create(Encounter, values, permission=MANAGE)
    _add_diagnoses(gate, encounter_id=encounter.id, patient_id=patient_id, items=data.diagnoses)
    for number, line in enumerate(data.lines, start=1):
        charge = line.charge
        if charge is None:
            fee = unit_charge(
                gate.session, procedure_code=line.procedure_code, modifiers=line.modifiers, on=data.service_date
            )
            if fee is None:
                raise ValidationFailed(
                    f"Service line {number}: the fee schedule has no charge for its procedure on the date of service;"
                    " give the charge or add a fee schedule entry."
                )
            charge = (fee * line.units).quantize(Decimal("0.01"))
        line_values: dict[str, Any] = {
            "encounter_id": encounter.id,
            "patient_id": patient_id,
            "line_number": number,
            "procedure_code": line.procedure_code,
            "diagnosis_pointers": ",".join(str(p) for p in line.diagnosis_pointers),
            "units": line.units,
            "charge": charge,
        }
        if line.modifiers:
            line_values["modifiers"] = ",".join(line.modifiers)
        if line.place_of_service:
            line_values["place_of_service"] = line.place_of_service
        gate.create(ServiceLine, line_values, permission=MANAGE)
    return get_encounter(gate=gate, encounter_id=encounter.id, permission=MANAGE)


def _diagnosis_out(record: Record) -> DiagnosisOut:
    return DiagnosisOut(
        position=record["position"],
        code=record.values.get("code"),
        code_system=record["code_system"],
        needs_coding=record["needs_coding"],
    )


def _line_out(record: Record) -> ServiceLineOut:
    modifiers = record.values.get("modifiers")
    return ServiceLineOut(
        line_number=record["line_number"],
        procedure_code=record.values.get("procedure_code"),
        modifiers=modifiers.split(",") if modifiers else [],
        diagnosis_pointers=[int(p) for p in record["diagnosis_pointers"].split(",") if p],
        units=record["units"],
        charge=record["charge"],
        place_of_service=record.values.get("place_of_service"),
    )


def encounter_parts(
    *, gate: PHIGate, encounter_ids: list[uuid.UUID], permission: Permission, about_patient: uuid.UUID | None = None
) -> tuple[dict[uuid.UUID, list[Record]], dict[uuid.UUID, list[Record]]]:
    """Diagnoses and service lines of several encounters, two audited reads in all."""
    diagnoses: dict[uuid.UUID, list[Record]] = {e: [] for e in encounter_ids}
    lines: dict[uuid.UUID, list[Record]] = {e: [] for e in encounter_ids}
    if not encounter_ids:
        return diagnoses, lines
    dx_stmt = (
        select(EncounterDiagnosis)
        .where(EncounterDiagnosis.encounter_id.in_(encounter_ids))
        .order_by(EncounterDiagnosis.encounter_id, EncounterDiagnosis.position)
    )
    for r in gate.select(dx_stmt, model=EncounterDiagnosis, permission=permission, about_patient=about_patient):
        diagnoses[r["encounter_id"]].append(r)
    line_stmt = (
        select(ServiceLine)
        .where(ServiceLine.encounter_id.in_(encounter_ids))
        .order_by(ServiceLine.encounter_id, ServiceLine.line_number)
    )
    for r in gate.select(line_stmt, model=ServiceLine, permission=permission, about_patient=about_patient):
        lines[r["encounter_id"]].append(r)
    return diagnoses, lines


def _out(record: Record, diagnoses: list[Record], lines: list[Record]) -> EncounterOut:
    line_out = [_line_out(r) for r in lines]
    return EncounterOut.model_validate(
        {
            "id": record.id,
            **record.values,
            "diagnoses": [_diagnosis_out(r) for r in diagnoses],
            "lines": line_out,
            "total_charge": sum((line.charge for line in line_out), Decimal("0.00")),
        }
    )


def get_encounter(*, gate: PHIGate, encounter_id: uuid.UUID, permission: Permission = READ) -> EncounterOut:
    record = gate.get(Encounter, encounter_id, permission=permission)
    diagnoses, lines = encounter_parts(
        gate=gate, encounter_ids=[encounter_id], permission=permission, about_patient=record["patient_id"]
    )
    return _out(record, diagnoses[encounter_id], lines[encounter_id])


def list_encounters(*, gate: PHIGate, patient_id: uuid.UUID) -> list[EncounterOut]:
    _require_patient(gate, patient_id, READ)
    stmt = select(Encounter).where(Encounter.patient_id == patient_id).order_by(Encounter.id)
    records = gate.select(stmt, model=Encounter, permission=READ, action="list", about_patient=patient_id)
    ids = [r.id for r in records]
    diagnoses, lines = encounter_parts(gate=gate, encounter_ids=ids, permission=READ, about_patient=patient_id)
    return [_out(r, diagnoses[r.id], lines[r.id]) for r in records]


def replace_diagnoses(*, gate: PHIGate, encounter_id: uuid.UUID, data: DiagnosesReplace) -> EncounterOut:
    """A coder assigns the encounter's diagnoses (ICD-10-CM codes replace imported SNOMED ones). Refused once the
    encounter is billed, and when a service line would point past the new list."""
    gate.authorize(MANAGE, entity_type=Encounter.__tablename__, entity_id=encounter_id)
    row = gate.session.get(Encounter, encounter_id, with_for_update=True)
    if row is None:
        raise NotFound("No such record.")
    gate.check_in_scope(Encounter, encounter_id, MANAGE)
    if row.status == "billed":
        raise Conflict("This encounter has been billed; correct it through a new claim version.")
    pointers = gate.session.scalars(
        select(ServiceLine.diagnosis_pointers).where(ServiceLine.encounter_id == encounter_id)
    )
    highest = max((int(p) for text in pointers for p in text.split(",") if p), default=0)
    if highest > len(data.diagnoses):
        raise ValidationFailed("A service line points at a diagnosis position that the new list does not have.")
    previous = gate.session.scalars(
        select(EncounterDiagnosis.id).where(EncounterDiagnosis.encounter_id == encounter_id)
    ).all()
    gate.delete_rows(EncounterDiagnosis, list(previous), permission=MANAGE)
    _add_diagnoses(gate, encounter_id=encounter_id, patient_id=row.patient_id, items=data.diagnoses)
    gate.update(Encounter, encounter_id, {"status": coding_status(data.diagnoses)}, permission=MANAGE)
    return get_encounter(gate=gate, encounter_id=encounter_id, permission=MANAGE)
