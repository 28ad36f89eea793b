"""The claim ledger: every money movement of a claim as signed deltas of two buckets (insurance: still expected
from the payer; patient: owed by the patient), per service line where there is one, and the running balances.

A claim's ledger opens the first time money posts to it, with one ``charge`` entry per service line (insurance +
charge). Payer payments and CO/OA/PI write-offs lower the insurance bucket; a PR share moves an amount from the
insurance to the patient bucket; a patient payment lowers the patient bucket. ``claim_balances`` keeps the sums.

Concurrency: ``Ledger.lock`` takes row locks (``SELECT ... FOR UPDATE``, ordered by claim id) on the claims and
then their balance rows before anything changes, so posters and patient payments on the same accounts queue
instead of losing updates, and always lock in the same order (no deadlock between them). SQLite serialises
writers by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from claimvault.billing.claims.models import Claim
from claimvault.billing.claims.service import actor_of
from claimvault.billing.encounters.models import ServiceLine
from claimvault.billing.remittance.models import ClaimBalance, LedgerEntry
from claimvault.errors import NotFound, ValidationFailed
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission

POST = Permission.REMITTANCE_POST
READ = Permission.REMITTANCE_READ
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
CHUNK = 500
PAYMENT_METHODS = frozenset({"cash", "check", "card", "other"})
# Claims whose charge is still owed by somebody (sent, and not superseded, closed or rejected).
RECEIVABLE = ("exported", "submitted", "accepted", "paid", "partially_paid", "denied", "appealed")


@dataclass(frozen=True)
class Movement:
    """One ledger entry to write. ``insurance`` and ``patient`` are signed changes of the two balances."""

    claim_id: uuid.UUID
    kind: str  # charge | payer_paid | write_off | patient_share | patient_paid | patient_refund | patient_write_off
    insurance: Decimal
    patient: Decimal = ZERO
    service_line_id: uuid.UUID | None = None
    claim_payment_id: uuid.UUID | None = None
    group_code: str | None = None
    reason_code: str | None = None
    method: str | None = None


@dataclass(frozen=True)
class BalanceOut:
    """A claim's balances. ``insurance`` is still expected from the payer, ``patient`` is owed by the patient."""

    claim_id: uuid.UUID
    charge: Decimal
    insurance_paid: Decimal
    adjusted: Decimal
    patient_paid: Decimal
    insurance: Decimal
    patient: Decimal


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    """The locked balances of the claims one transaction posts to; movements are collected, then written once."""

    def __init__(self, gate: PHIGate) -> None:
        self.gate = gate
        self.actor = actor_of(gate)
        self.claims: dict[uuid.UUID, Claim] = {}
        self.balances: dict[uuid.UUID, ClaimBalance] = {}
        self.pending: list[Movement] = []

    def lock(self, claim_ids: Iterable[uuid.UUID]) -> None:
        """Lock the claims, then their balance rows (opening the ledger of a claim that has none)."""
        ids = sorted(set(claim_ids) - set(self.claims))
        session = self.gate.session
        for part in chunks(ids):
            stmt = select(Claim).where(Claim.id.in_(part)).order_by(Claim.id).with_for_update()
            for claim in session.scalars(stmt.execution_options(populate_existing=True)):
                self.claims[claim.id] = claim
        for part in chunks(ids):
            locked = select(ClaimBalance).where(ClaimBalance.claim_id.in_(part)).order_by(ClaimBalance.claim_id)
            for row in session.scalars(locked.with_for_update().execution_options(populate_existing=True)):
                self.balances[row.claim_id] = row
        missing = [i for i in ids if i in self.claims and i not in self.balances]
        if missing:
            self._open(missing)

    def _open(self, claim_ids: list[uuid.UUID]) -> None:
        session = self.gate.session
        encounters = {self.claims[c].encounter_id: c for c in claim_ids}
        lines: dict[uuid.UUID, list[tuple[uuid.UUID, Decimal]]] = {c: [] for c in claim_ids}
        for part in chunks(list(encounters)):
            stmt = select(ServiceLine.id, ServiceLine.encounter_id, ServiceLine.charge).where(
                ServiceLine.encounter_id.in_(part)
            )
            for line_id, encounter_id, charge in session.execute(stmt.order_by(ServiceLine.line_number)):
                lines[encounters[encounter_id]].append((line_id, charge))
        for claim_id in claim_ids:
            claim = self.claims[claim_id]
            row = ClaimBalance(
                organization_id=self.gate.ctx.organization_id,
                claim_id=claim_id,
                patient_id=claim.patient_id,
                payer_id=claim.payer_id,
                charge=ZERO,
                insurance_paid=ZERO,
                adjusted=ZERO,
                patient_paid=ZERO,
                insurance_balance=ZERO,
                patient_balance=ZERO,
            )
            session.add(row)
            self.balances[claim_id] = row
            charged = ZERO
            for line_id, charge in lines[claim_id]:
                self.add(Movement(claim_id, "charge", charge, service_line_id=line_id))
                charged += charge
            if charged != claim.total_charge:  # a claim whose lines changed after it was built: the claim rules
                self.add(Movement(claim_id, "charge", claim.total_charge - charged))
        session.flush()

    def add(self, movement: Movement) -> None:
        if movement.claim_id not in self.balances:
            raise NotFound("No such record.")
        self.pending.append(movement)
        row = self.balances[movement.claim_id]
        row.insurance_balance += movement.insurance
        row.patient_balance += movement.patient
        if movement.kind == "charge":
            row.charge += movement.insurance
        elif movement.kind == "payer_paid":
            row.insurance_paid -= movement.insurance
        elif movement.kind == "write_off":
            row.adjusted -= movement.insurance
        elif movement.kind in ("patient_paid", "patient_refund"):  # a refund gives back part of a payment
            row.patient_paid -= movement.patient
        elif movement.kind == "patient_write_off":  # a write-off of what the patient owes (approved if large)
            row.adjusted -= movement.patient

    def flush(self) -> None:
        """Write the collected entries and the changed balances (in the caller's transaction)."""
        org = self.gate.ctx.organization_id
        touched = {m.claim_id for m in self.pending}
        self.gate.session.add_all(
            LedgerEntry(
                organization_id=org,
                claim_id=m.claim_id,
                patient_id=self.claims[m.claim_id].patient_id,
                service_line_id=m.service_line_id,
                claim_payment_id=m.claim_payment_id,
                kind=m.kind,
                group_code=m.group_code,
                reason_code=m.reason_code,
                method=m.method,
                insurance_amount=m.insurance,
                patient_amount=m.patient,
                actor=self.actor,
            )
            for m in self.pending
        )
        for claim_id in touched:
            self.balances[claim_id].row_version += 1
        self.pending = []
        self.gate.session.flush()


