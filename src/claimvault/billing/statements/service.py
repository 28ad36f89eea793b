"""The statement service: batch runs (one PDF per patient whose open patient balance is positive, stored as an
encrypted ``statement`` blob linked to the patient), the statement history of a patient, and a statement's PDF.

Everything protected (names, addresses, dates of service, procedure codes) is read through the PHI gate with
``statement:run``, which audits each read naming the patients. Balances come from the claim ledger
(``claim_balances`` of receivable claims, the same set as A/R). Aging is by date of service, per encounter:
current (0-30 days before the statement date), 31-60, 61-90, over 90. A run is idempotent per patient and
statement date (a unique index backs it): a patient who already has a statement of that day is skipped.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from claimvault.billing.claims.models import Claim
from claimvault.billing.claims.service import actor_of
from claimvault.billing.encounters.models import Encounter, ServiceLine
from claimvault.billing.patients.models import Patient
from claimvault.billing.providers.models import Provider
from claimvault.billing.remittance.ledger import RECEIVABLE, chunks
from claimvault.billing.remittance.models import ClaimBalance
from claimvault.billing.statements.models import DELIVERY_STATUSES, Statement, StatementRun
from claimvault.billing.statements.pdf import EncounterBalance, PracticeInfo, StatementDocument, render_statement
from claimvault.errors import NotFound, ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.crypto.blobs import BlobStore
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

RUN = Permission.STATEMENT_RUN
ZERO = Decimal("0.00")
PAY_WITHIN_DAYS = 30
BLOB_KIND = "statement"
PDF = "application/pdf"
Progress = Callable[[int, int], None]  # (done, total): fits rich.progress.Progress.update(task, completed=, total=)


@dataclass(frozen=True)
class StatementRunResult:
    """Counts only (and ids): safe to print."""

    run_id: uuid.UUID | None  # None when the run produced nothing (no run row is written then)
    statement_date: date
    patients_with_balance: int  # positive patient balances found
    statements_created: int
    already_issued: int  # had a statement of this date already
    zero_or_credit: int  # open patient balances netting to zero or a credit: no statement
    unreadable: int  # crypto-shredded patients: nothing to address a statement to
    total_due: Decimal  # of the statements created
    statement_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class StatementOut:
    id: uuid.UUID
    run_id: uuid.UUID
    patient_id: uuid.UUID
    statement_date: date
    account_number: str
    amount_due: Decimal
    aging: tuple[Decimal, Decimal, Decimal, Decimal]  # current, 31-60, 61-90, over 90
    encounter_count: int
    blob_id: uuid.UUID
    delivery_status: str
    created_at: datetime


@dataclass(frozen=True)
class _Prepared:
    patient_id: uuid.UUID
    document: StatementDocument
    delivery_status: str


def account_number(patient_id: uuid.UUID) -> str:
    """The patient's account number on statements: the random tail of our patient id (never an SSN or MRN)."""
    tail = patient_id.hex[-10:].upper()
    return f"{tail[:5]}-{tail[5:]}"


def aging_bucket(service_date: date | None, as_of: date) -> int:
    """0 current (0-30 days), 1 31-60, 2 61-90, 3 over 90. An unknown date counts as current."""
    if service_date is None:
        return 0
    days = (as_of - service_date).days
    return 0 if days <= 30 else 1 if days <= 60 else 2 if days <= 90 else 3


def _by_id(records: Iterable[Record]) -> dict[uuid.UUID, Record]:
    return {r.id: r for r in records}


def _select_in(gate: PHIGate, model: Any, column: Any, ids: Sequence[uuid.UUID], *order: Any) -> list[Record]:
    out: list[Record] = []
    for part in chunks(sorted(set(ids))):
        out += gate.select(select(model).where(column.in_(part)).order_by(*order), model=model, permission=RUN)
    return out


def _open_balances(gate: PHIGate) -> dict[uuid.UUID, list[Mapping[str, Any]]]:
    """Nonzero patient balances of receivable claims, per patient (scoped and audited by the gate)."""
    stmt = (
        select(ClaimBalance)
        .join(Claim, Claim.id == ClaimBalance.claim_id)
        .where(Claim.status.in_(RECEIVABLE), ClaimBalance.patient_balance != 0)
        .order_by(ClaimBalance.patient_id, ClaimBalance.claim_id)
    )
    per_patient: dict[uuid.UUID, list[Mapping[str, Any]]] = defaultdict(list)
    for row in gate.select(stmt, model=ClaimBalance, permission=RUN):
        per_patient[row["patient_id"]].append(row.values)
    return per_patient


def _procedure(line: Mapping[str, Any]) -> str:
    code = line.get("procedure_code") or "-"
    modifiers = [m for m in (line.get("modifiers") or "").split(",") if m]
    return "-".join([code, *modifiers])


def _address(patient: Mapping[str, Any]) -> tuple[str, ...]:
    city_line = " ".join(
        x for x in (f"{patient.get('city') or ''},", patient.get("state") or "", patient.get("postal_code") or "") if x
    )
    lines = (patient.get("address_line1"), patient.get("address_line2"), city_line if patient.get("city") else None)
    return tuple(x for x in lines if x)


