"""FHIR R4B ExplanationOfBenefit, a read view of posted remittances: one resource per claim payment posted to a claim
(from an 835 or a paper EOB), with the payer, the payment and, per service line, the submitted, eligible (allowed)
and paid amounts, the patient's deductible, coinsurance and copay (PR-1, PR-2, PR-3), and every CAS adjustment as
an adjudication whose reason is the CARC code (codes only, no descriptions). Claim-level CAS are header-level
adjudications. A posting the payer later reversed reads as ``cancelled``; the reversal itself and unmatched claim
payments (no claim, no patient) are no ExplanationOfBenefit.

``eob_resource`` builds and validates the resource from plain values; ``read_eob`` and ``search_eobs`` read them
through the PHI gate with ``remittance:read`` (one audited read of the postings, then the claims' documents).
Search parameters are ids only (``_id``, ``patient``, ``claim``, ``_count``), so they may come in a URL as well as in
a ``POST _search`` body; errors name parameters, never values.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from claimvault.billing.claims.assembly import claim_documents
from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.claims.models import Claim
from claimvault.billing.encounters.models import ServiceLine
from claimvault.billing.fhir.resources import (
    CLAIM_TYPE,
    CPT_SYSTEM,
    HCPCS_SYSTEM,
    NPI_SYSTEM,
    PAYER_CLAIM_SYSTEM,
    PAYER_ID_SYSTEM,
    SECURITY,
)
from claimvault.billing.fhir.views import MAX_COUNT, Params, SearchRefused
from claimvault.billing.remittance.models import ClaimPaymentPosting, LinePosting, PostedAdjustment, Remittance
from claimvault.errors import NotFound
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

READ = Permission.REMITTANCE_READ
CLAIM_PAYMENT_SYSTEM = "urn:claimvault:claim-payment"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CARC_SYSTEM = "https://x12.org/codes/claim-adjustment-reason-codes"
CAS_GROUP_SYSTEM = "urn:claimvault:x12-claim-adjustment-group-code"  # CO, OA, PI, PR (CAS01)
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
REVERSAL = "22"
# PR reason codes (CARC) that are a patient share category of their own.
PATIENT_SHARES = {
    "1": (ADJUDICATION, "deductible"),
    "2": (C4BB_ADJUDICATION, "coinsurance"),
    "3": (ADJUDICATION, "copay"),
}
# CLP02 claim status codes, as the disposition (codes only).
DISPOSITION = {
    "1": "Processed as primary",
    "2": "Processed as secondary",
    "3": "Processed as tertiary",
    "4": "Denied",
    "19": "Processed as primary, forwarded to additional payer(s)",
    "20": "Processed as secondary, forwarded to additional payer(s)",
    "21": "Processed as tertiary, forwarded to additional payer(s)",
    "23": "Not our claim, forwarded to additional payer(s)",
}
SUPPORTED = frozenset({"_id", "_count", "patient", "claim"})


@dataclass(frozen=True, repr=False)
class PostedCas:
    group: str  # CO | OA | PI | PR
    reason: str  # CARC
    amount: Decimal

    def __repr__(self) -> str:
        return "PostedCas(...)"


@dataclass(frozen=True, repr=False)
class PostedLine:
    """One posted service line. ``line_number`` is the 1-based position in the claim's lines, or None when the
    payer's line matched none of them."""

    line_number: int | None
    charge: Decimal
    paid: Decimal
    allowed: Decimal | None
    units: Decimal | None
    adjustments: tuple[PostedCas, ...] = ()

    def __repr__(self) -> str:
        return "PostedLine(...)"


@dataclass(frozen=True, repr=False)
class PostedClaimPayment:
    """A claim payment posted to a claim, as decrypted through the gate, with the claim's document."""

    id: uuid.UUID
    claim: ClaimDocument
    patient_id: uuid.UUID
    coverage_id: uuid.UUID
    status_code: str  # CLP02
    outcome: str  # posted | reversed
    charge: Decimal
    paid: Decimal
    posted_at: datetime
    payment_date: date | None  # the remittance's BPR16 (None for a manual posting)
    payer_claim_number: str | None = None
    adjustments: tuple[PostedCas, ...] = ()  # claim level
    lines: tuple[PostedLine, ...] = ()
    withheld: bool = False

    def __repr__(self) -> str:
        return "PostedClaimPayment(...)"


