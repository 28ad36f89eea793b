"""What a FHIR bundle import would write: plain, immutable records (no database access) and the problems that stop
an import. The records carry PHI, so their reprs name no values; problems name entries, resource types, resource
ids and element paths, never values.

Every record has a ``key``: :func:`import_key` of the bundle's identity and the resource's identity in the bundle,
so importing the same bundle again yields the same keys (the importer stores them and skips those it has).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Sex = Literal["M", "F", "U"]
Rank = Literal["primary", "secondary", "tertiary"]
Relationship = Literal["self", "spouse", "child", "other"]

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
PATIENT_CREATE_FIELDS = (
    *("given_name", "family_name", "birth_date", "ssn", "phone", "email"),
    *("address_line1", "address_line2", "city", "state", "postal_code", "sex", "mrn"),
)
COVERAGE_CREATE_FIELDS = (
    *("rank", "payer_name", "member_id", "group_number", "subscriber_relationship"),
    *("subscriber_given_name", "subscriber_family_name", "subscriber_birth_date", "effective_from", "effective_to"),
)


def import_key(bundle_identity: str, resource_key: str) -> str:
    """A stable key for one resource of one bundle: the same bundle and resource always give the same key.

    ``bundle_identity`` is :attr:`ImportPlan.bundle_identity`; ``resource_key`` a record's ``source_key``. The key
    is a digest (no PHI, fixed length) so it can be stored and indexed as it is."""
    digest = hashlib.sha256(f"{bundle_identity}\n{resource_key}".encode()).hexdigest()
    return f"fhir:{digest[:40]}"


class _NoValues:
    """Reprs that name the type and never the values (these records carry PHI)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(...)"


@dataclass(frozen=True)
class Problem:
    """Why a bundle cannot be imported (or, as a warning, what was left out): where, never which value."""

    reason: str
    path: str  # FHIRPath-like, e.g. "Patient.name[0].family" or "Bundle.entry[3].request"
    entry: int | None = None  # index in Bundle.entry
    resource_type: str | None = None
    resource_id: str | None = None  # Resource.id (not PHI), only when it is a well-formed FHIR id

    def __str__(self) -> str:
        where = f"entry[{self.entry}]" if self.entry is not None else "bundle"
        if self.resource_type:
            where += f" {self.resource_type}" + (f"/{self.resource_id}" if self.resource_id else "")
        return f"{where}: {self.path}: {self.reason}"


class BundleRejected(Exception):
    """The bundle cannot be imported; ``problems`` lists every problem found (not just the first)."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"FHIR bundle rejected: {len(self.problems)} problem(s)")

    def report(self) -> str:
        """One line per problem; safe to print or log (no values)."""
        return "\n".join(str(p) for p in self.problems)


@dataclass(frozen=True, repr=False)
class PatientPlan(_NoValues):
    """Fields named as in ``PatientCreate`` (already normalised and validated by it)."""

    key: str
    source_key: str  # fullUrl, or ResourceType/id, or entry[N]
    given_name: str
    family_name: str
    birth_date: date
    sex: Sex = "U"
    middle_name: str | None = None
    ssn: str | None = None  # nine digits
    mrn: str | None = None  # the identifier typed MR (v2-0203), when PatientCreate accepts it
    phone: str | None = None  # E.164
    email: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    entry: int | None = None  # index in Bundle.entry (for reports that name no values)

    def create_fields(self) -> dict[str, object]:
        """The keyword arguments of ``PatientCreate``."""
        return {name: getattr(self, name) for name in PATIENT_CREATE_FIELDS}


@dataclass(frozen=True, repr=False)
class CoveragePlan(_NoValues):
    """Fields named as in ``CoverageCreate`` (already normalised and validated by it)."""

    key: str
    source_key: str
    patient_key: str  # PatientPlan.key of the beneficiary
    payer_name: str
    member_id: str
    rank: Rank
    effective_from: date
    effective_to: date | None = None
    group_number: str | None = None
    subscriber_relationship: Relationship = "self"
    subscriber_given_name: str | None = None
    subscriber_family_name: str | None = None
    subscriber_birth_date: date | None = None
    status: Literal["active", "inactive"] = "active"
    payer_npi: str | None = None  # when the payer Organization carries one (rare)
    entry: int | None = None  # index in Bundle.entry

    def create_fields(self) -> dict[str, object]:
        """The keyword arguments of ``CoverageCreate``."""
        return {name: getattr(self, name) for name in COVERAGE_CREATE_FIELDS}


@dataclass(frozen=True, repr=False)
class Coding(_NoValues):
    system: str | None  # None only when the source coding named no system
    code: str  # ICD-10-CM without the dot; other systems as given


@dataclass(frozen=True, repr=False)
class DiagnosisPlan(_NoValues):
    """One diagnosis of one encounter. ``needs_coding`` when the code is not ICD-10-CM (SNOMED CT from Synthea):
    it is kept with its system, never mapped, and the encounter stays unbillable until a
    coder assigns ICD-10-CM codes."""

    key: str  # import_key of (encounter, condition)
    source_key: str  # the Condition's identity in the bundle
    encounter_key: str
    patient_key: str
    coding: Coding
    needs_coding: bool
    sequence: int  # 1-based order within the encounter (Encounter.diagnosis.rank first, then bundle order)
    onset: date | None = None
    clinical_status: str | None = None  # active, resolved, ... (a code, not PHI)
    entry: int | None = None  # the Condition's index in Bundle.entry


@dataclass(frozen=True, repr=False)
class EncounterPlan(_NoValues):
    key: str
    source_key: str
    patient_key: str
    start: date
    end: date | None = None
    status: str | None = None
    encounter_class: str | None = None  # v3 ActCode, e.g. AMB, EMER, IMP
    types: tuple[Coding, ...] = ()
    practitioner_npi: str | None = None
    organization_name: str | None = None
    organization_npi: str | None = None
    entry: int | None = None  # index in Bundle.entry


@dataclass(frozen=True, repr=False)
class ImportPlan(_NoValues):
    bundle_identity: str  # "identifier:<system>|<value>" or "sha256:<digest of the canonical JSON>"
    bundle_type: str
    patients: tuple[PatientPlan, ...] = ()
    coverages: tuple[CoveragePlan, ...] = ()
    encounters: tuple[EncounterPlan, ...] = ()
    diagnoses: tuple[DiagnosisPlan, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)  # resource type -> count not imported
    warnings: tuple[Problem, ...] = ()  # values left out (e.g. a test SSN that cannot have been issued)

    def unbillable_encounters(self) -> frozenset[str]:
        """Keys of encounters with no diagnosis, or with any diagnosis still needing ICD-10-CM coding."""
        coded: dict[str, bool] = {}
        for dx in self.diagnoses:
            coded[dx.encounter_key] = coded.get(dx.encounter_key, True) and not dx.needs_coding
        return frozenset(e.key for e in self.encounters if not coded.get(e.key, False))

    def summary(self) -> dict[str, object]:
        """Counts only (safe to print or log)."""
        return {
            "patients": len(self.patients),
            "coverages": len(self.coverages),
            "encounters": len(self.encounters),
            "diagnoses": len(self.diagnoses),
            "diagnoses_needing_coding": sum(1 for d in self.diagnoses if d.needs_coding),
            "unbillable_encounters": len(self.unbillable_encounters()),
            "skipped": dict(sorted(self.skipped.items())),
            "warnings": len(self.warnings),
        }
