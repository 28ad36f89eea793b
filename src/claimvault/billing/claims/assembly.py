"""Builds ``ClaimDocument``s from storage, through the PHI gate: one audited read per table for a whole batch of
claims (claims, encounters, diagnoses, lines, patients, coverages, providers, facilities, payers), so scrubbing or
exporting a thousand claims writes a handful of audit events that name every patient, not thousands."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import select

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
from claimvault.billing.claims.models import Claim
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.encounters.models import Encounter
from claimvault.billing.encounters.service import encounter_parts
from claimvault.billing.patients.models import Patient
from claimvault.billing.payers.models import Payer as PayerRow
from claimvault.billing.providers.models import Facility as FacilityRow
from claimvault.billing.providers.models import Provider as ProviderRow
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission


def _digits(value: str | None) -> str | None:
    return None if value is None else "".join(ch for ch in value if ch.isdigit())


def _address(values: Mapping[str, Any]) -> Address | None:
    if not values.get("address_line1") or not values.get("city"):
        return None
    return Address(
        line1=values["address_line1"],
        line2=values.get("address_line2"),
        city=values["city"],
        state=values.get("state") or "",
        postal_code=_digits(values.get("postal_code")) or "",
    )


def _provider(record: Record | None) -> Provider | None:
    if record is None:
        return None
    v = record.values
    return Provider(
        npi=v["npi"],
        entity=v["entity"],
        organization_name=v.get("organization_name"),
        family_name=v.get("family_name"),
        given_name=v.get("given_name"),
        taxonomy=v.get("taxonomy"),
        tax_id=v.get("tax_id"),
        tax_id_kind=v.get("tax_id_kind") or "EI",
        address=_address(v),
        contact_name=v.get("contact_name"),
        contact_phone=v.get("contact_phone"),
    )


def _payer(record: Record) -> Payer:
    v = record.values
    return Payer(
        payer_id=v["payer_id"],
        name=v["name"],
        claim_filing_indicator=v["claim_filing_indicator"],
        timely_filing_days=v.get("timely_filing_days"),
        address=_address(v),
    )


def _patient_person(record: Record) -> Person:
    v = record.values
    return Person(
        given_name=v.get("given_name") or "",
        family_name=v.get("family_name") or "",
        birth_date=v.get("birth_date"),
        sex=v.get("sex") or "U",
        address=_address(v),
    )


def _subscriber(coverage: Record, payer: Payer, patient: Person) -> Subscriber:
    v = coverage.values
    relationship = v["subscriber_relationship"]
    person = patient
    if relationship != "self":
        person = Person(
            given_name=v.get("subscriber_given_name") or "",
            family_name=v.get("subscriber_family_name") or "",
            birth_date=v.get("subscriber_birth_date"),
            sex="U",
            address=patient.address,  # the insured's address is not kept; the patient's household is assumed
        )
    return Subscriber(
        rank=v["rank"],
        payer=payer,
        member_id=v.get("member_id") or "",
        person=person,
        relationship=relationship,
        group_number=v.get("group_number"),
    )


def _by_id(records: Iterable[Record]) -> dict[uuid.UUID, Record]:
    return {r.id: r for r in records}


def claim_documents(
    *, gate: PHIGate, claim_ids: list[uuid.UUID], permission: Permission = Permission.CLAIM_READ
) -> dict[uuid.UUID, ClaimDocument]:
    """The documents of ``claim_ids`` (those the caller reaches), keyed by claim id."""
    if not claim_ids:
        return {}
    claims = gate.select(select(Claim).where(Claim.id.in_(claim_ids)), model=Claim, permission=permission)
    if not claims:
        return {}
    encounter_ids = sorted({c["encounter_id"] for c in claims})
    patient_ids = sorted({c["patient_id"] for c in claims})
    encounters = _by_id(
        gate.select(select(Encounter).where(Encounter.id.in_(encounter_ids)), model=Encounter, permission=permission)
    )
    diagnoses, lines = encounter_parts(gate=gate, encounter_ids=encounter_ids, permission=permission)
    patients = _by_id(
        gate.select(select(Patient).where(Patient.id.in_(patient_ids)), model=Patient, permission=permission)
    )
    coverages = gate.select(
        select(Coverage).where(Coverage.patient_id.in_(patient_ids), Coverage.status == "active"),
        model=Coverage,
        permission=permission,
    )
    provider_ids = {
        e[name]
        for e in encounters.values()
        for name in ("billing_provider_id", "rendering_provider_id", "referring_provider_id")
        if e.values.get(name) is not None
    }
    providers = _by_id(
        gate.select(
            select(ProviderRow).where(ProviderRow.id.in_(provider_ids)), model=ProviderRow, permission=permission
        )
    )
    facility_ids = {e["facility_id"] for e in encounters.values() if e.values.get("facility_id") is not None}
    facilities = _by_id(
        gate.select(
            select(FacilityRow).where(FacilityRow.id.in_(facility_ids)), model=FacilityRow, permission=permission
        )
    )
    payer_ids = {c["payer_id"] for c in coverages if c.values.get("payer_id") is not None}
    payers = {
        k: _payer(v)
        for k, v in _by_id(
            gate.select(select(PayerRow).where(PayerRow.id.in_(payer_ids)), model=PayerRow, permission=permission)
        ).items()
    }

    documents: dict[uuid.UUID, ClaimDocument] = {}
    for claim in claims:
        encounter = encounters[claim["encounter_id"]]
        patient = _patient_person(patients[claim["patient_id"]])
        service_date: date | None = encounter.values.get("service_date")
        billed = next(c for c in coverages if c.id == claim["coverage_id"])
        others = [
            c
            for c in coverages
            if c["patient_id"] == claim["patient_id"]
            and c.id != billed.id
            and c.values.get("payer_id") in payers
            and service_date is not None
            and c["effective_from"] <= service_date
            and (c.values.get("effective_to") is None or c["effective_to"] >= service_date)
        ]
        facility = facilities.get(encounter.values.get("facility_id"))  # type: ignore[arg-type]
        doc_lines = tuple(
            ServiceLine(
                procedure_code=r.values.get("procedure_code") or "",
                charge=r["charge"],
                units=r["units"],
                service_date=service_date or date.min,
                service_date_to=encounter.values.get("service_date_to"),
                diagnosis_pointers=tuple(int(p) for p in r["diagnosis_pointers"].split(",") if p),
                modifiers=tuple(m for m in (r.values.get("modifiers") or "").split(",") if m),
                place_of_service=r.values.get("place_of_service"),
            )
            for r in lines[encounter.id]
        )
        documents[claim.id] = ClaimDocument(
            claim_id=claim.id,
            patient_control_number=claim["control_number"],
            total_charge=claim["total_charge"],
            place_of_service=encounter["place_of_service"],
            frequency_code=claim["frequency_code"],
            billing_provider=_provider(providers.get(encounter.values.get("billing_provider_id")))  # type: ignore[arg-type]
            or Provider(npi="", entity="organization"),
            subscriber=_subscriber(billed, payers[billed["payer_id"]], patient),
            patient=patient,
            diagnoses=tuple(Diagnosis(code=r.values.get("code") or "") for r in diagnoses[encounter.id]),
            lines=doc_lines,
            rendering_provider=_provider(providers.get(encounter.values.get("rendering_provider_id"))),  # type: ignore[arg-type]
            referring_provider=_provider(providers.get(encounter.values.get("referring_provider_id"))),  # type: ignore[arg-type]
            facility=None
            if facility is None or _address(facility.values) is None
            else Facility(name=facility["name"], address=_address(facility.values), npi=facility.values.get("npi")),  # type: ignore[arg-type]
            other_subscribers=tuple(
                _subscriber(c, payers[c["payer_id"]], patient)
                for c in sorted(others, key=lambda c: ("primary", "secondary", "tertiary").index(c["rank"]))
            ),
            original_reference=claim.values.get("original_reference"),
            patient_id=claim["patient_id"],
            created_on=claim["created_at"].date(),
        )
    return documents
