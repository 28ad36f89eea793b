"""Seeded generator of Synthea-style FHIR R4 transaction bundles (synthetic only: faker and random with a fixed
seed) and of malformed variants, for the FHIR import tests.

Like Synthea's output: ``urn:uuid`` fullUrls and ``POST`` requests; Patients with the Synthea, MR, SS (999-), DL
and passport identifiers, names with digits appended, full state names; payer Organizations; practitioners named
by conditional ``Practitioner?identifier=<NPI system>|<npi>`` references (some also present as resources);
Encounters with SNOMED CT types; Conditions coded in SNOMED CT (some in ICD-10-CM); a few Coverages; and
Observations, Procedures, Immunizations, Claims and ExplanationOfBenefits the importer skips. Codes only, no
descriptions.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from faker import Faker

SYNTHEA = "https://github.com/synthetichealth/synthea"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"

SNOMED_CONDITIONS = ("44054006", "38341003", "195662009", "10509002", "444814009", "40055000", "72892002")
ICD10_CONDITIONS = ("E11.9", "I10", "J02.9", "J20.9", "J01.90", "M54.50")
ENCOUNTER_TYPES = ("185345009", "162673000", "410620009", "50849002")
CLASSES = ("AMB", "AMB", "AMB", "EMER", "IMP")


@dataclass(frozen=True)
class Expected:
    """What a generated bundle holds (for assertions)."""

    patients: int
    coverages: int
    encounters: int
    diagnoses: int
    icd10_diagnoses: int
    skipped: dict[str, int]


def npi(rng: random.Random, *, synthea: bool = False) -> str:
    """A 10-digit NPI with a valid Luhn check digit (prefix 80840), or Synthea's kind: 9999 and six digits, which
    is not a valid NPI."""
    if synthea:
        return "9999" + "".join(str(rng.randint(0, 9)) for _ in range(6))
    body = "1" + "".join(str(rng.randint(0, 9)) for _ in range(8))
    total = 24
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.entries: list[dict[str, Any]] = []
        self.skipped: dict[str, int] = {}

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, resource: dict[str, Any], *, skipped: bool = False) -> str:
        url = f"urn:uuid:{resource['id']}"
        kind = resource["resourceType"]
        self.entries.append({"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": kind}})
        if skipped:
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
        return url

    def day(self, start: date, span: int) -> date:
        return start + timedelta(days=self.rng.randint(0, span))

    def payer(self) -> str:
        org = {
            "resourceType": "Organization",
            "id": self.uid(),
            "identifier": [{"system": SYNTHEA, "value": self.uid()}],
            "active": True,
            "type": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}
            ],
            "name": f"{self.fake.last_name()} Health Plan",
        }
        return self.add(org, skipped=True)

    def practitioner(self, *, synthea: bool = False) -> str:
        number = npi(self.rng, synthea=synthea)
        doc = {
            "resourceType": "Practitioner",
            "id": self.uid(),
            "identifier": [{"system": NPI, "value": number}],
            "active": True,
            "name": [
                {"family": f"{self.fake.last_name()}{self.rng.randint(100, 999)}", "given": [self.fake.first_name()]}
            ],
            "gender": self.rng.choice(["male", "female"]),
        }
        self.add(doc, skipped=True)
        return number

    def patient(self, *, issuable_ssn: bool) -> tuple[str, dict[str, Any]]:
        pid = self.uid()
        sex = self.rng.choice(["male", "female"])
        given = self.fake.first_name_male() if sex == "male" else self.fake.first_name_female()
        ssn = (
            f"{self.rng.randint(100, 665)}-{self.rng.randint(10, 99)}-{self.rng.randint(1000, 9999)}"
            if issuable_ssn
            else f"999-{self.rng.randint(10, 99)}-{self.rng.randint(1000, 9999)}"
        )
        phone = f"555-{self.rng.randint(100, 999)}-{self.rng.randint(1000, 9999)}"
        resource = {
            "resourceType": "Patient",
            "id": pid,
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                    "valueAddress": {"city": self.fake.city(), "state": "Massachusetts", "country": "US"},
                }
            ],
            "identifier": [
                {"system": SYNTHEA, "value": pid},
                {
                    "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
                    "system": "http://hospital.smarthealthit.org",
                    "value": pid,
                },
                {
                    "type": {"coding": [{"system": V2_0203, "code": "SS"}]},
                    "system": "http://hl7.org/fhir/sid/us-ssn",
                    "value": ssn,
                },
                {
                    "type": {"coding": [{"system": V2_0203, "code": "DL"}]},
                    "system": "urn:oid:2.16.840.1.113883.4.3.25",
                    "value": f"S99{self.rng.randint(100000, 999999)}",
                },
            ],
            "name": [
                {
                    "use": "official",
                    "family": f"{self.fake.last_name()}{self.rng.randint(100, 999)}",
                    "given": [f"{given}{self.rng.randint(100, 999)}"],
                    "prefix": [self.rng.choice(["Mr.", "Ms.", "Mrs."])],
                }
            ],
            "telecom": [{"system": "phone", "value": phone, "use": "home"}],
            "gender": sex,
            "birthDate": self.day(date(1940, 1, 1), 25_000).isoformat(),
            "address": [
                {
                    "line": [self.fake.street_address()],
                    "city": self.fake.city(),
                    "state": "Massachusetts",
                    "postalCode": f"0{self.rng.randint(1000, 2799)}",
                    "country": "US",
                }
            ],
            "maritalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]
            },
            "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US"}]}}],
        }
        return self.add(resource), resource

    def coverage(self, patient_url: str, payer_url: str, *, order: int, start: date) -> None:
        resource = {
            "resourceType": "Coverage",
            "id": self.uid(),
            "status": "active",
            "subscriberId": f"{self.fake.bothify('???#########').upper()}",
            "beneficiary": {"reference": patient_url},
            "relationship": {"coding": [{"system": RELATIONSHIP, "code": "self"}]},
            "period": {"start": start.isoformat()},
            "payor": [{"reference": payer_url}],
            "class": [
                {
                    "type": {"coding": [{"system": COVERAGE_CLASS, "code": "group"}]},
                    "value": f"G{self.rng.randint(1000, 99999)}",
                }
            ],
            "order": order,
        }
        self.add(resource)

    def encounter(self, patient_url: str, npi_value: str, when: date) -> tuple[str, dict[str, Any]]:
        klass = self.rng.choice(CLASSES)
        resource = {
            "resourceType": "Encounter",
            "id": self.uid(),
            "status": "finished",
            "class": {"system": ACT_CODE, "code": klass},
            "type": [{"coding": [{"system": SNOMED, "code": self.rng.choice(ENCOUNTER_TYPES)}]}],
            "subject": {"reference": patient_url},
            "participant": [
                {
                    "type": [
                        {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF"}
                            ]
                        }
                    ],
                    "individual": {"reference": f"Practitioner?identifier={NPI}|{npi_value}"},
                }
            ],
            "period": {"start": f"{when.isoformat()}T09:00:00-05:00", "end": f"{when.isoformat()}T09:30:00-05:00"},
            "serviceProvider": {"reference": f"Organization?identifier={SYNTHEA}|{self.uid()}", "display": "Clinic"},
        }
        return self.add(resource), resource

    def condition(self, patient_url: str, encounter_url: str, when: date, *, icd10: bool) -> str:
        coding = (
            {"system": ICD10CM, "code": self.rng.choice(ICD10_CONDITIONS)}
            if icd10
            else {"system": SNOMED, "code": self.rng.choice(SNOMED_CONDITIONS)}
        )
        resource = {
            "resourceType": "Condition",
            "id": self.uid(),
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [coding]},
            "subject": {"reference": patient_url},
            "encounter": {"reference": encounter_url},
            "onsetDateTime": f"{when.isoformat()}T09:00:00-05:00",
            "recordedDate": f"{when.isoformat()}T09:00:00-05:00",
        }
        return self.add(resource)

    def extras(self, patient_url: str, encounter_url: str, when: date, payer_url: str) -> None:
        """Resources the importer skips: an Observation, a Procedure, an Immunization, a Claim and an EOB."""
        stamp = f"{when.isoformat()}T09:00:00-05:00"
        self.add(
            {
                "resourceType": "Observation",
                "id": self.uid(),
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "8302-2"}]},
                "subject": {"reference": patient_url},
                "encounter": {"reference": encounter_url},
                "effectiveDateTime": stamp,
                "valueQuantity": {
                    "value": round(self.rng.uniform(150, 190), 1),
                    "unit": "cm",
                    "system": "http://unitsofmeasure.org",
                    "code": "cm",
                },
            },
            skipped=True,
        )
        self.add(
            {
                "resourceType": "Procedure",
                "id": self.uid(),
                "status": "completed",
                "code": {"coding": [{"system": SNOMED, "code": "430193006"}]},
                "subject": {"reference": patient_url},
                "encounter": {"reference": encounter_url},
                "performedPeriod": {"start": stamp, "end": stamp},
            },
            skipped=True,
        )
        self.add(
            {
                "resourceType": "Immunization",
                "id": self.uid(),
                "status": "completed",
                "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
                "patient": {"reference": patient_url},
                "encounter": {"reference": encounter_url},
                "occurrenceDateTime": stamp,
                "primarySource": True,
            },
            skipped=True,
        )
        claim_id = self.uid()
        total = {"value": round(self.rng.uniform(80, 400), 2), "currency": "USD"}
        claim = {
            "resourceType": "Claim",
            "id": claim_id,
            "status": "active",
            "type": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
            },
            "use": "claim",
            "patient": {"reference": patient_url},
            "billablePeriod": {"start": stamp, "end": stamp},
            "created": stamp,
            "provider": {"display": "Clinic"},
            "priority": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]
            },
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Health Plan"}}],
            "item": [
                {
                    "sequence": 1,
                    "productOrService": {"coding": [{"system": SNOMED, "code": "185345009"}]},
                    "encounter": [{"reference": encounter_url}],
                }
            ],
            "total": total,
        }
        claim_url = self.add(claim, skipped=True)
        self.add(
            {
                "resourceType": "ExplanationOfBenefit",
                "id": self.uid(),
                "status": "active",
                "type": claim["type"],
                "use": "claim",
                "patient": {"reference": patient_url},
                "billablePeriod": claim["billablePeriod"],
                "created": stamp,
                "insurer": {"reference": payer_url},
                "provider": {"display": "Clinic"},
                "claim": {"reference": claim_url},
                "outcome": "complete",
                "insurance": [{"focal": True, "coverage": {"display": "Health Plan"}}],
                "total": [
                    {
                        "category": {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/adjudication", "code": "submitted"}
                            ]
                        },
                        "amount": total,
                    }
                ],
            },
            skipped=True,
        )


def synthea_bundle(
    seed: int = 7, *, patients: int = 3, encounters: int = 3, bundle_type: str = "transaction"
) -> tuple[dict[str, Any], Expected]:
    """A bundle and what it holds. Every patient's first encounter has one ICD-10-CM and one SNOMED CT condition,
    the others one SNOMED CT condition; patients at even positions get a primary coverage, the first also a
    secondary one; the first patient's SSN could have been issued, the others are Synthea's 999- numbers."""
    b = _Builder(seed)
    payers = [b.payer(), b.payer()]
    practitioners = [b.practitioner(), b.practitioner(synthea=True)]
    coverages = diagnoses = icd = 0
    for p in range(patients):
        patient_url, _ = b.patient(issuable_ssn=p == 0)
        if p % 2 == 0:
            b.coverage(patient_url, payers[0], order=1, start=date(2019, 1, 1))
            coverages += 1
            if p == 0:
                b.coverage(patient_url, payers[1], order=2, start=date(2020, 7, 1))
                coverages += 1
        for e in range(encounters):
            when = b.day(date(2021, 1, 1), 900)
            enc_url, _ = b.encounter(patient_url, b.rng.choice(practitioners), when)
            if e == 0:
                b.condition(patient_url, enc_url, when, icd10=True)
                icd += 1
                diagnoses += 1
            b.condition(patient_url, enc_url, when, icd10=False)
            diagnoses += 1
            b.extras(patient_url, enc_url, when, payers[0])
    bundle = {"resourceType": "Bundle", "type": bundle_type, "entry": b.entries}
    expected = Expected(
        patients=patients,
        coverages=coverages,
        encounters=patients * encounters,
        diagnoses=diagnoses,
        icd10_diagnoses=icd,
        skipped=dict(b.skipped),
    )
    return bundle, expected


def dumps(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle).encode()


def _first(bundle: dict[str, Any], kind: str) -> tuple[int, dict[str, Any]]:
    for i, entry in enumerate(bundle["entry"]):
        if entry["resource"]["resourceType"] == kind:
            return i, entry["resource"]
    raise LookupError(kind)


def malformed_bundles(seed: int = 7) -> dict[str, tuple[bytes, list[tuple[int | None, str]]]]:
    """Named malformed bundles, each with the (entry index, path) of every problem it must be reported with."""
    base, _ = synthea_bundle(seed, patients=2, encounters=2)
    out: dict[str, tuple[bytes, list[tuple[int | None, str]]]] = {
        "not_json": (b'{"resourceType": "Bundle", "entry": [', [(None, "Bundle")]),
        "not_utf8": (b'{"resourceType": "Bundle", "x": "\xff"}', [(None, "Bundle")]),
        "not_a_bundle": (json.dumps({"resourceType": "Patient", "id": "x"}).encode(), [(None, "Bundle")]),
        "json_array": (b"[]", [(None, "Bundle")]),
    }

    wrong_type = copy.deepcopy(base)
    wrong_type["type"] = "searchset"
    out["searchset"] = (dumps(wrong_type), [(None, "Bundle.type")])

    bad_date = copy.deepcopy(base)
    i, patient = _first(bad_date, "Patient")
    patient["birthDate"] = "1980-13-45"
    out["bad_birth_date"] = (dumps(bad_date), [(i, "Patient.birthDate")])

    dangling = copy.deepcopy(base)
    i, encounter = _first(dangling, "Encounter")
    encounter["subject"] = {"reference": f"urn:uuid:{uuid.UUID(int=seed, version=4)}"}
    out["dangling_patient"] = (dumps(dangling), [(i, "Encounter.subject")])

    no_beneficiary = copy.deepcopy(base)
    i, coverage = _first(no_beneficiary, "Coverage")
    del coverage["beneficiary"]
    out["coverage_without_beneficiary"] = (dumps(no_beneficiary), [(i, "Coverage.beneficiary")])

    several = copy.deepcopy(base)
    i_pat, patient = _first(several, "Patient")
    del patient["name"]
    i_cov, coverage = _first(several, "Coverage")
    coverage["period"] = {}
    i_enc, encounter = _first(several, "Encounter")
    encounter["period"] = {"start": "2022-05-02", "end": "2022-05-01"}
    i_cond, condition = _first(several, "Condition")
    condition["code"] = {"coding": [{"system": ICD10CM, "code": "not a code"}]}
    several["entry"].append({"fullUrl": "urn:uuid:x", "request": {"method": "DELETE", "url": "Patient/1"}})
    last = len(several["entry"]) - 1
    out["several_problems"] = (
        dumps(several),
        [
            (i_pat, "Patient.name"),
            (i_cov, "Coverage.period.start"),
            (i_enc, "Encounter.period.end"),
            (i_cond, "Condition.code.coding[0].code"),
            (last, f"Bundle.entry[{last}]"),
            (last, f"Bundle.entry[{last}].request"),
        ],
    )
    return out
