"""FHIR R4B views: Patient, Coverage and Claim resources validate, carry the right identifiers and codes, leave
the SSN out unless asked, and round-trip through the bundle reader; searchset bundles and OperationOutcomes."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim
from pydantic import ValidationError

from claimvault.billing.claims.document import (
    Address,
    ClaimDocument,
    Diagnosis,
    Facility,
    Payer,
    Person,
    Provider,
    ServiceLine,
    Subscriber,
)
from claimvault.billing.coverage.schemas import CoverageOut
from claimvault.billing.fhir.bundle import read_bundle
from claimvault.billing.fhir.plan import BundleRejected
from claimvault.billing.fhir.resources import (
    CPT_SYSTEM,
    HCPCS_SYSTEM,
    NPI_SYSTEM,
    PATIENT_SYSTEM,
    SSN_SYSTEM,
    OutcomeIssue,
    claim_resource,
    coverage_resource,
    operation_outcome,
    outcome_from_problems,
    outcome_from_validation_error,
    patient_resource,
    searchset_bundle,
)
from claimvault.billing.patients.schemas import PatientOut, PatientSearch
from tests.claim_documents import VARIANTS, make_claim
from tests.needles import without_ids

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
PATIENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _patient(**changes: Any) -> dict[str, Any]:
    out = PatientOut(
        id=PATIENT_ID,
        given_name="Testgiven",
        family_name="Testfamily",
        birth_date=date(1970, 4, 5),
        ssn="123-45-6789",
        phone="+16175550123",
        email="someone@example.test",
        address_line1="1 Synthetic Way",
        city="Springfield",
        state="MA",
        postal_code="01103",
        sex="F",
        mrn="MRN-42",
        row_version=3,
        created_at=NOW,
        updated_at=NOW,
    )
    return {**out.model_dump(), **changes}


def _coverage(**changes: Any) -> dict[str, Any]:
    out = CoverageOut(
        id=uuid.UUID("00000000-0000-4000-8000-000000000002"),
        patient_id=PATIENT_ID,
        rank="secondary",
        status="active",
        payer_name="Synthetic Mutual",
        member_id="AB123456",
        group_number="GRP 42",
        subscriber_relationship="self",
        subscriber_relationship_code="18",
        effective_from=date(2022, 1, 1),
        effective_to=date(2022, 12, 31),
        row_version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return {**out.model_dump(), **changes}


def test_patient_resource_fields_and_no_ssn_by_default() -> None:
    resource = patient_resource(_patient())
    assert resource["id"] == str(PATIENT_ID) and resource["gender"] == "female"
    assert resource["birthDate"] == "1970-04-05"
    assert resource["name"] == [{"use": "official", "family": "Testfamily", "given": ["Testgiven"]}]
    assert {"system": "phone", "value": "+16175550123", "use": "home"} in resource["telecom"]
    assert resource["address"][0]["state"] == "MA" and resource["address"][0]["postalCode"] == "01103"
    systems = {i["system"] for i in resource["identifier"]}
    assert PATIENT_SYSTEM in systems and SSN_SYSTEM not in systems
    assert "123-45-6789" not in json.dumps(resource) and "6789" not in without_ids(json.dumps(resource))
    assert resource["meta"] == {"versionId": "3", "lastUpdated": "2026-03-04T05:06:07Z"}


def test_patient_ssn_only_when_asked_and_never_masked() -> None:
    shown = patient_resource(_patient(), include_ssn=True)
    assert {"system": SSN_SYSTEM, "value": "123-45-6789"} in [
        {k: i[k] for k in ("system", "value")} for i in shown["identifier"]
    ]
    masked = patient_resource(_patient(ssn="***-**-6789", withheld=["ssn"]), include_ssn=True)
    assert SSN_SYSTEM not in {i["system"] for i in masked["identifier"]}
    assert masked["meta"]["security"][0]["code"] == "REDACTED"


def test_shredded_patient_is_a_valid_resource_without_names() -> None:
    resource = patient_resource(
        _patient(given_name=None, family_name=None, birth_date=None, ssn=None, phone=None, shredded=True)
    )
    assert "name" not in resource and "birthDate" not in resource
    assert resource["meta"]["security"][0]["code"] == "REDACTED"


def test_patient_round_trips_through_the_bundle_reader() -> None:
    resource = patient_resource(_patient(), include_ssn=True)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
    (plan,) = read_bundle(json.dumps(bundle)).patients
    assert (plan.given_name, plan.family_name, plan.birth_date) == ("Testgiven", "Testfamily", date(1970, 4, 5))
    assert (plan.ssn, plan.phone, plan.email, plan.state, plan.sex, plan.mrn) == (
        "123456789",
        "+16175550123",
        "someone@example.test",
        "MA",
        "F",
        "MRN-42",
    )


def test_coverage_resource_self_and_round_trip() -> None:
    resource = coverage_resource(_coverage())
    assert resource["order"] == 2 and resource["subscriberId"] == "AB123456"
    assert resource["beneficiary"] == {"reference": f"Patient/{PATIENT_ID}"} == resource["subscriber"]
    assert resource["class"][0]["value"] == "GRP 42"
    assert resource["period"] == {"start": "2022-01-01", "end": "2022-12-31"}
    patient = patient_resource(_patient())
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"Patient/{PATIENT_ID}", "resource": patient}, {"resource": resource}],
    }
    (plan,) = read_bundle(json.dumps(bundle)).coverages
    assert (plan.payer_name, plan.member_id, plan.rank, plan.group_number) == (
        "Synthetic Mutual",
        "AB123456",
        "secondary",
        "GRP 42",
    )


def test_coverage_with_other_subscriber_and_inactive_status() -> None:
    resource = coverage_resource(
        _coverage(
            status="inactive",
            subscriber_relationship="spouse",
            subscriber_given_name="Spousegiven",
            subscriber_family_name="Spousefamily",
            subscriber_birth_date=date(1968, 2, 3),
            member_id=None,
            withheld=["member_id"],
        )
    )
    assert resource["status"] == "cancelled" and "subscriberId" not in resource
    assert resource["subscriber"] == {"reference": "#subscriber"}
    (person,) = resource["contained"]
    assert person["resourceType"] == "RelatedPerson" and person["birthDate"] == "1968-02-03"
    assert resource["relationship"]["coding"][0]["code"] == "spouse"
    assert resource["meta"]["security"][0]["code"] == "REDACTED"


def _document() -> ClaimDocument:
    patient = Person(given_name="Testgiven", family_name="Testfamily", birth_date=date(1970, 4, 5), sex="F")
    return ClaimDocument(
        claim_id=uuid.UUID("00000000-0000-4000-8000-0000000000c1"),
        patient_control_number="CV000000000001",
        total_charge=Decimal("250.00"),
        place_of_service="11",
        frequency_code="7",
        billing_provider=Provider(npi="1234567893", entity="organization", organization_name="Synthetic Clinic"),
        subscriber=Subscriber(
            rank="primary", payer=Payer(payer_id="SYN01", name="Synthetic Mutual"), member_id="W1", person=patient
        ),
        patient=patient,
        diagnoses=(Diagnosis("E119"), Diagnosis("I10")),
        lines=(
            ServiceLine("99214", Decimal("200.00"), Decimal("1"), date(2026, 1, 5), (1, 2), modifiers=("25",)),
            ServiceLine(
                "J1100",
                Decimal("50.00"),
                Decimal("2"),
                date(2026, 1, 5),
                (2,),
                service_date_to=date(2026, 1, 6),
                modifiers=("LT",),
            ),
        ),
        rendering_provider=Provider(npi="1245319599", entity="person", family_name="Doc", given_name="Test"),
        original_reference="PCN123",
        patient_id=PATIENT_ID,
        created_on=date(2026, 1, 8),
        facility=Facility(
            name="Synthetic Center",
            address=Address(line1="1 Clinic Rd", city="Springfield", state="MA", postal_code="01103"),
            npi="1234567893",
        ),
    )


def test_claim_resource_codes_and_references() -> None:
    resource = claim_resource(_document(), status="submitted")
    assert resource["status"] == "active" and resource["use"] == "claim"
    assert resource["patient"] == {"reference": f"Patient/{PATIENT_ID}"}
    assert resource["provider"]["identifier"] == {"system": NPI_SYSTEM, "value": "1234567893"}
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in resource["diagnosis"]] == ["E11.9", "I10"]
    first, second = resource["item"]
    assert first["productOrService"]["coding"][0] == {"system": CPT_SYSTEM, "code": "99214"}
    assert second["productOrService"]["coding"][0] == {"system": HCPCS_SYSTEM, "code": "J1100"}
    assert first["diagnosisSequence"] == [1, 2] and first["careTeamSequence"] == [1]
    assert second["servicedPeriod"] == {"start": "2026-01-05", "end": "2026-01-06"}
    assert second["unitPrice"]["value"] == 25.0 and resource["total"] == {"value": 250.0, "currency": "USD"}
    assert "display" not in json.dumps(resource["item"])  # codes only, never descriptors
    assert resource["billablePeriod"] == {"start": "2026-01-05", "end": "2026-01-06"}
    assert resource["related"][0]["reference"]["value"] == "PCN123"
    assert resource["facility"]["identifier"]["value"] == "1234567893"
    assert resource["insurance"] == [{"sequence": 1, "focal": True, "coverage": {"display": "Synthetic Mutual"}}]
    text = json.dumps(resource)
    assert "Testfamily" not in text and "1970-04-05" not in text  # the Claim names the patient by reference
    Claim.model_validate(resource)


def test_claim_status_mapping_and_coverage_ids() -> None:
    coverage_id = uuid.uuid4()
    assert claim_resource(_document(), status="void")["status"] == "cancelled"
    assert claim_resource(_document(), status="draft")["status"] == "draft"
    resource = claim_resource(_document(), status="entered-in-error", coverage_ids=[coverage_id])
    assert resource["status"] == "entered-in-error"
    assert resource["insurance"][0]["coverage"] == {"reference": f"Coverage/{coverage_id}"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_claim_variant_builds_a_valid_claim(variant: str) -> None:
    document = make_claim(17, variant=variant)
    resource = claim_resource(document, status="ready")
    assert len(resource["item"]) == len(document.lines)
    assert len(resource["insurance"]) == 1 + len(document.other_subscribers)
    assert len(resource.get("diagnosis", [])) == len(document.diagnoses)


def test_claim_needs_a_patient_id() -> None:
    with pytest.raises(ValueError, match="patient"):
        claim_resource(replace(_document(), patient_id=None), status="active")


def test_searchset_bundle() -> None:
    resources = [patient_resource(_patient()), coverage_resource(_coverage())]
    bundle = searchset_bundle(resources, base_url="https://cv.example/fhir/", next_url="https://cv.example/n?c=x")
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert bundle["entry"][0]["fullUrl"] == f"https://cv.example/fhir/Patient/{PATIENT_ID}"
    assert bundle["entry"][1]["search"] == {"mode": "match"}
    assert bundle["link"] == [{"relation": "next", "url": "https://cv.example/n?c=x"}]
    empty = searchset_bundle([], base_url="https://cv.example/fhir", total=0)
    assert empty["total"] == 0 and "entry" not in empty and "link" not in empty


def test_operation_outcomes_hold_no_values() -> None:
    outcome = operation_outcome([OutcomeIssue(code="not-found", diagnostics="no such patient")])
    assert outcome["issue"] == [{"severity": "error", "code": "not-found", "diagnostics": "no such patient"}]
    assert operation_outcome([])["issue"][0]["severity"] == "information"

    with pytest.raises(BundleRejected) as caught:
        read_bundle(
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": '
            b'{"resourceType": "Patient", "id": "p1", "birthDate": "1980-13-45"}}]}'
        )
    from_problems = outcome_from_problems(caught.value.problems)
    assert from_problems["issue"][0]["expression"] == ["Patient.birthDate"]
    assert "1980-13-45" not in json.dumps(from_problems)

    with pytest.raises(ValidationError) as invalid:
        PatientSearch(family_name="Testfamily", ssn="999-12-3456")
    from_error = outcome_from_validation_error(invalid.value)
    text = json.dumps(from_error)
    assert "Testfamily" not in text and "999-12-3456" not in text and "3456" not in without_ids(text)
    assert from_error["issue"][0]["code"] == "invalid"
