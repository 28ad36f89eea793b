"""Importing FHIR bundles through the services and the PHI gate, on both databases: a Synthea-style bundle imports
(SNOMED diagnoses kept, flagged and their encounters unbillable), importing it again changes nothing, refusals
(malformed bundle, suspected duplicates, no billing provider, too many diagnoses, a service refusing a record
half-way) leave nothing written, duplicates can be attached, a dry run writes nothing; and the CLI end to end
prints counts and value-free reports only."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from claimvault.billing.coverage.models import Coverage
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage, list_coverages
from claimvault.billing.encounters.models import Encounter, EncounterDiagnosis
from claimvault.billing.encounters.service import list_encounters
from claimvault.billing.fhir.bundle import read_bundle
from claimvault.billing.fhir.importer import ImportRefused, ImportResult, apply_plan
from claimvault.billing.fhir.plan import ImportPlan
from claimvault.billing.patients.models import Patient
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.billing.providers.models import Provider
from claimvault.billing.providers.schemas import ProviderCreate
from claimvault.billing.providers.service import add_provider
from claimvault.runtime import Runtime, build_runtime
from tests.billing_world import BillingWorld, build_billing_world
from tests.claim_documents import make_npi
from tests.synthea_bundles import ICD10CM, SNOMED, dumps, malformed_bundles, synthea_bundle
from tests.test_cli import _everything, _ok, _run, _settings

TABLES = (Patient, Coverage, Encounter, EncounterDiagnosis)


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _counts(world: BillingWorld) -> dict[str, int]:
    with world.runtime.db.session(tenant_id=world.org_id) as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0 for m in TABLES}


def _import(world: BillingWorld, plan: ImportPlan, **options: Any) -> ImportResult:
    with world.gate("import fhir") as gate:
        return apply_plan(gate=gate, plan=plan, **options)


def _refused(world: BillingWorld, plan: ImportPlan, **options: Any) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        _import(world, plan, **options)
    return caught.value


def _entries(bundle: dict[str, Any], kind: str) -> list[tuple[int, dict[str, Any]]]:
    return [(i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == kind]


def _existing_patient(world: BillingWorld, *, family: str, birth: date, ssn: str | None = None) -> uuid.UUID:
    with world.gate() as gate:
        data = PatientCreate(given_name="Existing", family_name=family, birth_date=birth, ssn=ssn)
        return create_patient(gate=gate, data=data, confirm_new=True).id


# Import and re-import ----------------------------------------------------------------------------------------
def test_synthea_bundle_imports_with_snomed_diagnoses_flagged_and_encounters_unbillable(world: BillingWorld) -> None:
    bundle, expected = synthea_bundle(seed=3, patients=3, encounters=3)
    plan = read_bundle(dumps(bundle))
    before = _counts(world)
    result = _import(world, plan)
    assert (result.patients.created, result.coverages.created) == (expected.patients, expected.coverages)
    assert (result.encounters.created, result.diagnoses.created) == (expected.encounters, expected.diagnoses)
    assert result.diagnoses_needing_coding == expected.diagnoses - expected.icd10_diagnoses
    assert result.unbillable_encounters == expected.encounters  # every encounter has a SNOMED CT diagnosis
    assert result.changed and result.skipped == plan.skipped
    after = _counts(world)
    assert after == {
        "patients": before["patients"] + expected.patients,
        "coverages": before["coverages"] + expected.coverages,
        "encounters": before["encounters"] + expected.encounters,
        "encounter_diagnoses": before["encounter_diagnoses"] + expected.diagnoses,
    }
    with world.gate() as gate:
        encounters = [
            e
            for patient_id in gate.session.scalars(select(Patient.id).where(Patient.import_key.is_not(None)))
            for e in list_encounters(gate=gate, patient_id=patient_id)
        ]
    assert len(encounters) == expected.encounters
    assert {e.status for e in encounters} == {"needs_coding"}
    assert {e.billing_provider_id for e in encounters} == {world.billing_provider_id}
    codes = [d for e in encounters for d in e.diagnoses]
    assert {d.code_system for d in codes} == {SNOMED, "icd10cm"}
    assert all(d.needs_coding == (d.code_system == SNOMED) for d in codes)
    assert sum(d.code_system == "icd10cm" for d in codes) == expected.icd10_diagnoses


def test_icd10_coded_encounters_are_billable_and_payers_link_by_name(world: BillingWorld) -> None:
    bundle, expected = synthea_bundle(seed=4, patients=2, encounters=2)
    for _, condition in _entries(bundle, "Condition"):
        condition["code"] = {"coding": [{"system": ICD10CM, "code": "I10"}]}
    payers = [r for _, r in _entries(bundle, "Organization")]
    payers[0]["name"] = "  example   HEALTH "  # the configured payer, spelt differently
    result = _import(world, read_bundle(dumps(bundle)))
    assert result.unbillable_encounters == 0 and result.diagnoses_needing_coding == 0
    # The first patient's primary coverage names the configured payer; its secondary one an unknown payer.
    assert (expected.coverages, result.coverages_linked_to_payer) == (2, 1)
    with world.gate() as gate:
        patient_ids = list(gate.session.scalars(select(Patient.id).where(Patient.import_key.is_not(None))))
        statuses = {e.status for pid in patient_ids for e in list_encounters(gate=gate, patient_id=pid)}
        payer_ids = {c.payer_id for pid in patient_ids for c in list_coverages(gate=gate, patient_id=pid)}
    assert statuses == {"open"} and payer_ids == {world.payer_id, None}


def test_importing_the_same_bundle_again_changes_nothing(world: BillingWorld) -> None:
    bundle, expected = synthea_bundle(seed=5, patients=2, encounters=2)
    first = _import(world, read_bundle(dumps(bundle)))
    counts = _counts(world)
    respaced = json.dumps(bundle, indent=2, sort_keys=True).encode()  # the same bundle, written differently
    again = _import(world, read_bundle(respaced))
    assert _counts(world) == counts
    assert not again.changed
    assert (again.patients.existing, again.coverages.existing) == (first.patients.created, first.coverages.created)
    assert (again.encounters.existing, again.diagnoses.existing) == (expected.encounters, expected.diagnoses)


def test_dry_run_counts_but_writes_nothing(world: BillingWorld) -> None:
    bundle, expected = synthea_bundle(seed=6, patients=2, encounters=2)
    plan = read_bundle(dumps(bundle))
    before = _counts(world)
    dry = _import(world, plan, dry_run=True)
    assert dry.dry_run and dry.patients.created == expected.patients and dry.encounters.created == expected.encounters
    assert _counts(world) == before
    real = _import(world, plan)
    assert real.summary() | {"dry_run": True} == dry.summary()
    assert _counts(world)["patients"] == before["patients"] + expected.patients


# Refusals leave nothing written ------------------------------------------------------------------------------
def test_a_service_refusing_a_record_half_way_leaves_nothing_imported(world: BillingWorld) -> None:
    """The last patient is attached to an existing one whose primary coverage overlaps the bundle's: the
    coverage service refuses it after the other patients and coverages were written; all of it rolls back."""
    bundle, _ = synthea_bundle(seed=8, patients=3, encounters=2)
    plan = read_bundle(dumps(bundle))
    last = plan.patients[-1]
    existing = _existing_patient(world, family=last.family_name, birth=last.birth_date)
    with world.gate() as gate:
        add_coverage(
            gate=gate,
            patient_id=existing,
            data=CoverageCreate(
                rank="primary", payer_name="Other", member_id="ZZ123456", effective_from=date(2018, 1, 1)
            ),
        )
    before = _counts(world)
    written: list[int] = []
    refused = _refused(world, plan, attach_duplicates=True, progress=lambda done, total: written.append(done))
    assert len(written) >= 3  # patients and a coverage were written before the refusal ...
    assert _counts(world) == before  # ... and rolled back with it
    (problem,) = refused.problems
    assert problem.resource_type == "Coverage" and "already has an active coverage" in problem.reason
    assert problem.entry == next(c.entry for c in plan.coverages if c.patient_key == last.key)


def test_suspected_duplicates_refuse_the_import_naming_ids_and_identifiers_only(world: BillingWorld) -> None:
    bundle, expected = synthea_bundle(seed=9, patients=2, encounters=2)
    plan = read_bundle(dumps(bundle))
    first = plan.patients[0]  # its SSN could have been issued, so it is imported
    assert first.ssn is not None
    existing = _existing_patient(world, family="Differentname", birth=date(1950, 1, 2), ssn=first.ssn)
    before = _counts(world)
    refused = _refused(world, plan)
    assert _counts(world) == before
    (problem,) = refused.problems
    assert problem.entry == first.entry and problem.resource_type == "Patient"
    assert str(existing) in problem.reason and "ssn" in problem.reason
    text = refused.report() + str(refused.details) + refused.message
    for value in (first.ssn, first.family_name, first.given_name, first.birth_date.isoformat()):
        assert value not in text

    attached = _import(world, plan, attach_duplicates=True)
    assert (attached.patients.created, attached.patients_attached) == (expected.patients - 1, 1)
    with world.gate() as gate:
        mine = list_encounters(gate=gate, patient_id=existing)
        coverages = list_coverages(gate=gate, patient_id=existing)
    assert len(mine) == 2 and len(coverages) == 2  # the first patient's encounters, primary and secondary coverage
    counts = _counts(world)
    again = _import(world, plan)  # found by its import keys: no option needed, nothing changes
    assert not again.changed and again.patients_attached == 1 and _counts(world) == counts


def test_no_billing_provider_is_refused_unless_one_is_named(world: BillingWorld) -> None:
    with world.gate() as gate:
        second = add_provider(
            gate=gate,
            data=ProviderCreate(
                npi=make_npi(__import__("random").Random(99)),
                entity="organization",
                organization_name="Second Group",
                can_bill=True,
                tax_id="987654321",
            ),
        )
        first_npi = gate.session.scalar(select(Provider.npi).where(Provider.id == world.billing_provider_id))
    assert first_npi is not None and second.npi != first_npi
    bundle, expected = synthea_bundle(seed=10, patients=1, encounters=2)
    plan = read_bundle(dumps(bundle))
    before = _counts(world)
    refused = _refused(world, plan)
    assert _counts(world) == before
    assert [p.entry for p in refused.problems] == sorted(e.entry for e in plan.encounters if e.entry is not None)
    assert all("--billing-provider" in p.reason for p in refused.problems)
    assert _refused(world, plan, billing_provider_npi="1234567893").problems[0].path == "billing provider"
    result = _import(world, plan, billing_provider_npi=second.npi)
    assert result.encounters.created == expected.encounters
    with world.gate() as gate:
        ids = set(gate.session.scalars(select(Encounter.billing_provider_id)))
    assert ids == {second.id}


def test_more_than_twelve_diagnoses_on_an_encounter_refuse_the_import(world: BillingWorld) -> None:
    bundle, _ = synthea_bundle(seed=11, patients=1, encounters=1)
    (_, condition), *_ = _entries(bundle, "Condition")
    encounter_index, _ = _entries(bundle, "Encounter")[0]
    present = len(_entries(bundle, "Condition"))
    for n in range(13 - present):
        extra = copy.deepcopy(condition)
        extra["id"] = str(uuid.UUID(int=1000 + n, version=4))
        bundle["entry"].append({"fullUrl": f"urn:uuid:{extra['id']}", "resource": extra})
    plan = read_bundle(dumps(bundle))
    assert len(plan.diagnoses) == 13
    before = _counts(world)
    (problem,) = _refused(world, plan).problems
    assert (problem.entry, problem.path) == (encounter_index, "Encounter.diagnosis") and "13" in problem.reason
    assert _counts(world) == before


# The CLI -----------------------------------------------------------------------------------------------------
PLANTED = {"family": "Quenzlebrock", "given": "Ottiliana", "ssn": "287-65-4321", "member": "QZX987654321"}


def _planted_bundle() -> dict[str, Any]:
    bundle, _ = synthea_bundle(seed=12, patients=2, encounters=2)
    (_, patient), *_ = _entries(bundle, "Patient")
    patient["name"] = [{"use": "official", "family": PLANTED["family"], "given": [PLANTED["given"]]}]
    for ident in patient["identifier"]:
        if ident.get("system") == "http://hl7.org/fhir/sid/us-ssn":
            ident["value"] = PLANTED["ssn"]
    _, coverage = _entries(bundle, "Coverage")[0]
    coverage["subscriberId"] = PLANTED["member"]
    return bundle


def _no_planted_values(text: str) -> None:
    for value in (*PLANTED.values(), PLANTED["ssn"].replace("-", ""), PLANTED["family"].upper()):
        assert value not in text


def test_cli_imports_refuses_and_prints_no_phi(tmp_path: Path) -> None:
    var = tmp_path / "var"
    _ok(var, "init")
    rt = build_runtime(_settings(var))
    try:
        world = build_billing_world(rt)
    finally:
        rt.close()
    bundle = _planted_bundle()
    path = tmp_path / "bundle.json"
    path.write_bytes(dumps(bundle))

    def counts() -> dict[str, int]:
        rt = build_runtime(_settings(var))
        try:
            world.runtime = rt
            return _counts(world)
        finally:
            rt.close()

    dry = _ok(var, "import", "fhir", str(path), "--org", "clinic", "--dry-run")
    assert "Dry run" in _everything(dry) and "patients: 2 new" in _everything(dry)
    assert counts()["patients"] == 0
    done = _ok(var, "import", "fhir", str(path), "--org", "clinic")
    out = _everything(done)
    assert "patients: 2 new, 0 imported before" in out and "encounters: 4 new" in out
    assert "4 unbillable until coded" in out
    assert counts()["patients"] == 2
    again = _ok(var, "import", "fhir", str(path), "--org", "clinic")
    assert "nothing changed" in _everything(again)

    # The same people in another bundle (another identity): refused as duplicates, naming identifiers only.
    other = copy.deepcopy(bundle)
    other["identifier"] = {"system": "urn:test", "value": "second-export"}
    other_path = tmp_path / "other.json"
    other_path.write_bytes(dumps(other))
    duplicate = _run(var, "import", "fhir", str(other_path), "--org", "clinic")
    assert duplicate.exit_code == 1
    assert "may already be registered" in _everything(duplicate) and "ssn" in _everything(duplicate)

    broken_bytes, where = malformed_bundles()["bad_birth_date"]
    broken = json.loads(broken_bytes)
    (_, patient), *_ = _entries(broken, "Patient")
    patient["name"] = [{"family": PLANTED["family"], "given": [PLANTED["given"]]}]
    broken_path = tmp_path / "broken.json"
    broken_path.write_bytes(dumps(broken))
    rejected = _run(var, "import", "fhir", str(broken_path), "--org", "clinic")
    assert rejected.exit_code == 1
    (entry, element), *_ = where
    assert f"entry[{entry}] Patient: {element}" in _everything(rejected)
    assert "nothing was written" in _everything(rejected)
    assert counts()["patients"] == 2

    for result in (dry, done, again, duplicate, rejected):
        _no_planted_values(_everything(result))