def _prepare(
    gate: PHIGate,
    balances: Mapping[uuid.UUID, list[Mapping[str, Any]]],
    *,
    as_of: date,
    practice: PracticeInfo,
) -> tuple[list[_Prepared], int]:
    """Documents for the patients in ``balances`` (all reads through the gate); and how many were unreadable."""
    claim_ids = [b["claim_id"] for rows in balances.values() for b in rows]
    encounter_of: dict[uuid.UUID, uuid.UUID] = {}
    for part in chunks(sorted(claim_ids)):  # ids only: which encounter each claim bills
        encounter_of.update(gate.session.execute(select(Claim.id, Claim.encounter_id).where(Claim.id.in_(part))).all())
    patients = _by_id(_select_in(gate, Patient, Patient.id, list(balances)))
    encounter_ids = sorted(set(encounter_of.values()))
    encounters = _by_id(_select_in(gate, Encounter, Encounter.id, encounter_ids))
    lines: dict[uuid.UUID, list[Record]] = defaultdict(list)
    for line in _select_in(gate, ServiceLine, ServiceLine.encounter_id, encounter_ids, ServiceLine.line_number):
        lines[line["encounter_id"]].append(line)
    prepared, unreadable = [], 0
    for patient_id in sorted(balances):
        patient = patients.get(patient_id)
        if patient is None or patient.values.get("shredded") or not patient.values.get("family_name"):
            unreadable += 1
            continue
        per_encounter: dict[uuid.UUID, list[Mapping[str, Any]]] = defaultdict(list)
        for b in balances[patient_id]:
            per_encounter[encounter_of[b["claim_id"]]].append(b)
        items, aging = [], [ZERO, ZERO, ZERO, ZERO]
        for encounter_id, rows in per_encounter.items():
            encounter = encounters[encounter_id].values
            owed = sum((r["patient_balance"] for r in rows), ZERO)
            aging[aging_bucket(encounter.get("service_date"), as_of)] += owed
            items.append(
                EncounterBalance(
                    service_date=encounter.get("service_date"),
                    procedures=tuple(_procedure(x.values) for x in lines[encounter_id]),
                    charges=sum((x["charge"] for x in lines[encounter_id]), ZERO),
                    insurance_paid=sum((r["insurance_paid"] for r in rows), ZERO),
                    adjusted=sum((r["adjusted"] for r in rows), ZERO),
                    patient_paid=sum((r["patient_paid"] for r in rows), ZERO),
                    patient_balance=owed,
                )
            )
        items.sort(key=lambda e: (e.service_date or date.min, e.procedures))
        values = patient.values
        address = _address(values)
        document = StatementDocument(
            practice=practice,
            account_number=account_number(patient_id),
            statement_date=as_of,
            patient_name=" ".join(x for x in (values.get("given_name"), values.get("family_name")) if x),
            patient_address=address,
            encounters=items,
            aging=(aging[0], aging[1], aging[2], aging[3]),
            amount_due=sum((e.patient_balance for e in items), ZERO),
            due_by=as_of + timedelta(days=PAY_WITHIN_DAYS),
            messages=("Your insurance has processed these services; the amount due is your share.",),
        )
        prepared.append(_Prepared(patient_id, document, "pending" if address else "no_address"))
    return prepared, unreadable


def _record_run(gate: PHIGate, counts: Mapping[str, Any], as_of: date, actor: str) -> StatementRun:
    """The run row (counts, no patient): written directly, so a relationship-limited biller's run is not refused
    for lack of a patient, and audited as a create like every statement of the run."""
    org_id = gate.ctx.organization_id
    assert org_id is not None  # the gate refuses a context without an organization
    run = StatementRun(organization_id=org_id, statement_date=as_of, created_by=actor, **counts)
    gate.session.add(run)
    gate.session.flush()
    event = build_event(
        gate.ctx,
        action="create",
        permission=RUN.value,
        entity_type=StatementRun.__tablename__,
        entity_id=run.id,
        fields=sorted(counts),
    )
    record(gate.session, event)
    return run


