"""Posting one claim payment (from an 835 or a paper EOB) to a matched claim, per service line, into the ledger.

Per line: the payer's payment, each CAS adjustment (CO, OA and PI write off; PR 1 deductible, 2 coinsurance, 3
copay and any other PR move the amount to the patient), the RARC remarks and the allowed amount (AMT*B6, else
the charge less CO/OA/PI). Claim-level CAS post at claim level, and so does the difference between CLP04 and the
lines' payments, so the insurance bucket drops by exactly CLP03 and the payments add up to CLP04.

The CO/OA/PI adjustments of a denied line or claim are recorded but not written off: the charge stays in the
insurance balance until someone works the denial (an appeal, or a write-off a second person approves).

Then the claim moves (``move``, source ``835`` or ``eob``): ``denied`` when the payer denied it (CLP02 4, or
nothing paid and every line adjusted away without patient responsibility), ``partially_paid`` when a line was
denied or part of the charge is still expected from the payer, else ``paid``; a move the lifecycle does not allow
is reported, not forced. Denials (whole or per line) go to the work queue with their CARC/RARC codes.

A claim payment is recognised as posted before by the payer's claim number (keyed digest of CLP07), CLP02 and
CLP04, whichever way it came (this file, another file, a manual posting): it is then skipped. A posting that was
reversed no longer counts, so a correction for the same amount posts. CLP02 22 reverses
the earlier posting of the same payer claim number (its ledger entries negated); the correction that follows
posts as a new claim payment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from claimvault.billing.claims.lifecycle import TRANSITIONS
from claimvault.billing.claims.service import move
from claimvault.billing.remittance.ledger import POST, ZERO, Ledger, Movement, chunks
from claimvault.billing.remittance.matching import ClaimRef, LineMatch
from claimvault.billing.remittance.models import (
    ClaimPaymentPosting,
    DenialWorkItem,
    LedgerEntry,
    LinePosting,
    PostedAdjustment,
    PostedRemark,
)
from claimvault.billing.x12.remit_835 import REVERSAL, Adjustment, ClaimPayment
from claimvault.ids import uuid7
from claimvault.security.gate import PHIGate
from claimvault.storage.base import utcnow

DIGEST_NAME = "remittance_claim_payments.payer_claim"
WRITE_OFF_GROUPS = frozenset({"CO", "OA", "PI"})


@dataclass(frozen=True)
class Known:
    """A claim payment already stored, as the duplicate and reversal rules need it (no values decrypted)."""

    id: uuid.UUID
    status_code: str
    paid: Decimal
    outcome: str
    claim_id: uuid.UUID | None


@dataclass
class PaymentOutcome:
    outcome: str  # posted | reversal | duplicate | unmatched | reversal_without_original
    claim_payment_id: uuid.UUID | None = None
    control_number: str | None = None  # ours (CLM01), never PHI
    claim_status: str | None = None
    status_refused: bool = False  # the lifecycle did not allow the move
    denial_queued: bool = False
    lines_unmatched: int = 0
    reasons: list[str] = field(default_factory=list)


def payer_claim_digest(gate: PHIGate, payer_claim_number: str) -> str:
    return gate.keyed_digest(name=DIGEST_NAME, data=payer_claim_number.strip().encode())


def _codes(adjustments: Iterable[Adjustment], *, skip_pr: bool = True) -> list[str]:
    return [f"{a.group}-{a.reason}" for a in adjustments if not (skip_pr and a.group == "PR")]


def _allowed(charge: Decimal, adjustments: Sequence[Adjustment], b6: Decimal | None) -> Decimal:
    if b6 is not None:
        return b6
    return charge - sum((a.amount for a in adjustments if a.group in WRITE_OFF_GROUPS), ZERO)


def _denied_line(match: LineMatch) -> bool:
    line = match.line
    return line.paid == 0 and bool(line.adjustments) and not any(a.group == "PR" for a in line.adjustments)


class Poster:
    """Posts claim payments in one transaction: the claims must be locked in ``ledger`` first."""

    def __init__(self, gate: PHIGate, ledger: Ledger, *, source: str, remittance_id: uuid.UUID | None = None) -> None:
        self.gate = gate
        self.ledger = ledger
        self.source = source  # 835 | manual
        self.transition_source = "835" if source == "835" else "eob"
        self.remittance_id = remittance_id
        self.known: dict[str, list[Known]] = {}
        self.digests: dict[str, str] = {}

    def digest(self, payer_claim_number: str) -> str:
        """The keyed digest of a payer claim number (computed once per number)."""
        if payer_claim_number not in self.digests:
            self.digests[payer_claim_number] = payer_claim_digest(self.gate, payer_claim_number)
        return self.digests[payer_claim_number]

    # what was posted before -----------------------------------------------------------------------------------
    def load_known(self, digests: Iterable[str]) -> None:
        """Claim payments already stored under these payer claim digests (call after the claims are locked)."""
        wanted = sorted(set(digests))
        self.known = {d: [] for d in wanted}
        for part in chunks(wanted):
            stmt = select(
                ClaimPaymentPosting.id,
                ClaimPaymentPosting.payer_claim_digest,
                ClaimPaymentPosting.status_code,
                ClaimPaymentPosting.paid,
                ClaimPaymentPosting.outcome,
                ClaimPaymentPosting.claim_id,
            ).where(ClaimPaymentPosting.payer_claim_digest.in_(part))
            for row_id, digest, status, paid, outcome, claim_id in self.gate.session.execute(stmt):
                if digest is not None:
                    self.known[digest].append(Known(row_id, status, paid, outcome, claim_id))

    def is_duplicate(self, digest: str, payment: ClaimPayment) -> bool:
        return any(
            k.status_code == payment.status and k.paid == payment.paid and k.outcome == "posted"
            for k in self.known.get(digest, [])
        )

    def original_of(self, digest: str, reversal: ClaimPayment) -> Known | None:
        """The posting a reversal takes back: same payer claim number, posted, the negated amount preferred."""
        live = [k for k in self.known.get(digest, []) if k.status_code != REVERSAL and k.outcome == "posted"]
        exact = [k for k in live if k.paid == -reversal.paid]
        candidates = exact or live
        return candidates[-1] if candidates else None

    # posting ----------------------------------------------------------------------------------------------------
    def _row(
        self,
        payment: ClaimPayment,
        *,
        digest: str,
        claim: ClaimRef | None,
        position: int,
        matched_by: str,
        outcome: str,
        reverses: uuid.UUID | None = None,
    ) -> uuid.UUID:
        values = {
            "remittance_id": self.remittance_id,
            "claim_id": claim.id if claim else None,
            "patient_id": claim.patient_id if claim else None,
            "source": self.source,
            "position": position,
            "status_code": payment.status,
            "charge": payment.charge,
            "paid": payment.paid,
            "patient_responsibility": payment.patient_responsibility,
            "filing_indicator": payment.filing_indicator,
            "payer_claim_number": payment.payer_claim_control_number,
            "matched_by": matched_by,
            "outcome": outcome,
            "reverses_id": reverses,
            "created_by": self.ledger.actor,
        }
        record = self.gate.create(ClaimPaymentPosting, values, permission=POST)  # encrypted CLP07, audited
        row = self.gate.session.get(ClaimPaymentPosting, record.id)
        assert row is not None
        row.payer_claim_digest = digest  # a keyed digest derived here, like a claim's fingerprint
        self.known.setdefault(digest, []).append(
            Known(record.id, payment.status, payment.paid, outcome, claim.id if claim else None)
        )
        return record.id

    def unmatched(self, payment: ClaimPayment, *, position: int) -> PaymentOutcome:
        """Kept without the payer's claim number (there is no patient to encrypt it for): its keyed digest, the
        codes and amounts, and the position in the stored 835 file, where a biller reads the rest."""
        row = ClaimPaymentPosting(
            organization_id=self.gate.ctx.organization_id,
            id=uuid7(),
            remittance_id=self.remittance_id,
            source=self.source,
            position=position,
            status_code=payment.status,
            charge=payment.charge,
            paid=payment.paid,
            patient_responsibility=payment.patient_responsibility,
            filing_indicator=payment.filing_indicator,
            payer_claim_digest=self.digest(payment.payer_claim_control_number),
            matched_by="none",
            outcome="unmatched",
            created_by=self.ledger.actor,
        )
        self.gate.session.add(row)
        return PaymentOutcome("unmatched", row.id)

    def post(
        self, payment: ClaimPayment, *, claim: ClaimRef, matches: Sequence[LineMatch], position: int, matched_by: str
    ) -> PaymentOutcome:
        digest = self.digest(payment.payer_claim_control_number)
        if self.is_duplicate(digest, payment):
            return PaymentOutcome("duplicate", control_number=claim.control_number)
        if payment.is_reversal:
            return self._reverse(payment, digest=digest, claim=claim, matches=matches, position=position)
        row_id = self._row(
            payment, digest=digest, claim=claim, position=position, matched_by=matched_by, outcome="posted"
        )
        result = PaymentOutcome("posted", row_id, control_number=claim.control_number)
        denied = [m for m in matches if _denied_line(m)]
        whole = payment.is_denial or (payment.paid == 0 and bool(matches) and len(denied) == len(matches))
        if not matches and payment.paid == 0 and payment.adjustments:
            whole = whole or not any(a.group == "PR" for a in payment.adjustments)
        self._record_lines(payment, row_id, claim, matches, money=True, whole_denial=whole)
        result.lines_unmatched = sum(m.service_line_id is None for m in matches)
        balance = self.ledger.balances[claim.id]
        if whole:
            target = "denied"
        elif denied or balance.insurance_balance != 0:
            target = "partially_paid"
        else:
            target = "paid"
        if whole or denied:
            lines = matches if whole else denied
            codes = _codes(payment.adjustments) + [c for m in lines for c in _codes(m.line.adjustments)]
            remarks = list(payment.remark_codes) + [r for m in lines for r in m.line.remark_codes]
            text = ",".join(dict.fromkeys(codes)) + (";" + ",".join(dict.fromkeys(remarks)) if remarks else "")
            self.gate.session.add(
                DenialWorkItem(
                    organization_id=self.gate.ctx.organization_id,
                    claim_id=claim.id,
                    patient_id=claim.patient_id,
                    claim_payment_id=row_id,
                    reason_codes=text[:255] or "none",
                )
            )
            result.denial_queued = True
            result.reasons = codes
        self._move(claim, target, payment, result)
        self.gate.session.get(ClaimPaymentPosting, row_id).claim_status = result.claim_status  # type: ignore[union-attr]
        return result

    def _move(self, claim: ClaimRef, target: str, payment: ClaimPayment, result: PaymentOutcome) -> None:
        current = self.ledger.claims[claim.id].status
        result.claim_status = current
        if target == current:
            return
        if self.transition_source not in TRANSITIONS.get(current, {}).get(target, frozenset()):
            result.status_refused = True
            return
        move(
            gate=self.gate,
            claim_id=claim.id,
            to_status=target,
            source=self.transition_source,
            permission=POST,
            reason=(",".join(dict.fromkeys(result.reasons)) or f"CLP02 {payment.status}")[:255],
        )
        result.claim_status = target

    def _record_lines(
        self,
        payment: ClaimPayment,
        row_id: uuid.UUID,
        claim: ClaimRef,
        matches: Sequence[LineMatch],
        *,
        money: bool,
        whole_denial: bool = False,
    ) -> None:
        """Line postings, adjustments and remarks of a claim payment; with ``money`` also its ledger movements.
        The CO/OA/PI adjustments of a denied line (or claim) are recorded but not written off: the amount stays in
        the insurance balance until the denial is worked (appeal, or a write-off someone approves)."""
        session, org = self.gate.session, self.gate.ctx.organization_id
        ledger = self.ledger
        lines_paid = ZERO
        for m in matches:
            svc = m.line
            denial = whole_denial or _denied_line(m)
            line_row = LinePosting(
                organization_id=org,
                claim_payment_id=row_id,
                claim_id=claim.id,
                service_line_id=m.service_line_id,
                patient_id=claim.patient_id,
                position=m.position,
                matched_by=m.matched_by,
                charge=svc.charge,
                paid=svc.paid,
                allowed=_allowed(svc.charge, svc.adjustments, svc.allowed),
                units=svc.units,
                id=uuid7(),
            )
            session.add(line_row)
            session.add_all(
                PostedAdjustment(
                    organization_id=org,
                    claim_payment_id=row_id,
                    line_posting_id=line_row.id,
                    group_code=a.group,
                    reason_code=a.reason,
                    amount=a.amount,
                    quantity=a.quantity,
                )
                for a in svc.adjustments
            )
            session.add_all(
                PostedRemark(organization_id=org, claim_payment_id=row_id, line_posting_id=line_row.id, code=code)
                for code in svc.remark_codes
            )
            if money:
                lines_paid += svc.paid
                line_id = m.service_line_id
                ledger.add(
                    Movement(claim.id, "payer_paid", -svc.paid, service_line_id=line_id, claim_payment_id=row_id)
                )
                for a in svc.adjustments:
                    if not (denial and a.group != "PR"):  # a denial stays receivable until someone works it
                        ledger.add(_adjustment_movement(claim.id, a, line_id, row_id))
        session.add_all(
            PostedAdjustment(
                organization_id=org,
                claim_payment_id=row_id,
                group_code=a.group,
                reason_code=a.reason,
                amount=a.amount,
                quantity=a.quantity,
            )
            for a in payment.adjustments
        )
        session.add_all(
            PostedRemark(organization_id=org, claim_payment_id=row_id, code=code) for code in payment.remark_codes
        )
        if money:
            for a in payment.adjustments:
                if not (whole_denial and a.group != "PR"):
                    ledger.add(_adjustment_movement(claim.id, a, None, row_id))
            if payment.paid != lines_paid:
                ledger.add(Movement(claim.id, "payer_paid", lines_paid - payment.paid, claim_payment_id=row_id))

    def _reverse(
        self,
        payment: ClaimPayment,
        *,
        digest: str,
        claim: ClaimRef,
        matches: Sequence[LineMatch],
        position: int,
    ) -> PaymentOutcome:
        original = self.original_of(digest, payment)
        if original is None or original.claim_id != claim.id:
            return PaymentOutcome("reversal_without_original", control_number=claim.control_number)
        row_id = self._row(
            payment,
            digest=digest,
            claim=claim,
            position=position,
            matched_by="payer_claim_number",
            outcome="posted",
            reverses=original.id,
        )
        session = self.gate.session
        self._record_lines(payment, row_id, claim, matches, money=False)
        taken_back = session.get(ClaimPaymentPosting, original.id)
        assert taken_back is not None
        taken_back.outcome = "reversed"
        self.known[digest] = [
            Known(k.id, k.status_code, k.paid, "reversed", k.claim_id) if k.id == original.id else k
            for k in self.known[digest]
        ]
        entries = session.scalars(select(LedgerEntry).where(LedgerEntry.claim_payment_id == original.id)).all()
        for e in entries:
            self.ledger.add(
                Movement(
                    claim.id,
                    e.kind,
                    -e.insurance_amount,
                    -e.patient_amount,
                    service_line_id=e.service_line_id,
                    claim_payment_id=row_id,
                    group_code=e.group_code,
                    reason_code=e.reason_code,
                )
            )
        for item in session.scalars(
            select(DenialWorkItem).where(
                DenialWorkItem.claim_payment_id == original.id, DenialWorkItem.status == "open"
            )
        ):
            item.status, item.worked_at, item.worked_by = "worked", utcnow(), self.ledger.actor
        status = self.ledger.claims[claim.id].status
        return PaymentOutcome("reversal", row_id, control_number=claim.control_number, claim_status=status)


def _adjustment_movement(
    claim_id: uuid.UUID, a: Adjustment, line_id: uuid.UUID | None, payment_id: uuid.UUID
) -> Movement:
    """A PR share moves the amount to the patient; CO, OA and PI write it off."""
    shared = a.group == "PR"
    return Movement(
        claim_id,
        "patient_share" if shared else "write_off",
        -a.amount,
        a.amount if shared else ZERO,
        service_line_id=line_id,
        claim_payment_id=payment_id,
        group_code=a.group,
        reason_code=a.reason,
    )
