"""A/R aging by payer or by patient, and days in A/R, as of a date.

Aging: each receivable claim's insurance balance (still expected from the payer) and patient balance (owed by the
patient) at the end of ``as_of`` fall in one bucket by the claim's age, ``as_of`` minus its first billing date
(see ``snapshot``): 0-30, 31-60, 61-90, 91-120 and over 120 days. Balances are signed (a credit stays negative) so
the totals equal ``ledger.receivables()`` to the cent when ``as_of`` is today. By payer, rows are the claim's
payer (payer code and name only); by patient, rows name the patient, decrypted through the PHI gate in one audited
``export`` read of the patients listed.

Days in A/R = total A/R (insurance + patient) at the end of ``as_of`` / average daily charges, where average daily
charges = the charges first billed in the ``period_days`` days ending on ``as_of`` (each claim family once, at its
first version's total charge) / ``period_days``. Computed as A/R x period_days / charges, rounded half-up to 0.1
day; none when nothing was billed in the period.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from claimvault.billing.remittance.ledger import chunks
from claimvault.billing.reports.snapshot import READ, ZERO, ClaimState, claim_states, payer_names
from claimvault.errors import ValidationFailed
from claimvault.security.gate import PHIGate

BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")
BUCKET_LIMITS = (30, 60, 90, 120)  # inclusive upper ages of the first four buckets
RESPONSIBILITIES = ("insurance", "patient")
AgingBy = Literal["payer", "patient"]
CENT = Decimal("0.01")
TENTH = Decimal("0.1")


def bucket_of(age_days: int) -> int:
    """The bucket index of a claim ``age_days`` old (a claim billed today is 0 days old)."""
    for index, limit in enumerate(BUCKET_LIMITS):
        if age_days <= limit:
            return index
    return len(BUCKET_LIMITS)


@dataclass(frozen=True)
class AgingRow:
    """One payer's or patient's balances of one responsibility (insurance or patient), per bucket."""

    key: uuid.UUID  # payer id or patient id
    code: str  # payer code (2010BB NM109); the patient id for a patient row
    label: str  # payer name; the patient's name (PHI) for a patient row
    responsibility: str  # insurance | patient
    buckets: tuple[Decimal, ...]
    claims: int

    @property
    def total(self) -> Decimal:
        return sum(self.buckets, ZERO)


@dataclass(frozen=True)
class AgingReport:
    as_of: date
    by: AgingBy
    rows: tuple[AgingRow, ...]

    def bucket_totals(self, responsibility: str) -> tuple[Decimal, ...]:
        rows = [r for r in self.rows if r.responsibility == responsibility]
        return tuple(sum((r.buckets[i] for r in rows), ZERO) for i in range(len(BUCKETS)))

    @property
    def insurance_total(self) -> Decimal:
        return sum(self.bucket_totals("insurance"), ZERO)

    @property
    def patient_total(self) -> Decimal:
        return sum(self.bucket_totals("patient"), ZERO)


def _aged(states: Iterable[ClaimState], as_of: date) -> list[tuple[ClaimState, int]]:
    return [(s, bucket_of(max((as_of - s.first_billed).days, 0))) for s in states if s.receivable]


def ar_aging(*, gate: PHIGate, as_of: date, by: AgingBy = "payer") -> AgingReport:
    """Aging of the receivables at the end of ``as_of``. Rows with a zero balance in every bucket are left out."""
    if by not in ("payer", "patient"):
        raise ValidationFailed("Aging is by payer or by patient.")
    aged = _aged(claim_states(gate=gate, as_of=as_of), as_of)
    sums: dict[tuple[uuid.UUID, str], list[Decimal]] = {}
    claims: dict[tuple[uuid.UUID, str], set[uuid.UUID]] = {}
    for state, bucket in aged:
        key_id = state.payer_id if by == "payer" else state.patient_id
        for responsibility, amount in (("insurance", state.insurance), ("patient", state.patient)):
            if amount == 0:
                continue
            key = (key_id, responsibility)
            sums.setdefault(key, [ZERO] * len(BUCKETS))[bucket] += amount
            claims.setdefault(key, set()).add(state.claim_id)
    keys = sorted({k for k, _ in sums})
    labels = payer_names(gate, keys) if by == "payer" else _patient_names(gate, keys)
    rows = [
        AgingRow(
            key=key_id,
            code=labels[key_id][0],
            label=labels[key_id][1],
            responsibility=responsibility,
            buckets=tuple(sums[(key_id, responsibility)]),
            claims=len(claims[(key_id, responsibility)]),
        )
        for key_id, responsibility in sums
    ]
    rows.sort(key=lambda r: (RESPONSIBILITIES.index(r.responsibility), r.label.casefold(), r.code))
    return AgingReport(as_of=as_of, by=by, rows=tuple(rows))


def _patient_names(gate: PHIGate, patient_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """Patient id -> (id, "Family, Given"), decrypted by the gate in audited ``export`` reads naming the patients.
    A crypto-shredded patient reads as "(shredded)"; a patient out of the reader's reach is never listed here,
    since the balances were already limited to the reader's scope."""
    out: dict[uuid.UUID, tuple[str, str]] = {}
    for part in chunks(patient_ids):
        records = gate.select(
            select(Patient).where(Patient.id.in_(part)), model=Patient, permission=READ, action="export"
        )
        for record in records:
            family, given = record.values.get("family_name"), record.values.get("given_name")
            name = f"{family}, {given}" if family and given else family or given or "(shredded)"
            out[record.id] = (str(record.id), name)
    for patient_id in patient_ids:  # a row the gate did not return keeps its id, never a name
        out.setdefault(patient_id, (str(patient_id), "(not available)"))
    return out


@dataclass(frozen=True)
class DaysInAR:
    as_of: date
    period_days: int
    insurance: Decimal  # A/R expected from payers at the end of as_of
    patient: Decimal  # A/R owed by patients
    charges: Decimal  # first versions' charges of the claim families first billed in the period
    average_daily_charges: Decimal  # charges / period_days, rounded to the cent (shown; not used in days)
    days: Decimal | None  # (insurance + patient) x period_days / charges, to 0.1 day; None without charges

    @property
    def receivables(self) -> Decimal:
        return self.insurance + self.patient


def days_in_ar(*, gate: PHIGate, as_of: date, period_days: int = 90) -> DaysInAR:
    """Days in A/R at the end of ``as_of`` over the trailing ``period_days`` days (``as_of`` included)."""
    if not 1 <= period_days <= 3660:
        raise ValidationFailed("The period must be between 1 and 3660 days.")
    states = claim_states(gate=gate, as_of=as_of)
    open_states = [s for s in states if s.receivable]
    insurance = sum((s.insurance for s in open_states), ZERO)
    patient = sum((s.patient for s in open_states), ZERO)
    start = as_of - timedelta(days=period_days - 1)
    first_versions = (s for s in states if s.claim_id == s.family_id and s.billed)
    charges = sum((s.total_charge for s in first_versions if start <= s.first_billed <= as_of), ZERO)
    average = (charges / period_days).quantize(CENT, rounding=ROUND_HALF_UP)
    days = None if charges <= 0 else ((insurance + patient) * period_days / charges).quantize(TENTH, ROUND_HALF_UP)
    return DaysInAR(as_of, period_days, insurance, patient, charges, average, days)