def _money(value: Decimal) -> dict[str, Any]:
    return {"value": float(value.quantize(Decimal("0.01"))), "currency": "USD"}


def _category(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _procedure(code: str) -> dict[str, Any]:
    return _category(HCPCS_SYSTEM if code[:1].isalpha() else CPT_SYSTEM, code)


def _cas(adjustments: Sequence[PostedCas]) -> list[dict[str, Any]]:
    """Each CAS adjustment: category = its group code, reason = its CARC."""
    return [
        {"category": _category(CAS_GROUP_SYSTEM, a.group), "reason": _category(CARC_SYSTEM, a.reason),
         "amount": _money(a.amount)}
        for a in adjustments
    ]  # fmt: skip


def _shares(adjustments: Sequence[PostedCas]) -> list[dict[str, Any]]:
    """The patient's deductible, coinsurance and copay (summed PR-1, PR-2, PR-3), when there are any."""
    found = []
    for reason, (system, code) in PATIENT_SHARES.items():
        amounts = [a.amount for a in adjustments if a.group == "PR" and a.reason == reason]
        if amounts:
            found.append({"category": _category(system, code), "amount": _money(sum(amounts, Decimal("0.00")))})
    return found


def _item(line: PostedLine, sequence: int, claim: ClaimDocument) -> dict[str, Any]:
    billed = claim.lines[line.line_number - 1] if line.line_number is not None else None
    adjudication = [{"category": _category(ADJUDICATION, "submitted"), "amount": _money(line.charge)}]
    if line.allowed is not None:
        adjudication.append({"category": _category(ADJUDICATION, "eligible"), "amount": _money(line.allowed)})
    adjudication.append({"category": _category(ADJUDICATION, "benefit"), "amount": _money(line.paid)})
    adjudication += _shares(line.adjustments) + _cas(line.adjustments)
    item: dict[str, Any] = {"sequence": sequence, "adjudication": adjudication, "net": _money(line.charge)}
    if billed is None:
        item["productOrService"] = {**_category(DATA_ABSENT, "unknown"), "text": "unmatched service line"}
    else:
        item["productOrService"] = _procedure(billed.procedure_code)
        if billed.modifiers:
            item["modifier"] = [_procedure(m) for m in billed.modifiers]
        item["servicedDate"] = billed.service_date.isoformat()
    if line.units is not None:
        item["quantity"] = {"value": float(line.units)}
    return item


def eob_resource(payment: PostedClaimPayment) -> dict[str, Any]:
    """An ExplanationOfBenefit (R4B, validated with fhir.resources) for one posted claim payment."""
    claim = payment.claim
    payer = claim.subscriber.payer
    created = payment.posted_at if payment.posted_at.tzinfo else payment.posted_at.replace(tzinfo=UTC)
    identifiers = [{"use": "official", "system": CLAIM_PAYMENT_SYSTEM, "value": str(payment.id)}]
    if payment.payer_claim_number:
        identifiers.append({"use": "secondary", "system": PAYER_CLAIM_SYSTEM, "value": payment.payer_claim_number})
    provider: dict[str, Any] = {"identifier": {"system": NPI_SYSTEM, "value": claim.billing_provider.npi}}
    if claim.billing_provider.organization_name:
        provider["display"] = claim.billing_provider.organization_name
    data: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit",
        "id": str(payment.id),
        "identifier": identifiers,
        "status": "cancelled" if payment.outcome == "reversed" else "active",
        "type": _category(CLAIM_TYPE, "professional"),
        "use": "claim",
        "patient": {"reference": f"Patient/{payment.patient_id}"},
        "created": created.isoformat(),
        "insurer": {"identifier": {"system": PAYER_ID_SYSTEM, "value": payer.payer_id}, "display": payer.name},
        "provider": provider,
        "claim": {"reference": f"Claim/{claim.claim_id}"},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{payment.coverage_id}"}}],
        "total": [
            {"category": _category(ADJUDICATION, "submitted"), "amount": _money(payment.charge)},
            {"category": _category(ADJUDICATION, "benefit"), "amount": _money(payment.paid)},
        ],
        "payment": {"type": _category(PAYMENT_TYPE, "complete"), "amount": _money(payment.paid)},
    }
    if payment.status_code in DISPOSITION:
        data["disposition"] = DISPOSITION[payment.status_code]
    if payment.payment_date is not None:
        data["payment"]["date"] = payment.payment_date.isoformat()
    if payment.withheld:
        data["meta"] = {"security": [{"system": SECURITY, "code": "REDACTED"}]}
    starts = [line.service_date for line in claim.lines]
    if starts:
        ends = [line.service_date_to or line.service_date for line in claim.lines]
        data["billablePeriod"] = {"start": min(starts).isoformat(), "end": max(ends).isoformat()}
    extra = len(claim.lines)
    items = []
    for line in payment.lines:
        if line.line_number is None:
            extra += 1
        items.append(_item(line, line.line_number or extra, claim))
    if items:
        data["item"] = sorted(items, key=lambda i: int(i["sequence"]))
    header = _shares(payment.adjustments) + _cas(payment.adjustments)
    if header:
        data["adjudication"] = header
    model = get_fhir_model_class("ExplanationOfBenefit")
    result: dict[str, Any] = model.model_validate(data).model_dump(mode="json", exclude_none=True)
    return result


