"""Matching an 835's claim payments to our claims, and their service lines to our service lines.

Claims, in order (the first rule that finds exactly one sent claim wins):
1. ``control_number``: CLP01 is the CLM01 we sent (our claim number, plain in the database);
2. ``payer_claim_number``: CLP07 equals the payer's claim number a 277CA or an earlier 835 gave us (ciphertext,
   decrypted through the PHI gate, audited, only when rule 1 left something unmatched);
3. ``member_charge``: the member id of NM1*QC or NM1*IL (blind index of the coverage) plus the charge (CLP03 = the
   claim's total) and, when the 835 gives one, the date of service.
Lines, for each SVC in order, among the claim's lines not taken yet:
1. ``control_number``: REF*6R equal to a line number (what we send when the 837P carries REF*6R);
2. ``procedure``: the billed procedure (SVC06 when the payer changed the code or a modifier, else SVC01): code,
   modifiers and charge;
3. ``code``: the same code, modifiers ignored, and the charge (a payer that dropped or added a modifier);
4. ``position``: the line at the SVC's position, when its charge is the same.
A line none of these finds posts at claim level (no service line) and is counted in the report.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from claimvault.billing.claims.models import Claim
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.encounters.models import Encounter, ServiceLine
from claimvault.billing.remittance.ledger import POST, chunks
from claimvault.billing.x12.remit_835 import ClaimPayment, ServiceLinePayment
from claimvault.security.gate import PHIGate

# Claims a payer can have adjudicated: sent at least once, and not replaced or closed.
SENT = ("exported", "submitted", "accepted", "paid", "partially_paid", "denied", "appealed", "rejected")


@dataclass(frozen=True)
class ClaimRef:
    id: uuid.UUID
    control_number: str
    patient_id: uuid.UUID
    encounter_id: uuid.UUID
    status: str
    total_charge: Decimal


@dataclass(frozen=True)
class OurLine:
    id: uuid.UUID
    line_number: int
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal


@dataclass(frozen=True)
class LineMatch:
    position: int
    line: ServiceLinePayment
    service_line_id: uuid.UUID | None
    matched_by: str  # control_number | procedure | code | position | none


def _ref(row: Claim) -> ClaimRef:
    return ClaimRef(row.id, row.control_number, row.patient_id, row.encounter_id, row.status, row.total_charge)


def claims_by_control_number(gate: PHIGate, numbers: Sequence[str]) -> dict[str, ClaimRef]:
    """Sent claims by CLM01 (plain: no decryption)."""
    found: dict[str, ClaimRef] = {}
    for part in chunks(sorted(set(numbers))):
        stmt = select(Claim).where(Claim.control_number.in_(part), Claim.status.in_(SENT))
        found.update({row.control_number: _ref(row) for row in gate.session.scalars(stmt)})
    return found


def claims_by_payer_number(gate: PHIGate) -> dict[str, ClaimRef]:
    """Sent claims by the payer's claim number (decrypted through the gate: one audited list)."""
    stmt = select(Claim).where(Claim.status.in_(SENT), Claim.payer_claim_number.is_not(None))
    out: dict[str, ClaimRef] = {}
    ambiguous: set[str] = set()
    for record in gate.select(stmt, model=Claim, permission=POST):
        number = record.values.get("payer_claim_number")
        if not number:
            continue
        if number in out:
            ambiguous.add(number)
        out[number] = ClaimRef(
            record.id,
            record["control_number"],
            record["patient_id"],
            record["encounter_id"],
            record["status"],
            record["total_charge"],
        )
    return {k: v for k, v in out.items() if k not in ambiguous}


def _service_date(payment: ClaimPayment) -> date | None:
    dates = [ln.service_date or ln.service_start for ln in payment.lines]
    return payment.statement_from or next((d for d in dates if d is not None), None)


def claim_by_member_and_charge(gate: PHIGate, payment: ClaimPayment) -> ClaimRef | None:
    """Rule 3: member id (blind index) + total charge (+ date of service when the 835 has one); exactly one."""
    members = {p.identifier for p in (payment.patient, payment.subscriber) if p is not None and p.identifier}
    coverage_ids: set[uuid.UUID] = set()
    for member in sorted(members):
        coverage_ids.update(
            gate.match_ids(Coverage, index="member_id_bidx", values={"member_id": member}, permission=POST)
        )
    if not coverage_ids:
        return None
    stmt = select(Claim).where(
        Claim.coverage_id.in_(sorted(coverage_ids)), Claim.status.in_(SENT), Claim.total_charge == payment.charge
    )
    candidates = [_ref(row) for row in gate.session.scalars(stmt)]
    day = _service_date(payment)
    if day is not None and len(candidates) > 1:
        ids = [c.encounter_id for c in candidates]
        records = gate.select(select(Encounter).where(Encounter.id.in_(ids)), model=Encounter, permission=POST)
        on_day = {r.id for r in records if r.values.get("service_date") == day}
        candidates = [c for c in candidates if c.encounter_id in on_day]
    return candidates[0] if len(candidates) == 1 else None


def lines_of(gate: PHIGate, encounter_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[OurLine]]:
    """Service lines per encounter, procedure codes and modifiers decrypted through the gate (audited)."""
    out: dict[uuid.UUID, list[OurLine]] = {e: [] for e in encounter_ids}
    for part in chunks(sorted(set(encounter_ids))):
        stmt = select(ServiceLine).where(ServiceLine.encounter_id.in_(part)).order_by(ServiceLine.line_number)
        for r in gate.select(stmt, model=ServiceLine, permission=POST):
            modifiers = tuple(m for m in (r.values.get("modifiers") or "").split(",") if m)
            code = r.values.get("procedure_code") or ""
            line = OurLine(r.id, r["line_number"], code, modifiers, r["charge"])
            out[r["encounter_id"]].append(line)
    for lines in out.values():
        lines.sort(key=lambda ln: ln.line_number)
    return out


def match_lines(payment: ClaimPayment, ours: Sequence[OurLine]) -> list[LineMatch]:
    """Each SVC of ``payment`` to one of ``ours`` (each of ours taken at most once), by the rules above."""
    free = list(ours)
    matches: list[LineMatch] = []

    def take(position: int, svc: ServiceLinePayment, line: OurLine, rule: str) -> None:
        free.remove(line)
        matches.append(LineMatch(position, svc, line.id, rule))

    for position, svc in enumerate(payment.lines):
        billed = svc.submitted or svc.procedure
        ref = svc.control_number
        by_ref = [ln for ln in free if ref is not None and ref.isdigit() and ln.line_number == int(ref)]
        exact = [
            ln for ln in free if ln.code == billed.code and ln.modifiers == billed.modifiers and ln.charge == svc.charge
        ]
        codes = {billed.code, svc.procedure.code}
        loose = [ln for ln in free if ln.code in codes and ln.charge == svc.charge]
        at = [ln for ln in free if ln.line_number == position + 1 and ln.charge == svc.charge]
        if by_ref:
            take(position, svc, by_ref[0], "control_number")
        elif exact:
            take(position, svc, exact[0], "procedure")
        elif loose:
            take(position, svc, loose[0], "code")
        elif at:
            take(position, svc, at[0], "position")
        else:
            matches.append(LineMatch(position, svc, None, "none"))
    return matches