def _money(amount: Decimal, *, field: str) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValidationFailed(f"The {field} must be a Decimal amount in whole cents.")
    return amount


def record_patient_payment(*, gate: PHIGate, claim_id: uuid.UUID, amount: Decimal, method: str) -> BalanceOut:
    """A payment by the patient towards a claim (cash, check, card: the processor's part lives elsewhere): the
    patient bucket goes down by ``amount``. Locks the claim and its balance like a remittance posting does."""
    gate.authorize(POST, entity_type=LedgerEntry.__tablename__, entity_id=claim_id)
    if _money(amount, field="amount") <= 0:
        raise ValidationFailed("A patient payment must be a positive amount.")
    if method not in PAYMENT_METHODS:
        raise ValidationFailed(f"Unknown payment method (allowed: {', '.join(sorted(PAYMENT_METHODS))}).")
    gate.check_in_scope(Claim, claim_id, POST)
    ledger = Ledger(gate)
    ledger.lock([claim_id])
    if claim_id not in ledger.claims:
        raise NotFound("No such record.")
    ledger.flush()  # the opening charge entries, if the ledger was just opened
    claim = ledger.claims[claim_id]
    values = {
        "claim_id": claim_id,
        "patient_id": claim.patient_id,
        "kind": "patient_paid",
        "method": method,
        "insurance_amount": ZERO,
        "patient_amount": -amount,
        "actor": ledger.actor,
    }
    gate.create(LedgerEntry, values, permission=POST)  # audited: a patient's financial event
    row = ledger.balances[claim_id]
    row.patient_balance -= amount
    row.patient_paid += amount
    row.row_version += 1
    gate.session.flush()
    return _balance_out(row)