# --- reads through the gate ------------------------------------------------------------------------------------
def _payments(gate: PHIGate, postings: Sequence[Record]) -> list[PostedClaimPayment]:
    """The postings' values with their claims' documents, in the order given (claims out of reach are left out)."""
    postings = [p for p in postings if p.values.get("claim_id") is not None]
    if not postings:
        return []
    claim_ids = sorted({p["claim_id"] for p in postings})
    documents = claim_documents(gate=gate, claim_ids=claim_ids, permission=READ)
    claims = {
        cid: (encounter_id, coverage_id)
        for cid, encounter_id, coverage_id in gate.session.execute(
            select(Claim.id, Claim.encounter_id, Claim.coverage_id).where(Claim.id.in_(claim_ids))
        )
    }
    numbers: dict[uuid.UUID, int] = {}
    encounter_ids = sorted({e for e, _ in claims.values()})
    stmt = (
        select(ServiceLine.id, ServiceLine.encounter_id)
        .where(ServiceLine.encounter_id.in_(encounter_ids))
        .order_by(ServiceLine.encounter_id, ServiceLine.line_number)
    )
    counters: dict[uuid.UUID, int] = {}
    for line_id, encounter_id in gate.session.execute(stmt):  # claim order, as claim assembly has it
        counters[encounter_id] = counters.get(encounter_id, 0) + 1
        numbers[line_id] = counters[encounter_id]
    ids = [p.id for p in postings]
    lines: dict[uuid.UUID, list[LinePosting]] = {i: [] for i in ids}
    for row in gate.session.scalars(select(LinePosting).where(LinePosting.claim_payment_id.in_(ids))):
        lines[row.claim_payment_id].append(row)
    cas: dict[tuple[uuid.UUID, uuid.UUID | None], list[PostedCas]] = {}
    stmt_cas = select(PostedAdjustment).where(PostedAdjustment.claim_payment_id.in_(ids)).order_by(PostedAdjustment.id)
    for a in gate.session.scalars(stmt_cas):
        key = (a.claim_payment_id, a.line_posting_id)
        cas.setdefault(key, []).append(PostedCas(a.group_code, a.reason_code, a.amount))
    remittance_ids = sorted({p["remittance_id"] for p in postings if p.values.get("remittance_id") is not None})
    stmt_dates = select(Remittance.id, Remittance.payment_date).where(Remittance.id.in_(remittance_ids))
    paid_on: dict[uuid.UUID, date] = {rid: day for rid, day in gate.session.execute(stmt_dates)}
    found = []
    for p in postings:
        document = documents.get(p["claim_id"])
        if document is None:
            continue
        posted_lines = tuple(
            PostedLine(
                line_number=numbers.get(row.service_line_id) if row.service_line_id is not None else None,
                charge=row.charge,
                paid=row.paid,
                allowed=row.allowed,
                units=row.units,
                adjustments=tuple(cas.get((p.id, row.id), [])),
            )
            for row in sorted(lines[p.id], key=lambda r: r.position)
        )
        found.append(
            PostedClaimPayment(
                id=p.id,
                claim=document,
                patient_id=p["patient_id"],
                coverage_id=claims[p["claim_id"]][1],
                status_code=p["status_code"],
                outcome=p["outcome"],
                charge=p["charge"],
                paid=p["paid"],
                posted_at=p["posted_at"],
                payment_date=paid_on.get(p.values.get("remittance_id")),  # type: ignore[arg-type]
                payer_claim_number=p.values.get("payer_claim_number"),
                adjustments=tuple(cas.get((p.id, None), [])),
                lines=posted_lines,
                withheld=bool(p.masked) or bool(p.values.get("shredded")),
            )
        )
    return found


