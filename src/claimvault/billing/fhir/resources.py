"""FHIR R4B views of ClaimVault records: Patient, Coverage and Claim, a searchset Bundle and OperationOutcome.

Each builder takes plain values (a ``PatientOut``/``CoverageOut`` dump, a ``ClaimDocument``) that the PHI gate
has already decrypted and audited, validates the resource with fhir.resources' R4B model, and returns a JSON-ready
dict. No storage access.

Identifiers: ClaimVault's own ids use ``urn:claimvault:<kind>`` systems (the resource id is the record's UUID);
NPIs use ``http://hl7.org/fhir/sid/us-npi``. The SSN is left out of Patient by default: a FHIR view is for reading
and exchange, where the SSN is not needed (minimum necessary), and it is the identifier most harmful to leak; a
caller with a documented need passes ``include_ssn=True`` and gets it (only an unmasked one) under the official
``http://hl7.org/fhir/sid/us-ssn`` system. Fields withheld from the reader are left out, and the resource is
labelled ``REDACTED`` in ``meta.security``. ICD-10-CM codes are shown with their dot, as FHIR usage has them;
CPT/HCPCS codes carry no descriptors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from claimvault.billing.claims.document import ClaimDocument, Provider, Subscriber
from claimvault.billing.fhir.plan import ICD10CM_SYSTEM, Problem

PATIENT_SYSTEM = "urn:claimvault:patient"
COVERAGE_SYSTEM = "urn:claimvault:coverage"
CLAIM_SYSTEM = "urn:claimvault:claim"
MRN_SYSTEM = "urn:claimvault:mrn"
CONTROL_NUMBER_SYSTEM = "urn:claimvault:patient-control-number"
PAYER_ID_SYSTEM = "urn:claimvault:payer-id"
PAYER_CLAIM_SYSTEM = "urn:claimvault:payer-claim-control-number"
FREQUENCY_EXTENSION = "urn:claimvault:fhir:claim-frequency-code"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "urn:oid:2.16.840.1.113883.6.285"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
RELATED_CLAIM = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
SECURITY = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
GENDER = {"M": "male", "F": "female", "U": "unknown"}
ORDER = {"primary": 1, "secondary": 2, "tertiary": 3}
CLAIM_STATUS = {"active", "cancelled", "draft", "entered-in-error"}
# ClaimVault claim states to Claim.status: a claim stays "active" from submission to payment; a void is cancelled.
CLAIM_STATUS_FROM = {"draft": "draft", "void": "cancelled", "voided": "cancelled", "deleted": "entered-in-error"}


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    model = get_fhir_model_class(data["resourceType"])
    result: dict[str, Any] = model.model_validate(data).model_dump(mode="json", exclude_none=True)
    return result


def _meta(values: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if values.get("row_version") is not None:
        meta["versionId"] = str(values["row_version"])
    updated = values.get("updated_at")
    if isinstance(updated, datetime):
        stamp = updated if updated.tzinfo is not None else updated.replace(tzinfo=UTC)
        meta["lastUpdated"] = stamp.isoformat()
    if values.get("withheld") or values.get("shredded"):
        meta["security"] = [{"system": SECURITY, "code": "REDACTED"}]
    return meta


def _day(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else None


def patient_resource(patient: Mapping[str, Any], *, include_ssn: bool = False) -> dict[str, Any]:
    """A Patient from a ``PatientOut`` dump (``PatientOut.model_dump()``). The SSN only with ``include_ssn`` and
    only when it is not masked."""
    pid = str(patient["id"])
    identifiers: list[dict[str, Any]] = [{"use": "official", "system": PATIENT_SYSTEM, "value": pid}]
    if patient.get("mrn"):
        mr = {"coding": [{"system": V2_0203, "code": "MR"}]}
        identifiers.append({"use": "usual", "type": mr, "system": MRN_SYSTEM, "value": patient["mrn"]})
    ssn = "".join(ch for ch in str(patient.get("ssn") or "") if ch.isdigit())
    if include_ssn and len(ssn) == 9:
        ss = {"coding": [{"system": V2_0203, "code": "SS"}]}
        identifiers.append({"type": ss, "system": SSN_SYSTEM, "value": f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"})
    data: dict[str, Any] = {"resourceType": "Patient", "id": pid, "identifier": identifiers}
    meta = _meta(patient)
    if meta:
        data["meta"] = meta
    name = {k: v for k, v in (("family", patient.get("family_name")), ("given", patient.get("given_name"))) if v}
    if name:
        data["name"] = [{"use": "official", **({"given": [name["given"]]} if "given" in name else {})}]
        if "family" in name:
            data["name"][0]["family"] = name["family"]
    telecom = [
        {"system": kind, "value": patient[field], **({"use": "home"} if kind == "phone" else {})}
        for kind, field in (("phone", "phone"), ("email", "email"))
        if patient.get(field)
    ]
    if telecom:
        data["telecom"] = telecom
    if patient.get("sex") in GENDER:
        data["gender"] = GENDER[patient["sex"]]
    if _day(patient.get("birth_date")):
        data["birthDate"] = _day(patient["birth_date"])
    lines = [patient[k] for k in ("address_line1", "address_line2") if patient.get(k)]
    address = {"line": lines, "city": patient.get("city"), "state": patient.get("state")}
    address["postalCode"] = patient.get("postal_code")
    address = {k: v for k, v in address.items() if v}
    if address:
        data["address"] = [{"use": "home", "type": "both", **address, "country": "US"}]
    return _validated(data)


def coverage_resource(coverage: Mapping[str, Any]) -> dict[str, Any]:
    """A Coverage from a ``CoverageOut`` dump. A subscriber other than the patient is a contained RelatedPerson."""
    cid, patient_ref = str(coverage["id"]), {"reference": f"Patient/{coverage['patient_id']}"}
    relationship = str(coverage.get("subscriber_relationship") or "self")
    data: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": cid,
        "identifier": [{"use": "official", "system": COVERAGE_SYSTEM, "value": cid}],
        "status": "active" if coverage.get("status", "active") == "active" else "cancelled",
        "beneficiary": patient_ref,
        "relationship": {"coding": [{"system": RELATIONSHIP_SYSTEM, "code": relationship}]},
        "payor": [{"display": coverage["payer_name"]}],
        "order": ORDER.get(str(coverage.get("rank")), 1),
        "period": {"start": _day(coverage["effective_from"])},
    }
    meta = _meta(coverage)
    if meta:
        data["meta"] = meta
    if coverage.get("effective_to"):
        data["period"]["end"] = _day(coverage["effective_to"])
    if coverage.get("member_id"):
        data["subscriberId"] = coverage["member_id"]
    if coverage.get("group_number"):
        group = {"coding": [{"system": COVERAGE_CLASS, "code": "group"}]}
        data["class"] = [{"type": group, "value": coverage["group_number"]}]
    if relationship == "self":
        data["subscriber"] = patient_ref
    else:
        person: dict[str, Any] = {"resourceType": "RelatedPerson", "id": "subscriber", "patient": patient_ref}
        name = {"family": coverage.get("subscriber_family_name"), "given": [coverage.get("subscriber_given_name")]}
        if name["family"] or coverage.get("subscriber_given_name"):
            person["name"] = [{k: v for k, v in name.items() if v and v != [None]}]
        if _day(coverage.get("subscriber_birth_date")):
            person["birthDate"] = _day(coverage["subscriber_birth_date"])
        data["contained"] = [person]
        data["subscriber"] = {"reference": "#subscriber"}
    return _validated(data)


def _money(value: Decimal) -> dict[str, Any]:
    return {"value": float(value.quantize(Decimal("0.01"))), "currency": "USD"}


def _procedure_system(code: str) -> str:
    """HCPCS Level II codes start with a letter; CPT codes (and CPT modifiers) with a digit."""
    return HCPCS_SYSTEM if code[:1].isalpha() else CPT_SYSTEM


def icd10cm_display_code(code: str) -> str:
    """``E119`` as ``E11.9`` (FHIR usage); three-character categories have no dot."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _provider_ref(provider: Provider) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": NPI_SYSTEM, "value": provider.npi}}
    if provider.entity == "organization" and provider.organization_name:
        ref["display"] = provider.organization_name
    return ref


