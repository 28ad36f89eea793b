"""FHIR Encounter and Condition resources (already validated against R4B) to encounter and diagnosis records.

A diagnosis comes from a Condition linked to an encounter by ``Condition.encounter``, ``Encounter.diagnosis`` or
``Encounter.reasonReference``. Its code is taken as ICD-10-CM only when the coding's system says so; any other
code (SNOMED CT, as Synthea writes) is kept with its system and flagged ``needs_coding``: it is never mapped or
guessed, and keeps the encounter unbillable until a coder assigns ICD-10-CM codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from claimvault.billing.fhir.entries import BundleIndex, Entry, Issues, conditional_identifier, identifier_values
from claimvault.billing.fhir.mapping import NPI_SYSTEM, full_date, has_code
from claimvault.billing.fhir.plan import ICD10CM_SYSTEM, Coding, DiagnosisPlan, EncounterPlan, PatientPlan, import_key
from claimvault.discovery.validators import npi_valid

_ICD10CM = re.compile(r"^[A-Z][0-9][0-9A-Z]{1,5}$")
_NPI = re.compile(r"^[0-9]{10}$")
SKIPPED_ENCOUNTER_STATUS = {"entered-in-error", "cancelled"}
SKIPPED_CONDITION_STATUS = {"entered-in-error", "refuted"}
PERFORMER_ORDER = ("PPRF", "ATND", "PART")  # primary performer, attender, participant


@dataclass
class Clinical:
    encounters: list[EncounterPlan]
    diagnoses: list[DiagnosisPlan]
    skipped: dict[str, int]


def _npi(value: str | None) -> str | None:
    return value if value is not None and _NPI.match(value) else None


def _checked_npi(issues: Issues, entry: Entry, path: str, value: str | None) -> str | None:
    """An NPI that passes the check digit, else None with a warning (Synthea's 9999... numbers do not)."""
    if value is not None and not npi_valid(value):
        issues.warn(entry, path, "left out: not a valid NPI")
        return None
    return value


def _practitioner_npi(index: BundleIndex, resource: dict[str, Any]) -> str | None:
    def order(part: dict[str, Any]) -> int:
        for rank, code in enumerate(PERFORMER_ORDER):
            if any(has_code(t, code) for t in part.get("type") or ()):
                return rank
        return len(PERFORMER_ORDER)

    for part in sorted(resource.get("participant") or (), key=order):
        ref = part.get("individual")
        found = index.resolve(ref, expected="Practitioner")
        npis = identifier_values(found.resource, NPI_SYSTEM) if found else []
        npi = _npi(npis[0] if npis else conditional_identifier(ref, "Practitioner", NPI_SYSTEM))
        if npi:
            return npi
    return None


def _organization(index: BundleIndex, resource: dict[str, Any]) -> tuple[str | None, str | None]:
    ref = resource.get("serviceProvider")
    found = index.resolve(ref, expected="Organization")
    if found is not None:
        npis = identifier_values(found.resource, NPI_SYSTEM)
        name = found.resource.get("name")
        return (name if isinstance(name, str) else None), _npi(npis[0] if npis else None)
    display = (ref or {}).get("display")
    return (display if isinstance(display, str) else None), _npi(
        conditional_identifier(ref, "Organization", NPI_SYSTEM)
    )


def _codings(concepts: list[dict[str, Any]]) -> tuple[Coding, ...]:
    return tuple(
        Coding(system=c.get("system"), code=c.get("code"))
        for concept in concepts
        for c in concept.get("coding") or ()
        if isinstance(c.get("code"), str)
    )


def map_encounter(
    entry: Entry, *, index: BundleIndex, patients: dict[int, PatientPlan], issues: Issues, bundle_identity: str
) -> EncounterPlan | None:
    resource = entry.resource
    start_count = len(issues.problems)
    subject = index.resolve(resource.get("subject"), expected="Patient")
    patient = patients.get(subject.index) if subject else None
    if subject is None:
        issues.problem(entry, "Encounter.subject", "does not resolve to a Patient in this bundle")
    period = resource.get("period") or {}
    start, end = full_date(period.get("start")), full_date(period.get("end"))
    if start is None:
        issues.problem(entry, "Encounter.period.start", "a start date is required")
    elif end is not None and end < start:
        issues.problem(entry, "Encounter.period.end", "must not be before the start")
    if len(issues.problems) > start_count or patient is None or start is None:
        return None
    org_name, org_npi = _organization(index, resource)
    klass = resource.get("class") or {}
    return EncounterPlan(
        key=import_key(bundle_identity, entry.source_key),
        source_key=entry.source_key,
        patient_key=patient.key,
        start=start,
        end=end,
        status=resource.get("status"),
        encounter_class=klass.get("code") if isinstance(klass.get("code"), str) else None,
        types=_codings(resource.get("type") or []),
        practitioner_npi=_checked_npi(issues, entry, "Encounter.participant", _practitioner_npi(index, resource)),
        organization_name=org_name,
        organization_npi=_checked_npi(issues, entry, "Encounter.serviceProvider", org_npi),
        entry=entry.index,
    )


def diagnosis_coding(entry: Entry, *, issues: Issues) -> tuple[Coding, bool] | None:
    """The coding kept and whether it needs a coder: ICD-10-CM (dots removed) when one is given, else the first
    coding as it is (flagged); None (with a warning: the Condition is not imported) when nothing is coded."""
    codings = list(enumerate((entry.resource.get("code") or {}).get("coding") or ()))
    for i, coding in codings:
        if coding.get("system") == ICD10CM_SYSTEM and isinstance(coding.get("code"), str):
            code = coding["code"].replace(".", "").replace(" ", "").upper()
            if _ICD10CM.match(code):
                return Coding(system=ICD10CM_SYSTEM, code=code), False
            issues.problem(entry, f"Condition.code.coding[{i}].code", "not an ICD-10-CM code")
    for _, coding in codings:
        if isinstance(coding.get("code"), str):
            return Coding(system=coding.get("system"), code=coding["code"]), True
    issues.warn(entry, "Condition.code.coding", "no coded diagnosis (text only); not imported")
    return None


def _status_code(concept: dict[str, Any] | None) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def map_clinical(
    *,
    index: BundleIndex,
    patients: dict[int, PatientPlan],
    issues: Issues,
    bundle_identity: str,
    invalid: frozenset[int] = frozenset(),
) -> Clinical:
    """``invalid``: entries whose resource failed validation (already reported; references to them resolve but
    add no second problem)."""
    skipped: dict[str, int] = {}
    encounters: dict[int, EncounterPlan] = {}
    valid_encounters = [e for e in index.of_type("Encounter") if e.index not in invalid]
    for entry in valid_encounters:
        if entry.resource.get("status") in SKIPPED_ENCOUNTER_STATUS:
            skipped["Encounter"] = skipped.get("Encounter", 0) + 1
            continue
        plan = map_encounter(entry, index=index, patients=patients, issues=issues, bundle_identity=bundle_identity)
        if plan is not None:
            encounters[entry.index] = plan

    conditions = {e.index: e for e in index.of_type("Condition") if e.index not in invalid}
    # (encounter index, condition index) -> sort key: Encounter.diagnosis rank first, then bundle order.
    links: dict[tuple[int, int], tuple[int, int]] = {}

    def link(encounter: int, condition: int, rank: int) -> None:
        if condition not in conditions:
            return
        key = (encounter, condition)
        links[key] = min(links.get(key, (rank, condition)), (rank, condition))

    for entry in valid_encounters:
        for i, dx in enumerate(entry.resource.get("diagnosis") or ()):
            ref = dx.get("condition")
            found = index.resolve(ref)
            if found is None:
                issues.problem(entry, f"Encounter.diagnosis[{i}].condition", "does not resolve in this bundle")
            elif found.resource_type == "Condition":
                rank = dx.get("rank")
                link(entry.index, found.index, rank if isinstance(rank, int) else 1_000_000)
        for i, ref in enumerate(entry.resource.get("reasonReference") or ()):
            found = index.resolve(ref)
            if found is None:
                issues.warn(entry, f"Encounter.reasonReference[{i}]", "does not resolve in this bundle; ignored")
            elif found.resource_type == "Condition":
                link(entry.index, found.index, 1_000_000)
    for entry in conditions.values():
        ref = entry.resource.get("encounter")
        if not ref:
            continue
        found = index.resolve(ref, expected="Encounter")
        if found is None:
            issues.problem(entry, "Condition.encounter", "does not resolve to an Encounter in this bundle")
        else:
            link(found.index, entry.index, 1_000_000)

    diagnoses: list[DiagnosisPlan] = []
    index_of = {e.source_key: e.index for e in conditions.values()}
    linked = {c for _, c in links}
    for entry in conditions.values():
        if index.resolve(entry.resource.get("subject"), expected="Patient") is None:
            issues.problem(entry, "Condition.subject", "does not resolve to a Patient in this bundle")
        if entry.index not in linked:
            issues.warn(entry, "Condition.encounter", "not linked to an encounter; not imported")
    codings = {i: diagnosis_coding(entry, issues=issues) for i, entry in conditions.items()}
    sequences: dict[int, int] = {}
    for (enc_index, cond_index), _ in sorted(links.items(), key=lambda item: (item[0][0], item[1])):
        condition = conditions[cond_index]
        if _status_code(condition.resource.get("verificationStatus")) in SKIPPED_CONDITION_STATUS:
            continue
        encounter = encounters.get(enc_index)
        if encounter is None:
            continue  # a problem was reported on the encounter, or it was dropped by status
        subject = index.resolve(condition.resource.get("subject"), expected="Patient")
        owner = patients.get(subject.index) if subject is not None else None
        if owner is not None and owner.key != encounter.patient_key:
            issues.problem(condition, "Condition.subject", "is not the patient of its encounter")
            continue
        coded = codings[cond_index]
        if coded is None:
            continue
        coding, needs_coding = coded
        sequences[enc_index] = sequences.get(enc_index, 0) + 1
        diagnoses.append(
            DiagnosisPlan(
                key=import_key(bundle_identity, f"{encounter.source_key}#{condition.source_key}"),
                source_key=condition.source_key,
                encounter_key=encounter.key,
                patient_key=encounter.patient_key,
                coding=coding,
                needs_coding=needs_coding,
                sequence=sequences[enc_index],
                onset=full_date(condition.resource.get("onsetDateTime")),
                clinical_status=_status_code(condition.resource.get("clinicalStatus")),
                entry=condition.index,
            )
        )
    imported = {index_of[d.source_key] for d in diagnoses}
    not_imported = len(conditions) - len(imported)
    if not_imported:
        skipped["Condition"] = not_imported
    return Clinical(encounters=list(encounters.values()), diagnoses=diagnoses, skipped=skipped)
