"""Writing an :class:`ImportPlan` through the domain services, all or nothing, in the caller's gate transaction.

Rules (the README's "FHIR import" section says the same):

- **Idempotent.** Patients, coverages and encounters carry the plan's ``import_key``; a record whose key exists in
  the organization is skipped and counted, so the same bundle imported twice changes nothing (and says so).
- **Duplicates.** Every new patient is checked through the blind indexes (family name + birth date, SSN, MRN, the
  member ids of its coverages in the bundle) against existing patients not created by this bundle. A match refuses
  the import, naming the entry, the existing patient ids and which identifiers matched (never values). With
  ``attach_duplicates`` a patient with exactly one match is not created: its coverages and encounters are added to
  the existing patient (a later re-import finds them by key and attaches again without the option).
- **Billing provider.** An encounter needs one: the ``billing_provider_npi`` given, else the organization's only
  active provider that can bill, else the one whose NPI is the encounter's ``serviceProvider`` NPI; otherwise the
  import is refused, naming the encounters.
- **Diagnoses.** ICD-10-CM codes are stored as ``icd10cm``; any other code keeps its FHIR system URI and is flagged
  ``needs_coding`` (never mapped or guessed), which keeps its encounter unbillable. More than 12 diagnoses on one
  encounter (what a claim carries) refuses the import, naming the encounter: nothing is dropped.
- **Payers.** A coverage is linked to the configured active payer whose name (case and spacing aside) or payer id
  equals the bundle's payer name, when exactly one does; otherwise ``payer_id`` stays empty.
- **Place of service.** ``EMER`` encounters get 23, ``IMP`` 21, all others the default 11 (office).

Every check that needs no write runs first, and all its problems are reported together; a service that refuses a
record during the writes (e.g. an overlapping coverage of an attached patient) stops the import with that problem.
Either way :class:`ImportRefused` is raised and the caller's transaction rolls back, so nothing is half-written. A
dry run does the writes inside a savepoint and rolls it back: the counts are real, nothing stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from claimvault.billing.coverage.models import Coverage
from claimvault.billing.coverage.schemas import CoverageCreate, CoverageUpdate
from claimvault.billing.coverage.service import add_coverage, update_coverage
from claimvault.billing.encounters.models import Encounter
from claimvault.billing.encounters.schemas import DiagnosisIn, EncounterCreate
from claimvault.billing.encounters.service import create_encounter
from claimvault.billing.fhir.plan import (
    ICD10CM_SYSTEM,
    CoveragePlan,
    DiagnosisPlan,
    EncounterPlan,
    ImportPlan,
    PatientPlan,
    Problem,
)
from claimvault.billing.patients.models import Patient
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient, find_duplicates
from claimvault.billing.payers.models import Payer
from claimvault.billing.providers.models import Provider
from claimvault.errors import ClaimVaultError
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission
from claimvault.storage.base import Base

MAX_DIAGNOSES = 12  # diagnosis pointers on a professional claim
PLACE_OF_SERVICE = {"EMER": "23", "IMP": "21"}  # v3 ActCode class -> CMS place of service; else the default 11
NO_SYSTEM = "unknown"  # a coding that named no system (flagged needs_coding like any non-ICD-10-CM code)
_KEY_BATCH = 500  # import keys per IN (...) query
Progress = Callable[[int, int], None]


def problem_line(problem: Problem) -> str:
    """A problem as one line naming entry, resource type, path and reason (no values, no resource ids)."""
    where = f"entry[{problem.entry}]" if problem.entry is not None else "bundle"
    if problem.resource_type:
        where += f" {problem.resource_type}"
    if problem.path != problem.resource_type:
        where += f": {problem.path}"
    return f"{where}: {problem.reason}"


class ImportRefused(ClaimVaultError):
    """The plan cannot be written; nothing was. ``problems`` names entries, paths and existing record ids only."""

    status_code = 422
    code = "fhir_import_refused"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (-1 if p.entry is None else p.entry, p.path)))
        super().__init__(
            f"The FHIR import was refused ({len(self.problems)} problem(s)); nothing was written.",
            details=[{"entry": p.entry, "path": p.path, "reason": p.reason} for p in self.problems],
        )

    def report(self) -> str:
        return "\n".join(problem_line(p) for p in self.problems)


@dataclass
class Tally:
    created: int = 0
    existing: int = 0  # imported before (its import key exists): skipped


@dataclass
class ImportResult:
    """Counts only (safe to print or log)."""

    dry_run: bool
    patients: Tally = field(default_factory=Tally)
    patients_attached: int = 0  # bundle patients matched to one existing patient (not created)
    coverages: Tally = field(default_factory=Tally)
    coverages_linked_to_payer: int = 0
    encounters: Tally = field(default_factory=Tally)
    unbillable_encounters: int = 0  # of those created: a diagnosis needs coding, or there is none
    diagnoses: Tally = field(default_factory=Tally)
    diagnoses_needing_coding: int = 0  # of those created
    skipped: dict[str, int] = field(default_factory=dict)  # resources the reader does not import, by type
    warnings: int = 0  # values the reader left out

    @property
    def changed(self) -> bool:
        return bool(self.patients.created or self.coverages.created or self.encounters.created)

    def summary(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "patients_created": self.patients.created,
            "patients_existing": self.patients.existing,
            "patients_attached": self.patients_attached,
            "coverages_created": self.coverages.created,
            "coverages_existing": self.coverages.existing,
            "coverages_linked_to_payer": self.coverages_linked_to_payer,
            "encounters_created": self.encounters.created,
            "encounters_existing": self.encounters.existing,
            "unbillable_encounters": self.unbillable_encounters,
            "diagnoses_created": self.diagnoses.created,
            "diagnoses_existing": self.diagnoses.existing,
            "diagnoses_needing_coding": self.diagnoses_needing_coding,
            "skipped": dict(sorted(self.skipped.items())),
            "warnings": self.warnings,
        }


def _problem(
    record: PatientPlan | CoveragePlan | EncounterPlan | DiagnosisPlan | None, kind: str, path: str, reason: str
) -> Problem:
    return Problem(reason=reason, path=path, entry=record.entry if record is not None else None, resource_type=kind)


def _batches(keys: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), _KEY_BATCH):
        yield keys[start : start + _KEY_BATCH]


def _existing_keys(gate: PHIGate, model: type[Base], owner: Any, keys: list[str]) -> dict[str, uuid.UUID]:
    """import key -> owning patient id, for the keys that exist in this organization (plain columns only)."""
    column = model.import_key  # type: ignore[attr-defined]
    found: dict[str, uuid.UUID] = {}
    for batch in _batches(keys):
        for key, patient_id in gate.session.execute(select(column, owner).where(column.in_(batch))):
            found[key] = patient_id
    return found


@dataclass(repr=False)
class _Work:
    """What will be written, with service inputs already validated (service inputs hold PHI: no repr)."""

    patient_ids: dict[str, uuid.UUID] = field(default_factory=dict)  # patient key -> id (existing or attached)
    new_patients: list[tuple[PatientPlan, PatientCreate]] = field(default_factory=list)
    coverages: list[tuple[CoveragePlan, CoverageCreate]] = field(default_factory=list)
    encounters: list[tuple[EncounterPlan, EncounterCreate, int]] = field(default_factory=list)  # + needing coding
    problems: list[Problem] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"_Work({len(self.new_patients)} patients, {len(self.coverages)} coverages, ...)"


def _validated(work: _Work, schema: type[BaseModel], values: dict[str, Any], record: Any, kind: str) -> Any:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors(include_input=False) if e["loc"]})
        reason = "not accepted by ClaimVault" + (f" ({', '.join(fields)})" if fields else "")
        work.problems.append(_problem(record, kind, kind, reason))
        return None


def _resolve_patients(
    gate: PHIGate, plan: ImportPlan, work: _Work, result: ImportResult, *, attach_duplicates: bool
) -> None:
    existing = _existing_keys(gate, Patient, Patient.id, [p.key for p in plan.patients])
    coverage_owners = _existing_keys(gate, Coverage, Coverage.patient_id, [c.key for c in plan.coverages])
    encounter_owners = _existing_keys(gate, Encounter, Encounter.patient_id, [e.key for e in plan.encounters])
    from_this_bundle = set(existing.values())
    member_ids: dict[str, list[str]] = {}
    for coverage in plan.coverages:
        member_ids.setdefault(coverage.patient_key, []).append(coverage.member_id)
    for patient in plan.patients:
        if patient.key in existing:
            work.patient_ids[patient.key] = existing[patient.key]
            result.patients.existing += 1
            continue
        attached_before = {
            owner for c in plan.coverages if c.patient_key == patient.key if (owner := coverage_owners.get(c.key))
        }
        attached_before |= {
            owner for e in plan.encounters if e.patient_key == patient.key if (owner := encounter_owners.get(e.key))
        }
        if len(attached_before) == 1:  # attached to an existing patient by an earlier import of this bundle
            work.patient_ids[patient.key] = attached_before.pop()
            result.patients_attached += 1
            continue
        if attached_before:
            work.problems.append(
                _problem(patient, "Patient", "Patient", "its records were imported before onto several patients")
            )
            continue
        found = find_duplicates(
            gate=gate,
            family_name=patient.family_name,
            birth_date=patient.birth_date,
            ssn=patient.ssn,
            mrn=patient.mrn,
            member_ids=tuple(member_ids.get(patient.key, ())),
        )
        matches = {pid: sorted(on) for pid, on in found.items() if pid not in from_this_bundle}
        if attach_duplicates and len(matches) == 1:
            work.patient_ids[patient.key] = next(iter(matches))
            result.patients_attached += 1
        elif matches:
            named = "; ".join(f"patient {pid} on {', '.join(on)}" for pid, on in sorted(matches.items()))
            advice = (
                "several match: merge them before attaching"
                if attach_duplicates
                else "attach with --attach-duplicates, or merge first"
            )
            reason = f"may already be registered: matches existing {named} ({advice})"
            work.problems.append(_problem(patient, "Patient", "Patient", reason))
        else:
            data = _validated(work, PatientCreate, patient.create_fields(), patient, "Patient")
            if data is not None:
                work.new_patients.append((patient, data))


def _payer_matcher(gate: PHIGate) -> Callable[[str], uuid.UUID | None]:
    gate.authorize(Permission.PAYER_READ, entity_type=Payer.__tablename__)
    rows = gate.session.execute(select(Payer.id, Payer.name, Payer.payer_id).where(Payer.active.is_(True))).all()

    def norm(text: str) -> str:
        return " ".join(text.split()).casefold()

    def match(name: str) -> uuid.UUID | None:
        hits = {r.id for r in rows if norm(r.name) == norm(name) or r.payer_id.strip().upper() == name.strip().upper()}
        return hits.pop() if len(hits) == 1 else None

    return match


def _plan_coverages(gate: PHIGate, plan: ImportPlan, work: _Work, result: ImportResult) -> None:
    existing = _existing_keys(gate, Coverage, Coverage.patient_id, [c.key for c in plan.coverages])
    payer_of = _payer_matcher(gate)
    planned_patients = set(work.patient_ids) | {p.key for p, _ in work.new_patients}
    # Inactive ones first: a coverage is added active, then set inactive, so it never blocks an active one.
    for coverage in sorted(plan.coverages, key=lambda c: c.status == "active"):
        if coverage.key in existing:
            result.coverages.existing += 1
            continue
        if coverage.patient_key not in planned_patients:
            continue  # its patient was refused: already a problem
        values = {**coverage.create_fields(), "payer_id": payer_of(coverage.payer_name)}
        data = _validated(work, CoverageCreate, values, coverage, "Coverage")
        if data is not None:
            work.coverages.append((coverage, data))


def _npi_ids(gate: PHIGate, *conditions: Any) -> dict[str, uuid.UUID]:
    """Active providers' NPI -> id (plain columns of public registry data)."""
    stmt = select(Provider.npi, Provider.id).where(Provider.active.is_(True), *conditions)
    return {npi: provider_id for npi, provider_id in gate.session.execute(stmt)}


