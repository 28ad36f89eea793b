"""Reading FHIR bundles into import plans: Synthea-style bundles import, malformed ones are refused whole with
every problem named by entry, type, id and path (never a value), and the same bundle always gives the same keys."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from claimvault.billing.fhir.bundle import read_bundle
from claimvault.billing.fhir.plan import ICD10CM_SYSTEM, BundleRejected, ImportPlan, import_key
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.discovery.validators import npi_valid
from tests.synthea_bundles import ICD10CM, SNOMED, dumps, malformed_bundles, synthea_bundle

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"use": "official", "family": "Testfamily", "given": ["Testgiven", "Middle"]}],
    "birthDate": "1970-04-05",
    "gender": "female",
}


def _bundle(*resources: dict[str, Any], kind: str = "collection", urls: bool = False) -> bytes:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"resource": r}
        if urls:
            entry["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{r['id'].rjust(12, '0')}"
        entries.append(entry)
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": entries}).encode()


def _encounter(eid: str = "e1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2023-03-01T10:00:00-05:00"},
        **extra,
    }


def _condition(cid: str, code: str, system: str = ICD10CM, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        **extra,
    }


def _coverage(cid: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": cid,
        "status": "active",
        "beneficiary": {"reference": "Patient/p1"},
        "payor": [{"display": "Synthetic Health Plan"}],
        "subscriberId": "ab-123 456",
        "period": {"start": "2022-01-01"},
        **extra,
    }


def _rejected(data: bytes) -> BundleRejected:
    with pytest.raises(BundleRejected) as caught:
        read_bundle(data)
    return caught.value


def _where(rejected: BundleRejected) -> set[tuple[int | None, str]]:
    return {(p.entry, p.path) for p in rejected.problems}


# Synthea-style bundles ------------------------------------------------------------------------------------------


def test_synthea_bundle_imports_with_counts_and_skips() -> None:
    bundle, expected = synthea_bundle(11, patients=4, encounters=3)
    plan = read_bundle(dumps(bundle))
    assert len(plan.patients) == expected.patients
    assert len(plan.coverages) == expected.coverages
    assert len(plan.encounters) == expected.encounters
    assert len(plan.diagnoses) == expected.diagnoses
    assert plan.skipped == expected.skipped
    assert plan.skipped["ExplanationOfBenefit"] > 0 and plan.skipped["Claim"] > 0
    assert plan.bundle_type == "transaction"


def test_synthea_patients_are_normalised_like_patient_create() -> None:
    bundle, _ = synthea_bundle(3)
    plan = read_bundle(dumps(bundle))
    first = plan.patients[0]
    assert first.ssn is not None and first.ssn.isdigit() and len(first.ssn) == 9
    assert all(p.ssn is None for p in plan.patients[1:])  # Synthea's 999- numbers cannot have been issued
    ssn_warnings = [w for w in plan.warnings if "SSN" in w.reason]
    assert len(ssn_warnings) == len(plan.patients) - 1
    assert all(w.path.startswith("Patient.identifier[") for w in ssn_warnings)
    for patient in plan.patients:
        assert patient.state == "MA"  # "Massachusetts" as written by Synthea
        assert patient.postal_code is not None and len(patient.postal_code) == 5
        assert patient.sex in {"M", "F"}
        assert patient.phone is None or patient.phone.startswith("+1")
        PatientCreate(**patient.create_fields())  # what the importer will call must accept it


def test_synthea_coverages_encounters_and_practitioners() -> None:
    bundle, _ = synthea_bundle(5, patients=3, encounters=2)
    plan = read_bundle(dumps(bundle))
    payers = {e["resource"]["name"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization"}
    first = plan.patients[0].key
    assert sorted(c.rank for c in plan.coverages if c.patient_key == first) == ["primary", "secondary"]
    for coverage in plan.coverages:
        assert coverage.payer_name in payers
        assert coverage.member_id.isalnum() and coverage.member_id.isupper()
        assert coverage.group_number is not None and coverage.subscriber_relationship == "self"
    patient_keys = {p.key for p in plan.patients}
    starts = {
        e["fullUrl"]: date.fromisoformat(e["resource"]["period"]["start"][:10])
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    }
    assert all(e.patient_key in patient_keys for e in plan.encounters)
    assert all(e.start == starts[e.source_key] == e.end for e in plan.encounters)
    assert {e.encounter_class for e in plan.encounters} <= {"AMB", "EMER", "IMP"}
    npis = {e.practitioner_npi for e in plan.encounters if e.practitioner_npi}
    assert npis and all(npi_valid(n) for n in npis)
    if any(e.practitioner_npi is None for e in plan.encounters):  # the practitioner with Synthea's 9999 number
        assert any(w.path == "Encounter.participant" for w in plan.warnings)


def test_snomed_diagnoses_are_kept_flagged_and_never_mapped() -> None:
    bundle, expected = synthea_bundle(9, patients=2, encounters=2)
    plan = read_bundle(dumps(bundle))
    source = {
        e["fullUrl"]: e["resource"]["code"]["coding"][0]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Condition"
    }
    icd = [d for d in plan.diagnoses if not d.needs_coding]
    assert len(icd) == expected.icd10_diagnoses
    for dx in plan.diagnoses:
        original = source[dx.source_key]
        if original["system"] == ICD10CM:
            assert dx.coding.system == ICD10CM_SYSTEM and dx.coding.code == original["code"].replace(".", "")
        else:
            assert dx.needs_coding and dx.coding.system == SNOMED and dx.coding.code == original["code"]
    # Every Synthea encounter has a SNOMED CT condition: none is billable until a coder assigns ICD-10-CM codes.
    assert plan.unbillable_encounters() == {e.key for e in plan.encounters}
    assert plan.summary()["diagnoses_needing_coding"] == expected.diagnoses - expected.icd10_diagnoses


def test_batch_and_collection_bundles_are_read() -> None:
    for kind in ("batch", "collection"):
        bundle, expected = synthea_bundle(2, patients=1, encounters=1, bundle_type=kind)
        assert len(read_bundle(json.dumps(bundle)).encounters) == expected.encounters


# Idempotency ----------------------------------------------------------------------------------------------------


def _keys(plan: ImportPlan) -> list[str]:
    return [
        *(r.key for r in plan.patients),
        *(r.key for r in plan.coverages),
        *(r.key for r in plan.encounters),
        *(r.key for r in plan.diagnoses),
    ]


def test_the_same_bundle_gives_the_same_keys_however_serialised() -> None:
    bundle, _ = synthea_bundle(4, patients=2)
    first = read_bundle(dumps(bundle))
    respaced = json.dumps(bundle, indent=2, sort_keys=True)
    again = read_bundle(respaced)
    assert again.bundle_identity == first.bundle_identity and first.bundle_identity.startswith("sha256:")
    assert _keys(again) == _keys(first)
    assert len(set(_keys(first))) == len(_keys(first))
    assert all(len(k) <= 64 for k in _keys(first))
    other, _ = synthea_bundle(5, patients=2)
    assert not set(_keys(read_bundle(dumps(other)))) & set(_keys(first))


def test_bundle_identifier_is_the_identity() -> None:
    bundle, _ = synthea_bundle(4, patients=1)
    bundle["identifier"] = {"system": "urn:example:export", "value": "batch-1"}
    plan = read_bundle(dumps(bundle))
    assert plan.bundle_identity == "identifier:urn:example:export|batch-1"
    assert plan.patients[0].key == import_key(plan.bundle_identity, plan.patients[0].source_key)
    assert import_key("a", "b") == import_key("a", "b") != import_key("a", "c")


# Malformed bundles ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(malformed_bundles()))
def test_malformed_bundles_are_refused_with_every_problem(name: str) -> None:
    data, wanted = malformed_bundles()[name]
    rejected = _rejected(data)
    assert set(wanted) <= _where(rejected), rejected.report()
    assert rejected.report().count("\n") == len(rejected.problems) - 1


def _phi_values(bundle: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for entry in bundle["entry"]:
        r = entry.get("resource") or {}
        if r.get("resourceType") == "Patient":
            for name in r.get("name", []):
                values += [name["family"], *name["given"]]
            values.append(r["birthDate"])
            values += [i["value"] for i in r["identifier"][2:]]  # SS, DL (Synthea's MR is the resource id)
            values += [t["value"] for t in r.get("telecom", []) if isinstance(t["value"], str)]
            values += [a["line"][0] for a in r.get("address", [])]
        if r.get("resourceType") == "Coverage":
            values.append(r["subscriberId"])
    return values


def test_reports_and_reprs_hold_no_values() -> None:
    data, _ = malformed_bundles()["several_problems"]
    bundle = json.loads(data)
    bundle["entry"][0]["resource"]["name"] = 12345  # a payer Organization with a name of the wrong type
    for entry in bundle["entry"]:
        if entry.get("resource", {}).get("resourceType") == "Patient" and entry["resource"].get("name"):
            entry["resource"]["telecom"] = [{"system": "phone", "value": ["555-010-9999"]}]
            break
    rejected = _rejected(dumps(bundle))
    text = rejected.report() + str(rejected) + repr(rejected.problems)
    for value in [*_phi_values(bundle), "555-010-9999", "12345"]:
        assert value not in text
    assert ("Organization.name" in text) and (".telecom[0].value" in text)

    good, _ = synthea_bundle(1, patients=1)
    plan = read_bundle(dumps(good))
    shown = repr(plan) + repr(plan.patients) + repr(plan.coverages) + repr(plan.diagnoses) + str(plan.summary())
    shown += "".join(str(w) for w in plan.warnings)
    for value in _phi_values(good):
        assert value not in shown


def test_invalid_birth_date_value_is_not_echoed() -> None:
    rejected = _rejected(_bundle({**PATIENT, "birthDate": "1980-13-45"}))
    assert _where(rejected) == {(0, "Patient.birthDate")}
    assert "1980-13-45" not in rejected.report()
    assert rejected.problems[0].resource_type == "Patient" and rejected.problems[0].resource_id == "p1"


def test_duplicate_and_unknown_entries_are_problems() -> None:
    unknown = {"resourceType": "NotAResource", "id": "x1"}
    rejected = _rejected(_bundle(PATIENT, dict(PATIENT), unknown))
    assert (1, "Bundle.entry[1].fullUrl") in _where(rejected)
    assert (2, "Bundle.entry[2]") in _where(rejected)
    assert "NotAResource" not in rejected.report()


def test_partial_birth_date_and_missing_family_are_problems() -> None:
    patient = {**PATIENT, "birthDate": "1970", "name": [{"given": ["Only"]}]}
    assert _where(_rejected(_bundle(patient))) == {(0, "Patient.birthDate"), (0, "Patient.name[0].family")}


# References and links -------------------------------------------------------------------------------------------


def test_references_by_type_and_id_and_diagnosis_order() -> None:
    encounter = _encounter(
        diagnosis=[
            {"condition": {"reference": "Condition/d2"}, "rank": 1},
            {"condition": {"reference": "Condition/d1"}, "rank": 2},
        ],
        reasonReference=[{"reference": "Condition/d3"}],
    )
    d1 = _condition("d1", "E11.9", encounter={"reference": "Encounter/e1"})
    d2 = _condition("d2", "I10")
    d3 = _condition("d3", "38341003", SNOMED)
    plan = read_bundle(_bundle(PATIENT, encounter, d1, d2, d3))
    assert [(d.coding.code, d.sequence) for d in plan.diagnoses] == [("I10", 1), ("E119", 2), ("38341003", 3)]
    assert plan.patients[0].middle_name == "Middle" and plan.patients[0].sex == "F"
    assert plan.unbillable_encounters() == {plan.encounters[0].key}


def test_an_all_icd10_encounter_is_billable() -> None:
    condition = _condition("d1", "J02.9", encounter={"reference": "Encounter/e1"})
    plan = read_bundle(_bundle(PATIENT, _encounter(), condition))
    assert plan.diagnoses[0].coding.code == "J029" and not plan.diagnoses[0].needs_coding
    assert plan.unbillable_encounters() == frozenset()


def test_urn_references_and_absolute_full_urls() -> None:
    patient = {**PATIENT, "id": "1"}
    encounter = _encounter("2", subject={"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"})
    plan = read_bundle(_bundle(patient, encounter, urls=True))
    assert plan.encounters[0].patient_key == plan.patients[0].key
    absolute = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "https://ehr.example/fhir/Patient/p1", "resource": PATIENT},
            {"fullUrl": "https://ehr.example/fhir/Encounter/e1", "resource": _encounter()},
        ],
    }
    assert len(read_bundle(json.dumps(absolute)).encounters) == 1


def test_dangling_and_foreign_links_are_problems() -> None:
    condition = _condition("d1", "I10", encounter={"reference": "Encounter/missing"})
    other = {**PATIENT, "id": "p2"}
    foreign = _condition("d2", "I10", subject={"reference": "Patient/p2"}, encounter={"reference": "Encounter/e1"})
    rejected = _rejected(_bundle(PATIENT, other, _encounter(), condition, foreign))
    assert _where(rejected) == {(3, "Condition.encounter"), (4, "Condition.subject")}


def test_condition_problems_unlinked_text_only_and_bad_icd10() -> None:
    unlinked = _condition("d1", "I10")
    text_only = {**_condition("d2", "x", encounter={"reference": "Encounter/e1"}), "code": {"text": "free text"}}
    refuted = _condition(
        "d3",
        "I10",
        encounter={"reference": "Encounter/e1"},
        verificationStatus={"coding": [{"code": "refuted"}]},
    )
    plan = read_bundle(_bundle(PATIENT, _encounter(), unlinked, text_only, refuted))
    assert plan.diagnoses == () and plan.skipped["Condition"] == 3
    assert {w.path for w in plan.warnings} == {"Condition.encounter", "Condition.code.coding"}
    bad = _condition("d4", "I1", encounter={"reference": "Encounter/e1"})
    assert _where(_rejected(_bundle(PATIENT, _encounter(), bad))) == {(2, "Condition.code.coding[0].code")}


def test_cancelled_encounters_are_skipped_with_their_conditions() -> None:
    condition = _condition("d1", "I10", encounter={"reference": "Encounter/e1"})
    plan = read_bundle(_bundle(PATIENT, _encounter(status="entered-in-error"), condition))
    assert plan.encounters == () and plan.diagnoses == ()
    assert plan.skipped == {"Encounter": 1, "Condition": 1}


def test_encounter_period_and_subject_rules() -> None:
    no_start = _encounter("e2", period={"end": "2023-01-01"})
    backwards = _encounter("e3", period={"start": "2023-01-02", "end": "2023-01-01"})
    external = _encounter("e4", subject={"display": "someone"})
    rejected = _rejected(_bundle(PATIENT, no_start, backwards, external))
    assert _where(rejected) == {(1, "Encounter.period.start"), (2, "Encounter.period.end"), (3, "Encounter.subject")}


# Coverage -------------------------------------------------------------------------------------------------------


def test_coverage_fields_from_fhir() -> None:
    payer = {"resourceType": "Organization", "id": "o1", "name": "Synthetic Mutual"}
    coverage = _coverage(
        payor=[{"reference": "Organization/o1"}], order=2, period={"start": "2022-01-01", "end": "2022-12-31"}
    )
    coverage["class"] = [{"type": {"coding": [{"code": "group"}]}, "value": "grp 42"}]
    plan = read_bundle(_bundle(PATIENT, payer, coverage))
    (c,) = plan.coverages
    assert (c.payer_name, c.member_id, c.group_number, c.rank) == (
        "Synthetic Mutual",
        "AB123456",
        "GRP 42",
        "secondary",
    )
    assert (c.effective_from, c.effective_to, c.status) == (date(2022, 1, 1), date(2022, 12, 31), "active")
    assert c.patient_key == plan.patients[0].key and plan.skipped == {"Organization": 1}


def test_coverage_subscriber_other_than_the_patient() -> None:
    person = {
        "resourceType": "RelatedPerson",
        "id": "r1",
        "patient": {"reference": "Patient/p1"},
        "name": [{"family": "Spousefamily", "given": ["Spousegiven"]}],
        "birthDate": "1968-02-03",
    }
    spouse = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "spouse"}]}
    coverage = _coverage(relationship=spouse, subscriber={"reference": "RelatedPerson/r1"})
    (c,) = read_bundle(_bundle(PATIENT, person, coverage)).coverages
    assert c.subscriber_relationship == "spouse"
    assert (c.subscriber_given_name, c.subscriber_birth_date) == ("Spousegiven", date(1968, 2, 3))
    missing = _coverage(relationship=spouse)
    assert _where(_rejected(_bundle(PATIENT, missing))) == {(1, "Coverage.subscriber")}


def test_coverage_problems_are_collected() -> None:
    bad_member = _coverage("c1", subscriberId="!")
    bad_order = _coverage("c2", order=4)
    no_payer = _coverage("c3", payor=[{"reference": "Organization/unknown"}])
    rejected = _rejected(_bundle(PATIENT, bad_member, bad_order, no_payer))
    assert _where(rejected) == {(1, "Coverage.subscriberId"), (2, "Coverage.order"), (3, "Coverage.payor")}


def test_overlapping_coverages_of_one_rank_are_refused_but_statuses_respected() -> None:
    first, second = _coverage("c1"), _coverage("c2", period={"start": "2022-06-01"})
    assert _where(_rejected(_bundle(PATIENT, first, second))) == {(2, "Coverage.period")}
    cancelled = _coverage("c2", status="cancelled")
    draft = _coverage("c3", status="draft")
    plan = read_bundle(_bundle(PATIENT, first, cancelled, draft))
    assert [c.status for c in plan.coverages] == ["active", "inactive"] and plan.skipped == {"Coverage": 1}


def test_problems_list_is_complete_not_first_only() -> None:
    bundle, _ = synthea_bundle(8, patients=2, encounters=1)
    broken = copy.deepcopy(bundle)
    patients = [e for e in broken["entry"] if e["resource"]["resourceType"] == "Patient"]
    for entry in patients:
        entry["resource"]["birthDate"] = "not a date"
    rejected = _rejected(dumps(broken))
    assert len([p for p in rejected.problems if p.path == "Patient.birthDate"]) == len(patients)


def test_logical_and_practitioner_references() -> None:
    practitioner = {
        "resourceType": "Practitioner",
        "id": "dr1",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
    }
    organization = {"resourceType": "Organization", "id": "o1", "name": "Synthetic Clinic"}
    encounter = _encounter(
        subject={"type": "Patient", "identifier": {"system": "urn:example:mrn", "value": "MRN-7"}},
        participant=[{"individual": {"reference": "Practitioner/dr1"}}],
        serviceProvider={"reference": "Organization/o1"},
    )
    patient = {**PATIENT, "identifier": [{"system": "urn:example:mrn", "value": "MRN-7"}]}
    plan = read_bundle(_bundle(patient, practitioner, organization, encounter))
    (enc,) = plan.encounters
    assert enc.patient_key == plan.patients[0].key
    assert (enc.practitioner_npi, enc.organization_name) == ("1234567893", "Synthetic Clinic")
    assert plan.skipped == {"Practitioner": 1, "Organization": 1}
