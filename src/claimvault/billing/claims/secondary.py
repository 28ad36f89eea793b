"""Secondary (and tertiary) claims: once the payer ahead has adjudicated a claim and its remittance is posted, the
claim to the next payer in the patient's coverage sequence, created through the claims service so it scrubs and
exports like any claim; claim assembly then carries the earlier payer's adjudication (837P 2320/2330B/2430)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select

from claimvault.billing.claims.models import Claim
from claimvault.billing.claims.schemas import ClaimCreate, ClaimOut
from claimvault.billing.claims.service import MANAGE, create_claim
from claimvault.billing.remittance.models import ClaimPaymentPosting
from claimvault.errors import Conflict, ValidationFailed
from claimvault.security.gate import PHIGate

NEXT_RANK = {"primary": "secondary", "secondary": "tertiary"}
ADJUDICATED = ("paid", "partially_paid", "denied")
REVERSAL = "22"


class SecondaryClaimRefused(Conflict):
    """The claim ahead is not (yet) in a state a later payer can be billed from. Messages name states, not values."""

    code = "secondary_claim_refused"


def create_secondary_claim(*, gate: PHIGate, primary_claim_id: uuid.UUID) -> ClaimOut:
    """A draft claim to the next payer (secondary after a primary claim, tertiary after a secondary one) for the
    same encounter. Refused unless the claim given is paid, partially paid or denied with a live posting (not
    reversed) whose charge is the claim's, and the patient has an active coverage of the next rank on the date of
    service (checked by ``create_claim``, which also refuses a second live claim to that coverage)."""
    claim = gate.get(Claim, primary_claim_id, permission=MANAGE)  # authorization, scope and the audit event
    rank = str(claim["rank"])
    if rank not in NEXT_RANK:
        raise SecondaryClaimRefused("A tertiary claim has no later payer to bill.")
    status = str(claim["status"])
    if status not in ADJUDICATED:
        raise SecondaryClaimRefused(
            f"The {rank} claim is {status}: it must be paid, partially paid or denied, with its remittance posted,"
            f" before the {NEXT_RANK[rank]} payer is billed."
        )
    charges = gate.session.scalars(
        select(ClaimPaymentPosting.charge)
        .where(
            ClaimPaymentPosting.claim_id == claim.id,
            ClaimPaymentPosting.outcome == "posted",
            ClaimPaymentPosting.status_code != REVERSAL,
        )
        .order_by(ClaimPaymentPosting.posted_at.desc(), ClaimPaymentPosting.id.desc())
    ).all()
    if not charges:
        raise SecondaryClaimRefused(
            f"The {rank} claim has no posted remittance (none, or only reversed ones): post the payer's 835 or"
            " paper EOB first."
        )
    if Decimal(charges[0]) != Decimal(claim["total_charge"]):
        raise ValidationFailed(
            f"The {rank} payer's posted claim charge differs from the claim's total charge: the"
            f" {NEXT_RANK[rank]} claim could not carry a balanced adjudication."
        )
    return create_claim(gate=gate, data=ClaimCreate(encounter_id=claim["encounter_id"], rank=NEXT_RANK[rank]))