def _insurance(subscribers: Iterable[Subscriber], coverage_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    entries = []
    for n, sub in enumerate(subscribers):
        coverage = (
            {"reference": f"Coverage/{coverage_ids[n]}"} if n < len(coverage_ids) else {"display": sub.payer.name}
        )
        entries.append({"sequence": n + 1, "focal": n == 0, "coverage": coverage})
    return entries


def claim_resource(
    document: ClaimDocument,
    *,
    status: str,
    patient_id: uuid.UUID | None = None,
    coverage_ids: Sequence[uuid.UUID] = (),
) -> dict[str, Any]:
    """A professional Claim from a ``ClaimDocument``. ``status`` is a FHIR Claim.status or a ClaimVault claim
    state (``draft``, ``void``; any other is ``active``); ``coverage_ids`` are the billed coverage's id and then
    the other coverages', in the document's order (without them the insurance names the payer only)."""
    patient = patient_id or document.patient_id
    if patient is None:
        raise ValueError("a Claim needs the patient's id")
    fhir_status = status if status in CLAIM_STATUS else CLAIM_STATUS_FROM.get(status, "active")
    starts = [line.service_date for line in document.lines]
    ends = [line.service_date_to or line.service_date for line in document.lines]
    created = document.created_on or (min(starts) if starts else None)
    data: dict[str, Any] = {
        "resourceType": "Claim",
        "id": str(document.claim_id),
        "identifier": [
            {"use": "official", "system": CLAIM_SYSTEM, "value": str(document.claim_id)},
            {"use": "secondary", "system": CONTROL_NUMBER_SYSTEM, "value": document.patient_control_number},
        ],
        "extension": [{"url": FREQUENCY_EXTENSION, "valueCode": document.frequency_code}],
        "status": fhir_status,
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": f"Patient/{patient}"},
        "provider": _provider_ref(document.billing_provider),
        "priority": {"coding": [{"system": PRIORITY, "code": "normal"}]},
        "insurer": {
            "identifier": {"system": PAYER_ID_SYSTEM, "value": document.subscriber.payer.payer_id},
            "display": document.subscriber.payer.name,
        },
        "insurance": _insurance((document.subscriber, *document.other_subscribers), coverage_ids),
        "total": _money(document.total_charge),
    }
    if created is not None:
        data["created"] = created.isoformat()
    if starts:
        data["billablePeriod"] = {"start": min(starts).isoformat(), "end": max(ends).isoformat()}
    team = [(p, role) for p, role in ((document.rendering_provider, "primary"),) if p is not None]
    team += [(p, "other") for p in (document.referring_provider,) if p is not None]
    if team:
        data["careTeam"] = [
            {
                "sequence": n + 1,
                "provider": _provider_ref(p),
                "role": {"coding": [{"system": CARE_TEAM_ROLE, "code": role}]},
            }
            for n, (p, role) in enumerate(team)
        ]
    if document.facility is not None:
        facility: dict[str, Any] = {"display": document.facility.name}
        if document.facility.npi:
            facility["identifier"] = {"system": NPI_SYSTEM, "value": document.facility.npi}
        data["facility"] = facility
    if document.original_reference:
        data["related"] = [
            {
                "reference": {"system": PAYER_CLAIM_SYSTEM, "value": document.original_reference},
                "relationship": {"coding": [{"system": RELATED_CLAIM, "code": "prior"}]},
            }
        ]
    if document.diagnoses:
        data["diagnosis"] = [
            {
                "sequence": n + 1,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": ICD10CM_SYSTEM, "code": icd10cm_display_code(dx.code)}]
                },
            }
            for n, dx in enumerate(document.diagnoses)
        ]
    items = []
    for n, line in enumerate(document.lines):
        item: dict[str, Any] = {
            "sequence": n + 1,
            "productOrService": {
                "coding": [{"system": _procedure_system(line.procedure_code), "code": line.procedure_code}]
            },
            "quantity": {"value": float(line.units)},
            "net": _money(line.charge),
            "locationCodeableConcept": {
                "coding": [{"system": POS_SYSTEM, "code": line.place_of_service or document.place_of_service}]
            },
        }
        if line.units:
            item["unitPrice"] = _money(line.charge / line.units)
        if line.diagnosis_pointers:
            item["diagnosisSequence"] = list(line.diagnosis_pointers)
        if line.modifiers:
            item["modifier"] = [{"coding": [{"system": _procedure_system(m), "code": m}]} for m in line.modifiers]
        if team and team[0][1] == "primary":
            item["careTeamSequence"] = [1]
        if line.service_date_to and line.service_date_to != line.service_date:
            period = {"start": line.service_date.isoformat(), "end": line.service_date_to.isoformat()}
            item["servicedPeriod"] = period
        else:
            item["servicedDate"] = line.service_date.isoformat()
        items.append(item)
    if items:
        data["item"] = items
    return _validated(data)


