"""Eligibility services: ask a payer whether a patient's coverage is active (a 270 built from the patient, the
coverage, the payer and the organization's billing provider), read the 271 answer, and keep the result with the
coverage. Keyword-only; everything goes through the PHI gate under ``eligibility:check`` (audited).

Outcomes: ``active`` / ``inactive`` with the plan's figures (copay, deductible and what remains, coinsurance,
out-of-pocket maximum); ``rejected`` with the payer's AAA reason codes; ``error`` with an ``error_code`` when the
clearinghouse failed or the answer could not be used -- then only the error row is kept (no figures, no file).
Set-up problems (no coverage, a coverage without a payer, a payer without a trading partner, no billing
provider) raise ``EligibilityUnavailable`` before anything is sent or written.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import or_, select

from claimvault.billing.claims.release import DatabaseControlNumbers
from claimvault.billing.claims.release import _envelope as partner_envelope
from claimvault.billing.clearinghouse.interfaces import TransportError
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.coverage.schemas import RANKS
from claimvault.billing.eligibility.models import EligibilityCheck  # puts the table in the metadata where used
from claimvault.billing.eligibility.schemas import EligibilityResultOut
from claimvault.billing.eligibility.transport import EligibilityTransport
from claimvault.billing.patients.models import Patient
from claimvault.billing.payers.models import Payer, TradingPartner
from claimvault.billing.providers.models import Provider
from claimvault.billing.x12.eligibility_270 import EligibilityPerson, EligibilityRequest, new_trace_number, write_270
from claimvault.billing.x12.eligibility_271 import (
    EligibilityFileRejected,
    EligibilityResponse,
    match_responses,
    parse_271,
    summarize,
)
from claimvault.errors import NotFound, ValidationFailed
from claimvault.security.crypto.blobs import BlobStore
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

CHECK = Permission.ELIGIBILITY_CHECK
AMOUNTS = ("copay", "deductible", "deductible_remaining", "coinsurance_percent", "out_of_pocket")
Sex = Literal["F", "M", "U"]


class EligibilityUnavailable(ValidationFailed):
    """The inquiry cannot be built: ``code`` says what is missing (never a value)."""

    code = "eligibility_unavailable"


def _out(record: Record) -> EligibilityResultOut:
    values: dict[str, Any] = dict(record.values)
    for name in AMOUNTS:
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    reasons = values.get("reject_reasons")
    values["reject_reasons"] = reasons.split(",") if reasons else []
    return EligibilityResultOut.model_validate({**values, "id": record.id, "withheld": sorted(record.masked)})


# --- building the inquiry ------------------------------------------------------------------------------------------
def _coverage(gate: PHIGate, patient_id: uuid.UUID, coverage_id: uuid.UUID | None, day: date) -> Record:
    """The coverage asked about: the one given (it must be this patient's and not entered in error), else the
    patient's active coverage in force on ``day``, primary first."""
    if coverage_id is None:
        rows = gate.session.execute(
            select(Coverage.id, Coverage.rank).where(
                Coverage.patient_id == patient_id,
                Coverage.status == "active",
                Coverage.effective_from <= day,
                or_(Coverage.effective_to.is_(None), Coverage.effective_to >= day),
            )
        ).all()
        if not rows:
            raise EligibilityUnavailable("The patient has no active coverage on this date.", code="no_coverage")
        coverage_id = min(rows, key=lambda r: (RANKS.index(r.rank), r.id)).id
    coverage = gate.get(Coverage, coverage_id, permission=CHECK)
    if coverage["patient_id"] != patient_id:
        raise NotFound("No such coverage for this patient.")
    if coverage["status"] != "active":
        raise EligibilityUnavailable("This coverage is not active (entered in error).", code="no_coverage")
    return coverage


def _partner(gate: PHIGate, coverage: Record) -> tuple[Payer, TradingPartner]:
    payer_id = coverage["payer_id"]
    payer = gate.session.get(Payer, payer_id) if payer_id is not None else None
    if payer is None:
        raise EligibilityUnavailable("The coverage has no configured payer.", code="coverage_without_payer")
    partner = gate.session.get(TradingPartner, payer.trading_partner_id) if payer.trading_partner_id else None
    if partner is None or not partner.active:
        raise EligibilityUnavailable(
            "The coverage's payer has no active trading partner.", code="payer_without_trading_partner"
        )
    return payer, partner


def _billing_provider(gate: PHIGate) -> Provider:
    """The organization's billing provider: an active provider that can bill, an organization before a person."""
    providers = list(gate.session.scalars(select(Provider).where(Provider.can_bill.is_(True), Provider.active)))
    if not providers:
        raise EligibilityUnavailable("The organization has no active billing provider.", code="no_billing_provider")
    return min(providers, key=lambda p: (p.entity != "organization", p.id))


def _provider_name(provider: Provider) -> str:
    if provider.entity == "organization":
        return provider.organization_name or ""
    return " ".join(n for n in (provider.family_name, provider.given_name) if n)


def _request(
    *, patient: Record, coverage: Record, payer: Payer, provider: Provider, trace: str, day: date
) -> EligibilityRequest:
    """Subscriber only (2000C) when the patient is the subscriber; otherwise the subscriber from the coverage and
    the patient as the dependent (2000D)."""
    member_id = coverage["member_id"]
    if member_id is None:
        raise EligibilityUnavailable("The coverage's member id is not available.", code="member_id_unavailable")
    sex = cast(Sex | None, patient["sex"] if patient["sex"] in ("F", "M", "U") else None)
    as_patient = EligibilityPerson(
        family_name=patient["family_name"] or "", given_name=patient["given_name"], birth_date=patient["birth_date"],
        sex=sex,
    )  # fmt: skip
    if coverage["subscriber_relationship"] == "self":
        subscriber, dependent = replace(as_patient, member_id=member_id), None
    else:
        subscriber = EligibilityPerson(
            family_name=coverage["subscriber_family_name"] or "", given_name=coverage["subscriber_given_name"],
            member_id=member_id, birth_date=coverage["subscriber_birth_date"],
        )  # fmt: skip
        dependent = as_patient
    return EligibilityRequest(
        trace_number=trace, payer_id=payer.payer_id, payer_name=payer.name, provider_npi=provider.npi,
        provider_name=_provider_name(provider), subscriber=subscriber, dependent=dependent, service_date=day,
    )  # fmt: skip


# --- reading the answer ----------------------------------------------------------------------------------------
def _outcome(response: EligibilityResponse) -> dict[str, Any]:
    """Status and the plan's figures (in network, service type 30) of one matched answer."""
    summary = summarize(response)
    if response.rejected:
        return {"status": "rejected", "reject_reasons": ",".join(summary.reject_reasons)[:120] or None}
    if summary.active is None:
        return {"status": "error", "error_code": "coverage_not_stated"}
    values: dict[str, Any] = {"status": "active" if summary.active else "inactive", "plan_name": response.plan_name}
    for name in AMOUNTS:
        amount = getattr(summary, name)
        values[name] = None if amount is None else str(amount)
    return values


def check_eligibility(
    *,
    gate: PHIGate,
    transport: EligibilityTransport,
    blobs: BlobStore,
    patient_id: uuid.UUID,
    coverage_id: uuid.UUID | None = None,
    service_date: date | None = None,
    now: datetime | None = None,
) -> EligibilityResultOut:
    """Ask the payer about the patient's coverage (the one given, else the active one in force, primary first) on
    ``service_date`` (today by default); store and return the result. The 270 is validated before it is sent; the
    271 is validated, matched to our trace number and kept as an encrypted blob (kind ``x12_inbound``)."""
    gate.authorize(CHECK, entity_type=EligibilityCheck.__tablename__)
    now = now or datetime.now(UTC)
    day = service_date or now.date()
    patient = gate.get(Patient, patient_id, permission=CHECK)
    coverage = _coverage(gate, patient_id, coverage_id, day)
    payer, partner = _partner(gate, coverage)
    provider = _billing_provider(gate)
    trace = new_trace_number()
    request = _request(patient=patient, coverage=coverage, payer=payer, provider=provider, trace=trace, day=day)
    data = write_270([request], partner_envelope(partner), DatabaseControlNumbers(gate, partner.id), created=now)
    values: dict[str, Any] = {
        "patient_id": patient_id, "coverage_id": coverage.id, "service_date": day, "trace_number": trace,
        "created_by": gate.ctx.actor_id,
    }  # fmt: skip
    try:
        answer = transport.exchange(data=data, trace_number=trace)
    except TransportError:
        return _store(gate, {**values, "status": "error", "error_code": "transport_failed"})
    try:
        matched = match_responses([trace], parse_271(answer)).get(trace)
    except EligibilityFileRejected:
        return _store(gate, {**values, "status": "error", "error_code": "response_invalid"})
    if matched is None:
        return _store(gate, {**values, "status": "error", "error_code": "response_unmatched"})
    outcome = _outcome(matched)
    if outcome["status"] != "error":
        blob = blobs.store(
            gate=gate, kind="x12_inbound", content_type="application/edi-x12", data=answer, patient_id=patient_id,
            permission=CHECK,
        )  # fmt: skip
        outcome["response_blob_id"] = blob.id
    return _store(gate, {**values, **outcome})


def _store(gate: PHIGate, values: dict[str, Any]) -> EligibilityResultOut:
    return _out(gate.create(EligibilityCheck, values, permission=CHECK))


# --- reading results ---------------------------------------------------------------------------------------------
def latest_eligibility(*, gate: PHIGate, coverage_id: uuid.UUID) -> EligibilityResultOut | None:
    """The newest check of a coverage (any status), or None if it was never checked."""
    gate.authorize(CHECK, entity_type=EligibilityCheck.__tablename__)
    patient_id = gate.session.scalar(select(Coverage.patient_id).where(Coverage.id == coverage_id))
    if patient_id is None:
        raise NotFound("No such coverage.")
    gate.check_in_scope(Coverage, coverage_id, CHECK)
    stmt = (
        select(EligibilityCheck)
        .where(EligibilityCheck.coverage_id == coverage_id)
        .order_by(EligibilityCheck.created_at.desc(), EligibilityCheck.id.desc())
        .limit(1)
    )
    found = gate.select(stmt, model=EligibilityCheck, permission=CHECK, action="read", about_patient=patient_id)
    return _out(found[0]) if found else None


def eligibility_history(*, gate: PHIGate, patient_id: uuid.UUID) -> list[EligibilityResultOut]:
    """Every check of the patient's coverages, newest first."""
    gate.authorize(CHECK, entity_type=EligibilityCheck.__tablename__)
    if gate.session.scalar(select(Patient.id).where(Patient.id == patient_id)) is None:
        raise NotFound("No such patient.")
    gate.check_in_scope(Patient, patient_id, CHECK)
    stmt = (
        select(EligibilityCheck)
        .where(EligibilityCheck.patient_id == patient_id)
        .order_by(EligibilityCheck.created_at.desc(), EligibilityCheck.id.desc())
    )
    records = gate.select(stmt, model=EligibilityCheck, permission=CHECK, action="list", about_patient=patient_id)
    return [_out(r) for r in records]


def check_patients_in_force(
    *,
    gate: PHIGate,
    transport: EligibilityTransport,
    blobs: BlobStore,
    service_date: date,
    limit: int = 20,
) -> dict[str, int]:
    """Check the first ``limit`` patients (by id) with an active coverage in force on ``service_date``, one inquiry
    each (the demo seeds results this way); returns how many ended in each status."""
    stmt = (
        select(Coverage.patient_id)
        .where(
            Coverage.status == "active",
            Coverage.effective_from <= service_date,
            or_(Coverage.effective_to.is_(None), Coverage.effective_to >= service_date),
        )
        .distinct()
        .order_by(Coverage.patient_id)
        .limit(limit)
    )
    tally: dict[str, int] = {}
    for patient_id in list(gate.session.scalars(stmt)):
        status: str
        try:
            status = check_eligibility(
                gate=gate, transport=transport, blobs=blobs, patient_id=patient_id, service_date=service_date
            ).status
        except ValidationFailed as unavailable:  # set-up problems (and data an X12 file cannot carry)
            status = unavailable.code
        tally[status] = tally.get(status, 0) + 1
    return tally
