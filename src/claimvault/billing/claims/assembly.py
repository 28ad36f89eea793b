"""Builds ``ClaimDocument``s from storage, through the PHI gate: one audited read per table for a whole batch of
claims (claims, encounters, diagnoses, lines, patients, coverages, providers, facilities, payers), so scrubbing or
exporting a thousand claims writes a handful of audit events that name every patient, not thousands. Each
document carries the patient's other active coverages on the date of service as ``other_subscribers`` and as
``other_payers``, and its place in the payment sequence from the claim's coverage rank.

A secondary or tertiary claim also carries each earlier payer's adjudication (837P 2320/2330B/2430), taken from the
latest live posting (835 or paper EOB; reversed postings and the reversals themselves are ignored) of that payer's
claim for the same encounter: paid amount (CLP04), adjudication date (the remittance's payment date; a manual
posting's day), claim-level CAS, the payer's claim number, and per line SVD paid, units and CAS with the remaining
patient liability (the line's PR). The postings are one more audited read for the whole batch. A posted line
keeps no SVC01, so SVD carries the billed line's procedure code and modifiers; a posted line that names no service
line of the claim (or one already adjudicated, or with another charge) moves its CAS to claim level, which keeps
the guide's balance (total charge = paid + every CAS) whenever the payer's claim charge was the claim's."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from claimvault.billing.claims.document import (
    X12_RESPONSIBILITY,
    Address,
    Adjudication,
    Adjustment,
    ClaimDocument,
    Diagnosis,
    Facility,
    LineAdjudication,
    OtherPayer,
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
from claimvault.billing.remittance.models import ClaimPaymentPosting, LinePosting, PostedAdjustment, Remittance
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


RANKS = ("primary", "secondary", "tertiary")
REVERSAL = "22"  # CLP02: a reversal of an earlier payment
CAS_GROUPS = frozenset({"CO", "CR", "OA", "PI", "PR"})
ZERO = Decimal("0.00")
# (encounter id, rank, payer row id) of an earlier payer's claim -> that payer's adjudication
AdjudicationKey = tuple[uuid.UUID, str, uuid.UUID]


def _adjustment(row: PostedAdjustment) -> Adjustment:
    return Adjustment(group=row.group_code, reason=row.reason_code, amount=row.amount, quantity=row.quantity)  # type: ignore[arg-type]


def _patient_share(adjustments: Iterable[Adjustment]) -> Decimal:
    return sum((a.amount for a in adjustments if a.group == "PR"), ZERO)


def _adjudication(
    posting: Record,
    *,
    paid_on: date,
    lines: list[LinePosting],
    adjustments: list[PostedAdjustment],
    billed: list[Record],
) -> Adjudication:
    """One payer's adjudication from its posting. ``billed`` are the encounter's service lines in claim order."""
    numbers = {r.id: n for n, r in enumerate(billed, start=1)}
    by_line: dict[uuid.UUID | None, list[Adjustment]] = {}
    for a in adjustments:
        if a.group_code in CAS_GROUPS:
            by_line.setdefault(a.line_posting_id, []).append(_adjustment(a))
    claim_level = list(by_line.get(None, []))
    found: list[LineAdjudication] = []
    for line in sorted(lines, key=lambda r: r.position):
        line_cas = by_line.get(line.id, [])
        number = numbers.get(line.service_line_id) if line.service_line_id is not None else None
        target = billed[number - 1] if number is not None else None
        if target is None or target["charge"] != line.charge or any(f.line_number == number for f in found):
            claim_level += line_cas  # cannot be placed on one of the claim's lines: balanced at claim level
            continue
        assert number is not None
        found.append(
            LineAdjudication(
                line_number=number,
                paid_amount=line.paid,
                procedure_code=target.values.get("procedure_code") or "",
                units=line.units if line.units is not None else target["units"],
                modifiers=tuple(m for m in (target.values.get("modifiers") or "").split(",") if m),
                adjustments=tuple(line_cas),
                remaining_patient_liability=_patient_share(line_cas),
            )
        )
    liability = None
    if not found:
        liability = posting.values.get("patient_responsibility")
        if liability is None:
            liability = _patient_share(claim_level)
    return Adjudication(
        paid_amount=posting["paid"],
        adjudication_date=paid_on,
        adjustments=tuple(claim_level),
        lines=tuple(found),
        remaining_patient_liability=liability,
        payer_claim_number=posting.values.get("payer_claim_number") or None,
    )


def posted_adjudications(
    *,
    gate: PHIGate,
    claims: Iterable[Record],
    lines: Mapping[uuid.UUID, list[Record]],
    permission: Permission,
) -> dict[AdjudicationKey, Adjudication]:
    """The adjudications of the payers ahead of the secondary and tertiary ``claims`` (keyed by encounter, rank and
    payer), from the latest live posting of each earlier payer's claim for the same encounter. ``lines`` are the
    encounters' service lines in claim order. One audited read of the postings for the whole batch; their lines,
    adjustments and remittance dates hold codes and amounts only."""
    wanted = {
        (c["encounter_id"], rank)
        for c in claims
        if (c.values.get("rank") or "primary") in RANKS[1:]
        for rank in RANKS[: RANKS.index(c.values.get("rank") or "primary")]
    }
    if not wanted:
        return {}
    earlier = {
        claim_id: (encounter_id, rank, payer_id)
        for claim_id, encounter_id, rank, payer_id in gate.session.execute(
            select(Claim.id, Claim.encounter_id, Claim.rank, Claim.payer_id).where(
                Claim.encounter_id.in_(sorted({e for e, _ in wanted})), Claim.rank.in_(RANKS[:2])
            )
        )
        if (encounter_id, rank) in wanted
    }
    if not earlier:
        return {}
    postings = gate.select(
        select(ClaimPaymentPosting).where(
            ClaimPaymentPosting.claim_id.in_(sorted(earlier)),
            ClaimPaymentPosting.outcome == "posted",
            ClaimPaymentPosting.status_code != REVERSAL,
        ),
        model=ClaimPaymentPosting,
        permission=permission,
    )
    latest: dict[AdjudicationKey, Record] = {}
    for p in sorted(postings, key=lambda r: (r["posted_at"], r.id)):
        latest[earlier[p["claim_id"]]] = p  # the last one posted wins
    if not latest:
        return {}
    ids = [p.id for p in latest.values()]
    line_rows: dict[uuid.UUID, list[LinePosting]] = {i: [] for i in ids}
    for row in gate.session.scalars(select(LinePosting).where(LinePosting.claim_payment_id.in_(ids))):
        line_rows[row.claim_payment_id].append(row)
    adjustment_rows: dict[uuid.UUID, list[PostedAdjustment]] = {i: [] for i in ids}
    stmt = select(PostedAdjustment).where(PostedAdjustment.claim_payment_id.in_(ids)).order_by(PostedAdjustment.id)
    for adj in gate.session.scalars(stmt):
        adjustment_rows[adj.claim_payment_id].append(adj)
    remittance_ids = {p["remittance_id"] for p in latest.values() if p.values.get("remittance_id") is not None}
    stmt_dates = select(Remittance.id, Remittance.payment_date).where(Remittance.id.in_(remittance_ids))
    paid_on: dict[uuid.UUID, date] = {rid: day for rid, day in gate.session.execute(stmt_dates)}
    return {
        key: _adjudication(
            p,
            paid_on=paid_on.get(p.values.get("remittance_id")) or p["posted_at"].date(),  # type: ignore[arg-type]
            lines=line_rows[p.id],
            adjustments=adjustment_rows[p.id],
            billed=lines.get(key[0], []),
        )
        for key, p in latest.items()
    }


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

    adjudications = posted_adjudications(gate=gate, claims=claims, lines=lines, permission=permission)

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
        others.sort(key=lambda c: RANKS.index(c["rank"]))
        other_subscribers = tuple(_subscriber(c, payers[c["payer_id"]], patient) for c in others)
        rank: str = claim.values.get("rank") or billed["rank"]
        other_payers = tuple(
            OtherPayer.from_subscriber(
                sub,
                adjudication=adjudications.get((encounter.id, c["rank"], c["payer_id"]))
                if RANKS.index(c["rank"]) < RANKS.index(rank)
                else None,
            )
            for c, sub in zip(others, other_subscribers, strict=True)
        )
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
            other_subscribers=other_subscribers,
            other_payers=other_payers,
            payer_responsibility=X12_RESPONSIBILITY[rank],  # type: ignore[arg-type]
            original_reference=claim.values.get("original_reference"),
            patient_id=claim["patient_id"],
            created_on=claim["created_at"].date(),
        )
    return documents
