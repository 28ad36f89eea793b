"""Manual posting of a claim payment read from a paper EOB, through the same rules as an 835: the lines are
matched to the claim's service lines, every line and the claim must balance, the payment is recognised later (an
835 carrying the same payer claim number, CLP02 and amount skips it), and the claim moves (source ``eob``).

The caller builds the ``ClaimPayment`` with the 835 helpers (``adjudicate_line``, ``deny_line``,
``claim_payment`` of ``remit_835_writer``) from what the EOB says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from claimvault.billing.claims.models import Claim
from claimvault.billing.remittance.ledger import POST, Ledger
from claimvault.billing.remittance.matching import ClaimRef, lines_of, match_lines
from claimvault.billing.remittance.models import ClaimPaymentPosting
from claimvault.billing.remittance.posting import Poster, payer_claim_digest
from claimvault.billing.x12.remit_835 import ClaimPayment, claim_balanced, line_balanced
from claimvault.errors import NotFound, ValidationFailed
from claimvault.security.gate import PHIGate


@dataclass(frozen=True)
class ManualPostingOut:
    outcome: str  # posted | reversal | duplicate | reversal_without_original
    claim_payment_id: uuid.UUID | None
    claim_status: str | None
    denial_queued: bool
    lines_unmatched: int


def post_manual_payment(*, gate: PHIGate, claim_id: uuid.UUID, payment: ClaimPayment) -> ManualPostingOut:
    """Post ``payment`` to the claim ``claim_id`` in the gate's transaction (row locks as for an 835)."""
    gate.authorize(POST, entity_type=ClaimPaymentPosting.__tablename__, entity_id=claim_id)
    bad = [n for n, line in enumerate(payment.lines) if not line_balanced(line)]
    if bad or not claim_balanced(payment):
        where = ", ".join(f"line {n}" for n in bad) or "the claim"
        raise ValidationFailed(f"The posting does not balance (charge = paid + adjustments): {where}.")
    if not payment.payer_claim_control_number.strip():
        raise ValidationFailed("The payer's claim number is required.")
    gate.check_in_scope(Claim, claim_id, POST)
    ledger = Ledger(gate)
    ledger.lock([claim_id])
    row = ledger.claims.get(claim_id)
    if row is None:
        raise NotFound("No such record.")
    if row.status in ("draft", "scrubbed", "ready", "superseded", "closed"):
        raise ValidationFailed(f"A {row.status} claim cannot take a payer's payment.")
    claim = ClaimRef(row.id, row.control_number, row.patient_id, row.encounter_id, row.status, row.total_charge)
    matches = match_lines(payment, lines_of(gate, [row.encounter_id])[row.encounter_id])
    poster = Poster(gate, ledger, source="manual")
    poster.load_known([payer_claim_digest(gate, payment.payer_claim_control_number)])
    result = poster.post(payment, claim=claim, matches=matches, position=0, matched_by="manual")
    ledger.flush()
    return ManualPostingOut(
        outcome=result.outcome,
        claim_payment_id=result.claim_payment_id,
        claim_status=result.claim_status,
        denial_queued=result.denial_queued,
        lines_unmatched=result.lines_unmatched,
    )