def _billing_providers(
    gate: PHIGate, encounters: list[EncounterPlan], npi: str | None, work: _Work
) -> dict[str, uuid.UUID]:
    """Encounter key -> billing provider id, by the rule in the module docstring; problems for the rest."""
    gate.authorize(Permission.PROVIDER_READ, entity_type=Provider.__tablename__)
    billers = _npi_ids(gate, Provider.can_bill.is_(True))
    if npi is not None:
        if npi not in billers:
            work.problems.append(
                Problem(
                    reason="no active provider with this NPI can bill in this organization", path="billing provider"
                )
            )
            return {}
        return {e.key: billers[npi] for e in encounters}
    if len(billers) == 1:
        only = next(iter(billers.values()))
        return {e.key: only for e in encounters}
    chosen: dict[str, uuid.UUID] = {}
    for encounter in encounters:
        if encounter.organization_npi in billers:
            chosen[encounter.key] = billers[encounter.organization_npi]
        else:
            reason = (
                f"no billing provider: the organization has {len(billers)} that can bill and none has the NPI of"
                " this encounter's serviceProvider; name one with --billing-provider"
            )
            work.problems.append(_problem(encounter, "Encounter", "Encounter.serviceProvider", reason))
    return chosen


def diagnosis_input(dx: DiagnosisPlan) -> dict[str, str]:
    """The ``DiagnosisIn`` fields of one planned diagnosis: ICD-10-CM as ``icd10cm``, anything else with its own
    system (a literal ``icd10cm`` system that is not the FHIR URI is not trusted as ICD-10-CM)."""
    if not dx.needs_coding and dx.coding.system == ICD10CM_SYSTEM:
        return {"code": dx.coding.code, "code_system": "icd10cm"}
    system = dx.coding.system or NO_SYSTEM
    return {"code": dx.coding.code, "code_system": NO_SYSTEM if system == "icd10cm" else system}


