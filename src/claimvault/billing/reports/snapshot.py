"""Every claim's receivable state at the end of a day (UTC), rebuilt from plain columns only: its status from the
transition history, its insurance and patient balances from the ledger, and its first billing date.

- **Status as of D**: the ``to_status`` of the claim's last transition before the end of D (a claim with no
  recorded transition at all: its current status). As of today this is the current status, so a report as of
  today equals ``ledger.receivables()`` exactly.
- **Balances as of D**: the sums of the claim's ledger entries before the end of D; a claim with no entry yet
  owes its whole ``total_charge`` to the payer (as ``receivables()`` counts it).
- **First billing date**: the first time any version of the claim (its family) entered a billed status
  (``exported`` or later): a corrected or replacement claim keeps the age of the original; a claim without such a
  transition falls back to its creation time. Dates of service are PHI ciphertext, so aging never uses them.

Reads run under ``report:read`` (authorized by the gate, tenant-scoped session) and keep to the rows of the
patients the reader reaches; nothing is decrypted here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select

from claimvault.billing.claims.models import Claim, ClaimTransition
from claimvault.billing.payers.models import Payer
from claimvault.billing.remittance.ledger import RECEIVABLE, chunks
from claimvault.billing.remittance.models import LedgerEntry
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission

READ = Permission.REPORT_READ
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ClaimState:
    """One claim at the end of the as-of day. ``first_billed`` is a UTC date."""

    claim_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    family_id: uuid.UUID
    total_charge: Decimal
    status: str
    billed: bool  # some version of the claim entered a billed status before the end of the day
    first_billed: date  # of the family; the claim's creation date when never billed
    insurance: Decimal
    patient: Decimal

    @property
    def receivable(self) -> bool:
        return self.status in RECEIVABLE


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC): rows strictly before it happened on or before ``day``."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def start_of(day: date) -> datetime:
    """The first instant of ``day`` (UTC)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_date(moment: datetime) -> date:
    """A stored timestamp's UTC date (SQLite hands back naive UTC datetimes)."""
    return (moment if moment.tzinfo is None else moment.astimezone(UTC)).date()


def authorize(gate: PHIGate, *, entity_type: str) -> None:
    gate.authorize(READ, entity_type=entity_type)


def in_scope(gate: PHIGate, patient_column: Any) -> ColumnElement[bool]:
    """The rows of the patients the reader reaches with ``report:read`` (everything for unrestricted readers)."""
    return gate.scope(READ).criterion(patient_column)


def claim_states(*, gate: PHIGate, as_of: date) -> list[ClaimState]:
    """Every claim created by the end of ``as_of``, in the reader's scope, with its state then."""
    authorize(gate, entity_type=Claim.__tablename__)
    session, cutoff = gate.session, end_of(as_of)
    claims = session.execute(
        select(
            Claim.id,
            Claim.patient_id,
            Claim.payer_id,
            Claim.family_id,
            Claim.total_charge,
            Claim.status,
            Claim.created_at,
        )
        .where(Claim.created_at < cutoff, in_scope(gate, Claim.patient_id))
        .order_by(Claim.id)
    ).all()
    ids = [c.id for c in claims]
    status = _statuses(gate, ids, cutoff)
    billed = _first_billed(gate, ids, cutoff)
    family_billed: dict[uuid.UUID, datetime] = {}
    for c in claims:
        when = billed.get(c.id)
        if when is not None and (c.family_id not in family_billed or when < family_billed[c.family_id]):
            family_billed[c.family_id] = when
    sums = _ledger_sums(gate, ids, cutoff)
    states = []
    for c in claims:
        first = family_billed.get(c.family_id) or c.created_at
        insurance, patient = sums.get(c.id, (Decimal(c.total_charge), ZERO))
        states.append(
            ClaimState(
                claim_id=c.id,
                patient_id=c.patient_id,
                payer_id=c.payer_id,
                family_id=c.family_id,
                total_charge=Decimal(c.total_charge),
                status=status.get(c.id, "draft"),
                billed=c.family_id in family_billed,
                first_billed=utc_date(first),
                insurance=insurance,
                patient=patient,
            )
        )
    return states


def _statuses(gate: PHIGate, ids: Sequence[uuid.UUID], cutoff: datetime) -> dict[uuid.UUID, str]:
    """Each claim's status at ``cutoff``: its last transition before then (claims never transitioned keep their
    current status; claims whose transitions all came later were still drafts)."""
    out: dict[uuid.UUID, str] = {}
    for part in chunks(list(ids)):
        stmt = (
            select(ClaimTransition.claim_id, ClaimTransition.to_status)
            .where(ClaimTransition.claim_id.in_(part), ClaimTransition.at < cutoff)
            .order_by(ClaimTransition.at, ClaimTransition.id)
        )
        for claim_id, to_status in gate.session.execute(stmt):
            out[claim_id] = to_status
        untouched = select(Claim.id, Claim.status).where(
            Claim.id.in_(part), ~select(ClaimTransition.id).where(ClaimTransition.claim_id == Claim.id).exists()
        )
        for claim_id, current in gate.session.execute(untouched):
            out[claim_id] = current
    return out


def _first_billed(gate: PHIGate, ids: Sequence[uuid.UUID], cutoff: datetime) -> dict[uuid.UUID, datetime]:
    out: dict[uuid.UUID, datetime] = {}
    for part in chunks(list(ids)):
        stmt = (
            select(ClaimTransition.claim_id, func.min(ClaimTransition.at))
            .where(
                ClaimTransition.claim_id.in_(part),
                ClaimTransition.to_status.in_(RECEIVABLE),
                ClaimTransition.at < cutoff,
            )
            .group_by(ClaimTransition.claim_id)
        )
        out.update({claim_id: at for claim_id, at in gate.session.execute(stmt)})
    return out


def _ledger_sums(gate: PHIGate, ids: Sequence[uuid.UUID], cutoff: datetime) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    out: dict[uuid.UUID, tuple[Decimal, Decimal]] = {}
    for part in chunks(list(ids)):
        stmt = (
            select(LedgerEntry.claim_id, func.sum(LedgerEntry.insurance_amount), func.sum(LedgerEntry.patient_amount))
            .where(LedgerEntry.claim_id.in_(part), LedgerEntry.at < cutoff)
            .group_by(LedgerEntry.claim_id)
        )
        out.update({c: (Decimal(i), Decimal(p)) for c, i, p in gate.session.execute(stmt)})
    return out


def payer_names(gate: PHIGate, payer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """Payer id -> (payer code, name): plain metadata, nothing to decrypt."""
    out: dict[uuid.UUID, tuple[str, str]] = {}
    for part in chunks(sorted(set(payer_ids))):
        rows = gate.session.execute(select(Payer.id, Payer.payer_id, Payer.name).where(Payer.id.in_(part)))
        out.update({i: (code, name) for i, code, name in rows})
    return out