def run_statements(
    *,
    gate: PHIGate,
    blobs: BlobStore,
    as_of: date,
    practice_info: PracticeInfo,
    progress: Progress | None = None,
) -> StatementRunResult:
    """One statement per patient whose open patient balance is positive and who has none dated ``as_of`` yet:
    PDF rendered in memory, stored encrypted, and recorded with its run. All in the gate's transaction."""
    gate.authorize(RUN, entity_type=Statement.__tablename__)
    balances = _open_balances(gate)
    totals = {p: sum((r["patient_balance"] for r in rows), ZERO) for p, rows in balances.items()}
    due = {p for p, total in totals.items() if total > 0}
    issued: set[uuid.UUID] = set()
    for part in chunks(sorted(due)):
        issued.update(
            gate.session.scalars(
                select(Statement.patient_id).where(Statement.statement_date == as_of, Statement.patient_id.in_(part))
            )
        )
    todo = {p: balances[p] for p in sorted(due - issued)}
    prepared, unreadable = _prepare(gate, todo, as_of=as_of, practice=practice_info) if todo else ([], 0)
    total_due = sum((p.document.amount_due for p in prepared), ZERO)
    counts = {
        "patients_with_balance": len(due),
        "already_issued": len(issued),
        "zero_or_credit": len(totals) - len(due),
    }
    if not prepared:
        return StatementRunResult(
            None, as_of, **counts, statements_created=0, unreadable=unreadable, total_due=ZERO, statement_ids=()
        )
    actor = actor_of(gate)
    run = _record_run(gate, {**counts, "statements_created": len(prepared), "total_due": total_due}, as_of, actor)
    created: list[uuid.UUID] = []
    for done, item in enumerate(prepared, start=1):
        pdf = render_statement(item.document)
        ref = blobs.store(
            gate=gate, kind=BLOB_KIND, content_type=PDF, data=pdf, patient_id=item.patient_id, permission=RUN
        )
        doc = item.document
        row = gate.create(
            Statement,
            {
                "run_id": run.id,
                "patient_id": item.patient_id,
                "statement_date": as_of,
                "amount_due": doc.amount_due,
                "aging_current": doc.aging[0],
                "aging_31_60": doc.aging[1],
                "aging_61_90": doc.aging[2],
                "aging_over_90": doc.aging[3],
                "encounter_count": len(doc.encounters),
                "blob_id": ref.id,
                "delivery_status": item.delivery_status,
                "created_by": actor,
            },
            permission=RUN,
        )
        created.append(row.id)
        if progress is not None:
            progress(done, len(prepared))
    return StatementRunResult(
        run.id,
        as_of,
        **counts,
        statements_created=len(created),
        unreadable=unreadable,
        total_due=total_due,
        statement_ids=tuple(created),
    )


def _out(record: Record) -> StatementOut:
    v = record.values
    return StatementOut(
        id=record.id,
        run_id=v["run_id"],
        patient_id=v["patient_id"],
        statement_date=v["statement_date"],
        account_number=account_number(v["patient_id"]),
        amount_due=v["amount_due"],
        aging=(v["aging_current"], v["aging_31_60"], v["aging_61_90"], v["aging_over_90"]),
        encounter_count=v["encounter_count"],
        blob_id=v["blob_id"],
        delivery_status=v["delivery_status"],
        created_at=v["created_at"],
    )


def statement_history(*, gate: PHIGate, patient_id: uuid.UUID) -> list[StatementOut]:
    """A patient's statements, newest first (audited as a list about that patient, even when empty)."""
    stmt = (
        select(Statement)
        .where(Statement.patient_id == patient_id)
        .order_by(Statement.statement_date.desc(), Statement.id.desc())
    )
    return [_out(r) for r in gate.select(stmt, model=Statement, permission=RUN, about_patient=patient_id)]


def statement_pdf(*, gate: PHIGate, blobs: BlobStore, statement_id: uuid.UUID) -> bytes:
    """The statement's PDF, decrypted: the statement read and the file read are both audited."""
    record = gate.get(Statement, statement_id, permission=RUN)
    return blobs.read(gate=gate, blob_id=record["blob_id"], permission=RUN)


def set_delivery_status(*, gate: PHIGate, statement_id: uuid.UUID, status: str) -> StatementOut:
    """Record how the statement went out (printed, mailed, sent to the portal) or came back (returned)."""
    if status not in DELIVERY_STATUSES:
        raise ValidationFailed(f"Unknown delivery status (allowed: {', '.join(DELIVERY_STATUSES)}).")
    return _out(gate.update(Statement, statement_id, {"delivery_status": status}, permission=RUN))


def practice_info_from_billing_provider(
    *, gate: PHIGate, portal_url: str | None = None, phone: str | None = None
) -> PracticeInfo:
    """The practice header and remit-to address from the organization's first active billing provider (an
    organization with an address; those columns are plain directory data)."""
    gate.authorize(RUN, entity_type=Provider.__tablename__)
    provider = gate.session.scalars(
        select(Provider)
        .where(Provider.can_bill.is_(True), Provider.active.is_(True), Provider.entity == "organization")
        .order_by(Provider.created_at, Provider.id)
    ).first()
    if provider is None or not provider.address_line1 or not provider.organization_name:
        raise NotFound("No active billing provider with an address is set up for this organization.")
    postal = provider.postal_code or ""
    postal = f"{postal[:5]}-{postal[5:]}" if len(postal) == 9 else postal
    lines = (provider.address_line1, provider.address_line2, f"{provider.city}, {provider.state} {postal}")
    raw_phone = phone or provider.contact_phone
    shown_phone = (
        f"({raw_phone[:3]}) {raw_phone[3:6]}-{raw_phone[6:]}" if raw_phone and len(raw_phone) == 10 else raw_phone
    )
    return PracticeInfo(
        name=provider.organization_name,
        address_lines=tuple(x for x in lines if x),
        phone=shown_phone,
        portal_url=portal_url,
    )
