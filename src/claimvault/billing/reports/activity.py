"""Denials by reason and by payer, and collections by month and by payer, over a period ending on ``as_of``.

Denials: every denial queued (``denial_work_items``) in the period whose claim payment was not reversed by the end
of ``as_of``. A denial's reasons are the CARC group and reason codes it was queued with (claim- and denied-line
level); a reason's amount is the sum of that claim payment's adjustments with that group and code, and the count
is the number of denials carrying it (a denial with two reasons counts under each). By payer, the claim's payer:
the number of denials and the sum of their reasons' amounts. Codes and amounts only; nothing is decrypted.

Collections: money received in the period from the claim ledger. Insurance = payer payments (``payer_paid``,
reversals netted); patient = patient payments less refunds (``patient_paid``, ``patient_refund``). By calendar
month (UTC) and, for insurance, by the claim's payer. Provider-level adjustments (PLB) are not claim money and
are not counted.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from claimvault.billing.claims.models import Claim
from claimvault.billing.remittance.ledger import chunks
from claimvault.billing.remittance.models import (
    ClaimPaymentPosting,
    DenialWorkItem,
    LedgerEntry,
    PostedAdjustment,
)
from claimvault.billing.reports.snapshot import (
    ZERO,
    authorize,
    end_of,
    in_scope,
    payer_names,
    start_of,
    utc_date,
)
from claimvault.errors import ValidationFailed
from claimvault.security.gate import PHIGate

INSURANCE_KINDS = ("payer_paid",)
PATIENT_KINDS = ("patient_paid", "patient_refund")


def _check_period(start: date, as_of: date) -> None:
    if start > as_of:
        raise ValidationFailed("The period must start on or before its end.")


@dataclass(frozen=True)
class DenialReason:
    group: str  # CARC group code: CO | PR | OA | PI
    reason: str  # CARC reason code
    count: int
    amount: Decimal

    @property
    def code(self) -> str:
        return f"{self.group}-{self.reason}"


@dataclass(frozen=True)
class DenialPayer:
    payer_id: uuid.UUID
    code: str
    name: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class DenialsReport:
    start: date
    as_of: date
    by_reason: tuple[DenialReason, ...]
    by_payer: tuple[DenialPayer, ...]
    count: int
    amount: Decimal


def _codes(text: str) -> list[tuple[str, str]]:
    """``"CO-96,CO-16;N130"`` -> [("CO", "96"), ("CO", "16")]: the CARC part, before the remarks."""
    out = []
    for item in text.split(";", 1)[0].split(","):
        group, _, reason = item.strip().partition("-")
        if group and reason and (group, reason) not in out:
            out.append((group, reason))
    return out


def denials(*, gate: PHIGate, start: date, as_of: date) -> DenialsReport:
    """Denials queued from ``start`` to ``as_of`` (both included) and not reversed by the end of ``as_of``."""
    _check_period(start, as_of)
    authorize(gate, entity_type=DenialWorkItem.__tablename__)
    session, cutoff = gate.session, end_of(as_of)
    reversal = (
        select(ClaimPaymentPosting.id)
        .where(
            ClaimPaymentPosting.reverses_id == DenialWorkItem.claim_payment_id, ClaimPaymentPosting.posted_at < cutoff
        )
        .exists()
    )
    items = session.execute(
        select(DenialWorkItem.claim_payment_id, DenialWorkItem.reason_codes, Claim.payer_id)
        .join(Claim, Claim.id == DenialWorkItem.claim_id)
        .where(
            DenialWorkItem.created_at >= start_of(start),
            DenialWorkItem.created_at < cutoff,
            ~reversal,
            in_scope(gate, DenialWorkItem.patient_id),
        )
        .order_by(DenialWorkItem.created_at, DenialWorkItem.id)
    ).all()
    amounts: dict[tuple[uuid.UUID, str, str], Decimal] = defaultdict(lambda: ZERO)
    for part in chunks([i.claim_payment_id for i in items]):
        stmt = select(
            PostedAdjustment.claim_payment_id,
            PostedAdjustment.group_code,
            PostedAdjustment.reason_code,
            PostedAdjustment.amount,
        ).where(PostedAdjustment.claim_payment_id.in_(part))
        for payment_id, group, reason, amount in session.execute(stmt):
            amounts[(payment_id, group, reason)] += Decimal(amount)
    reason_count: dict[tuple[str, str], int] = defaultdict(int)
    reason_amount: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    payer_count: dict[uuid.UUID, int] = defaultdict(int)
    payer_amount: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for item in items:
        payer_count[item.payer_id] += 1
        for group, reason in _codes(item.reason_codes):
            amount = amounts.get((item.claim_payment_id, group, reason), ZERO)
            reason_count[(group, reason)] += 1
            reason_amount[(group, reason)] += amount
            payer_amount[item.payer_id] += amount
    names = payer_names(gate, list(payer_count))
    by_reason = sorted(
        (DenialReason(g, r, reason_count[(g, r)], reason_amount[(g, r)]) for g, r in reason_count),
        key=lambda d: (-d.amount, -d.count, d.group, d.reason),
    )
    by_payer = sorted(
        (DenialPayer(p, names[p][0], names[p][1], payer_count[p], payer_amount[p]) for p in payer_count),
        key=lambda d: (-d.amount, d.name.casefold(), d.code),
    )
    total = sum(payer_amount.values(), ZERO)
    return DenialsReport(start, as_of, tuple(by_reason), tuple(by_payer), len(items), total)


@dataclass(frozen=True)
class CollectionsMonth:
    month: str  # YYYY-MM (UTC)
    insurance: Decimal
    patient: Decimal

    @property
    def total(self) -> Decimal:
        return self.insurance + self.patient


@dataclass(frozen=True)
class CollectionsPayer:
    payer_id: uuid.UUID
    code: str
    name: str
    insurance: Decimal


@dataclass(frozen=True)
class CollectionsReport:
    start: date
    as_of: date
    months: tuple[CollectionsMonth, ...]  # every month of the period, in order, empty ones included
    by_payer: tuple[CollectionsPayer, ...]

    @property
    def insurance(self) -> Decimal:
        return sum((m.insurance for m in self.months), ZERO)

    @property
    def patient(self) -> Decimal:
        return sum((m.patient for m in self.months), ZERO)


def _months(start: date, end: date) -> list[str]:
    out, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def collections(*, gate: PHIGate, start: date, as_of: date) -> CollectionsReport:
    """Money collected from ``start`` to ``as_of`` (both included), by month and by payer."""
    _check_period(start, as_of)
    authorize(gate, entity_type=LedgerEntry.__tablename__)
    stmt = (
        select(
            LedgerEntry.kind, LedgerEntry.at, LedgerEntry.insurance_amount, LedgerEntry.patient_amount, Claim.payer_id
        )
        .join(Claim, Claim.id == LedgerEntry.claim_id)
        .where(
            LedgerEntry.kind.in_(INSURANCE_KINDS + PATIENT_KINDS),
            LedgerEntry.at >= start_of(start),
            LedgerEntry.at < end_of(as_of),
            in_scope(gate, LedgerEntry.patient_id),
        )
    )
    insurance: dict[str, Decimal] = defaultdict(lambda: ZERO)
    patient: dict[str, Decimal] = defaultdict(lambda: ZERO)
    by_payer: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for kind, at, insurance_amount, patient_amount, payer_id in gate.session.execute(stmt):
        month = utc_date(at).strftime("%Y-%m")
        if kind in INSURANCE_KINDS:  # a payment lowers the insurance bucket: collected = -delta
            insurance[month] -= Decimal(insurance_amount)
            by_payer[payer_id] -= Decimal(insurance_amount)
        else:
            patient[month] -= Decimal(patient_amount)
    months = tuple(CollectionsMonth(m, insurance[m], patient[m]) for m in _months(start, as_of))
    names = payer_names(gate, list(by_payer))
    payers = sorted(
        (CollectionsPayer(p, names[p][0], names[p][1], amount) for p, amount in by_payer.items()),
        key=lambda c: (-c.insurance, c.name.casefold(), c.code),
    )
    return CollectionsReport(start, as_of, months, tuple(payers))