def _plan_encounters(
    gate: PHIGate, plan: ImportPlan, work: _Work, result: ImportResult, billing_provider_npi: str | None
) -> None:
    existing = _existing_keys(gate, Encounter, Encounter.patient_id, [e.key for e in plan.encounters])
    planned_patients = set(work.patient_ids) | {p.key for p, _ in work.new_patients}
    diagnoses: dict[str, list[DiagnosisPlan]] = {}
    for dx in sorted(plan.diagnoses, key=lambda d: d.sequence):
        diagnoses.setdefault(dx.encounter_key, []).append(dx)
    new = []
    for encounter in plan.encounters:
        if encounter.key in existing:
            result.encounters.existing += 1
            result.diagnoses.existing += len(diagnoses.get(encounter.key, ()))
        elif encounter.patient_key in planned_patients:
            new.append(encounter)
    if not new:
        return
    providers = _billing_providers(gate, new, billing_provider_npi, work)
    renderers = _npi_ids(gate, Provider.can_render.is_(True))
    for encounter in new:
        items = diagnoses.get(encounter.key, [])
        if len(items) > MAX_DIAGNOSES:
            reason = (
                f"{len(items)} diagnoses; a claim carries at most {MAX_DIAGNOSES}: split the encounter or leave"
                " some Conditions out of the bundle"
            )
            work.problems.append(_problem(encounter, "Encounter", "Encounter.diagnosis", reason))
            continue
        dx_inputs = []
        for dx in items:
            checked = _validated(work, DiagnosisIn, diagnosis_input(dx), dx, "Condition")
            if checked is not None:
                dx_inputs.append(checked)
        if len(dx_inputs) != len(items) or encounter.key not in providers:
            continue
        values: dict[str, Any] = {
            "service_date": encounter.start,
            "service_date_to": encounter.end if encounter.end not in (None, encounter.start) else None,
            "billing_provider_id": providers[encounter.key],
            "rendering_provider_id": renderers.get(encounter.practitioner_npi or ""),
            "place_of_service": PLACE_OF_SERVICE.get(encounter.encounter_class or "", "11"),
            "diagnoses": dx_inputs,
        }
        data = _validated(work, EncounterCreate, values, encounter, "Encounter")
        if data is not None:
            work.encounters.append((encounter, data, sum(d.needs_coding for d in items)))


