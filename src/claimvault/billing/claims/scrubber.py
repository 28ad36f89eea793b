"""The claim scrubber: runs every rule of ``rules.RULES`` over one claim and returns the findings. Errors block the
claim from becoming ready; warnings do not. Pure: no storage, no logging; findings name fields, never values."""

from __future__ import annotations

from claimvault.billing.claims.document import ClaimDocument, ScrubReport
from claimvault.billing.claims.rules import RULES, Rule
from claimvault.billing.claims.rules.context import ScrubContext, claim_fingerprint

__all__ = ["RULES", "Rule", "ScrubContext", "claim_fingerprint", "scrub"]


def scrub(*, claim: ClaimDocument, context: ScrubContext) -> ScrubReport:
    """All findings of all rules, in rule-table order."""
    findings = [finding for rule in RULES for finding in rule.run(claim, context)]
    return ScrubReport(claim_id=claim.claim_id, findings=tuple(findings))