def searchset_bundle(
    resources: Sequence[Mapping[str, Any]],
    *,
    base_url: str,
    total: int | None = None,
    next_url: str | None = None,
) -> dict[str, Any]:
    """A searchset Bundle of built resources (each ``fullUrl`` is ``<base_url>/<Type>/<id>``). It has no ``self``
    link: search parameters may hold PHI, which is why such searches are POSTed, and echoing them would put them
    back in a URL. ``next_url`` must carry only a cursor, never a search value."""
    base = base_url.rstrip("/")
    data: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": dict(r),
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    if next_url:
        data["link"] = [{"relation": "next", "url": next_url}]
    if not data["entry"]:
        del data["entry"]
    return _validated(data)


@dataclass(frozen=True)
class OutcomeIssue:
    """One OperationOutcome issue. ``diagnostics`` must name fields or rules, never values."""

    code: str  # an IssueType: invalid, required, value, not-found, forbidden, security, processing, conflict, ...
    diagnostics: str | None = None
    severity: str = "error"  # fatal | error | warning | information
    expression: tuple[str, ...] = ()


def operation_outcome(issues: Sequence[OutcomeIssue]) -> dict[str, Any]:
    """An OperationOutcome (at least one issue is required by FHIR: an empty list gives an informational one)."""
    listed = list(issues) or [OutcomeIssue(code="informational", severity="information")]
    data = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": i.severity,
                "code": i.code,
                **({"diagnostics": i.diagnostics} if i.diagnostics else {}),
                **({"expression": list(i.expression)} if i.expression else {}),
            }
            for i in listed
        ],
    }
    return _validated(data)


def outcome_from_problems(problems: Iterable[Problem]) -> dict[str, Any]:
    """A rejected bundle's report as an OperationOutcome (``expression`` is the element path)."""
    return operation_outcome(
        [
            OutcomeIssue(
                code="invalid",
                diagnostics=str(p),
                expression=(p.path,) if p.path.split(".")[0].isalpha() else (),
            )
            for p in problems
        ]
    )


def outcome_from_validation_error(error: ValidationError, *, resource: str = "Parameters") -> dict[str, Any]:
    """A pydantic validation error (of a search or an update) as an OperationOutcome that quotes no input: each
    issue names the field and carries pydantic's message for ClaimVault's own schemas (which name no values)."""
    issues = []
    for err in error.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in err["loc"] if isinstance(part, str))
        issues.append(
            OutcomeIssue(
                code="required" if err["type"] == "missing" else "invalid",
                diagnostics=f"{path or resource}: {err['msg']}",
                expression=(f"{resource}.{path}",) if path else (),
            )
        )
    return operation_outcome(issues)