def _write(gate: PHIGate, work: _Work, result: ImportResult, progress: Progress | None) -> None:
    total = len(work.new_patients) + len(work.coverages) + len(work.encounters)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    def refused(record: Any, kind: str, exc: ClaimVaultError) -> ImportRefused:
        return ImportRefused([_problem(record, kind, kind, exc.message)])

    for patient, patient_data in work.new_patients:
        try:
            out = create_patient(gate=gate, data=patient_data, confirm_new=True, import_key=patient.key)
        except ClaimVaultError as exc:
            raise refused(patient, "Patient", exc) from None
        work.patient_ids[patient.key] = out.id
        result.patients.created += 1
        step()
    for coverage, coverage_data in work.coverages:
        try:
            added = add_coverage(
                gate=gate,
                patient_id=work.patient_ids[coverage.patient_key],
                data=coverage_data,
                import_key=coverage.key,
            )
            if coverage.status != "active":
                update_coverage(gate=gate, coverage_id=added.id, changes=CoverageUpdate(status="inactive"))
        except ClaimVaultError as exc:
            raise refused(coverage, "Coverage", exc) from None
        result.coverages.created += 1
        result.coverages_linked_to_payer += coverage_data.payer_id is not None
        step()
    for encounter, encounter_data, needing_coding in work.encounters:
        try:
            made = create_encounter(
                gate=gate,
                patient_id=work.patient_ids[encounter.patient_key],
                data=encounter_data,
                import_key=encounter.key,
            )
        except ClaimVaultError as exc:
            raise refused(encounter, "Encounter", exc) from None
        result.encounters.created += 1
        result.unbillable_encounters += made.status == "needs_coding"
        result.diagnoses.created += len(encounter_data.diagnoses)
        result.diagnoses_needing_coding += needing_coding
        step()


def apply_plan(
    *,
    gate: PHIGate,
    plan: ImportPlan,
    billing_provider_npi: str | None = None,
    attach_duplicates: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Write ``plan`` in the gate's transaction (see the module docstring for the rules), or raise
    :class:`ImportRefused` having written nothing the caller's rollback would keep. ``progress(done, total)`` is
    called after each record written."""
    result = ImportResult(dry_run=dry_run, skipped=dict(plan.skipped), warnings=len(plan.warnings))
    work = _Work()
    _resolve_patients(gate, plan, work, result, attach_duplicates=attach_duplicates)
    _plan_coverages(gate, plan, work, result)
    _plan_encounters(gate, plan, work, result, billing_provider_npi)
    if work.problems:
        raise ImportRefused(work.problems)
    if not dry_run:
        _write(gate, work, result, progress)
        return result
    savepoint = gate.session.begin_nested()
    try:
        _write(gate, work, result, progress)
    finally:
        savepoint.rollback()  # a dry run keeps nothing (the duplicate searches above stay audited)
    return result