def _balance_out(row: ClaimBalance) -> BalanceOut:
    return BalanceOut(
        claim_id=row.claim_id,
        charge=row.charge,
        insurance_paid=row.insurance_paid,
        adjusted=row.adjusted,
        patient_paid=row.patient_paid,
        insurance=row.insurance_balance,
        patient=row.patient_balance,
    )


def claim_balance(*, gate: PHIGate, claim_id: uuid.UUID) -> BalanceOut:
    """A claim's balances (audited read). A claim nothing has posted to yet owes its whole charge to the payer."""
    rows = gate.select(
        select(ClaimBalance).where(ClaimBalance.claim_id == claim_id), model=ClaimBalance, permission=READ
    )
    if rows:
        v = rows[0].values
        return BalanceOut(
            claim_id=claim_id,
            charge=v["charge"],
            insurance_paid=v["insurance_paid"],
            adjusted=v["adjusted"],
            patient_paid=v["patient_paid"],
            insurance=v["insurance_balance"],
            patient=v["patient_balance"],
        )
    claim = gate.get(Claim, claim_id, permission=READ)
    charge = claim["total_charge"]
    return BalanceOut(claim_id, charge, ZERO, ZERO, ZERO, charge, ZERO)


def line_balances(*, gate: PHIGate, claim_id: uuid.UUID) -> dict[uuid.UUID | None, tuple[Decimal, Decimal]]:
    """Per service line (None: claim-level entries), the (insurance, patient) balance: sums of the ledger."""
    gate.authorize(READ, entity_type=LedgerEntry.__tablename__, entity_id=claim_id)
    gate.check_in_scope(Claim, claim_id, READ)
    stmt = (
        select(
            LedgerEntry.service_line_id, func.sum(LedgerEntry.insurance_amount), func.sum(LedgerEntry.patient_amount)
        )
        .where(LedgerEntry.claim_id == claim_id)
        .group_by(LedgerEntry.service_line_id)
    )
    return {line: (Decimal(ins), Decimal(pat)) for line, ins, pat in gate.session.execute(stmt)}


@dataclass(frozen=True)
class ReceivablesOut:
    insurance: Decimal  # expected from payers: balances of posted claims + charges of sent claims not yet posted
    patient: Decimal  # owed by patients


def receivables(*, gate: PHIGate) -> ReceivablesOut:
    """Organization-wide A/R, exact: SQL sums of the balances plus the charges of sent claims not posted yet."""
    gate.authorize(READ, entity_type=ClaimBalance.__tablename__)
    session = gate.session
    open_receivable = Claim.status.in_(RECEIVABLE)
    ins, pat = session.execute(
        select(func.sum(ClaimBalance.insurance_balance), func.sum(ClaimBalance.patient_balance))
        .join(Claim, Claim.id == ClaimBalance.claim_id)
        .where(open_receivable)
    ).one()
    untouched = session.scalar(
        select(func.sum(Claim.total_charge)).where(
            open_receivable, ~select(ClaimBalance.id).where(ClaimBalance.claim_id == Claim.id).exists()
        )
    )
    return ReceivablesOut(insurance=Decimal(ins or 0) + Decimal(untouched or 0), patient=Decimal(pat or 0))