def _readable(stmt: Any) -> Any:
    """Claim payments that read as an ExplanationOfBenefit: posted to a claim, and not a reversal."""
    return stmt.where(
        ClaimPaymentPosting.claim_id.is_not(None),
        ClaimPaymentPosting.status_code != REVERSAL,
        ClaimPaymentPosting.outcome.in_(("posted", "reversed")),
    )


def read_eob(*, gate: PHIGate, posting_id: uuid.UUID) -> dict[str, Any]:
    """The ExplanationOfBenefit of one posted claim payment (its id is the posting's id)."""
    stmt = _readable(select(ClaimPaymentPosting).where(ClaimPaymentPosting.id == posting_id))
    found = _payments(gate, gate.select(stmt, model=ClaimPaymentPosting, permission=READ, action="read"))
    if not found:
        raise NotFound("No such record.")
    return eob_resource(found[0])


def _params(params: Params) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in params:
        if name not in SUPPORTED:
            known = ", ".join(sorted(SUPPORTED))
            raise SearchRefused(f"Unsupported ExplanationOfBenefit search parameter (supported: {known}).")
        if name in found:
            raise SearchRefused(f"The parameter {name} may be given once.")
        found[name] = value
    return found


def _id(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.rsplit("/", 1)[-1])
    except ValueError:
        raise SearchRefused(f"{name} must be a resource id or reference.") from None


def search_eobs(*, gate: PHIGate, params: Params) -> list[dict[str, Any]]:
    """By ``patient`` (a patient id) and/or ``claim`` (a claim id), newest first, or ``_id``; at most ``_count``."""
    found = _params(params)
    raw = found.get("_count", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise SearchRefused(f"_count must be a number from 1 to {MAX_COUNT}.")
    if "_id" in found:
        return [read_eob(gate=gate, posting_id=_id(found["_id"], "_id"))]
    if "patient" not in found and "claim" not in found:
        raise SearchRefused("Search ExplanationOfBenefit by patient or by claim.")
    stmt = _readable(select(ClaimPaymentPosting))
    patient_id = _id(found["patient"], "patient") if "patient" in found else None
    if patient_id is not None:
        stmt = stmt.where(ClaimPaymentPosting.patient_id == patient_id)
    if "claim" in found:
        stmt = stmt.where(ClaimPaymentPosting.claim_id == _id(found["claim"], "claim"))
    stmt = stmt.order_by(ClaimPaymentPosting.posted_at.desc(), ClaimPaymentPosting.id.desc()).limit(int(raw))
    postings = gate.select(stmt, model=ClaimPaymentPosting, permission=READ, action="search", about_patient=patient_id)
    return [eob_resource(p) for p in _payments(gate, postings)]
