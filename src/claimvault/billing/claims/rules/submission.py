"""Submission rules: duplicate claims (by fingerprint against the other live claims), the original reference of
replacement (7) and void (8) claims, and the payer's timely-filing limit. Each check yields ``Issue``s that name
fields, never values."""

from __future__ import annotations

from collections.abc import Iterator

from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.claims.rules.context import Issue, ScrubContext, claim_fingerprint

TIMELY_FILING_WARNING_DAYS = 15  # warn when the limit is this many days away or fewer


def check_duplicate(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if claim.patient_id is None or not claim.lines:
        return
    others = set(ctx.existing_claims.get(claim_fingerprint(claim), ())) - {claim.claim_id}
    if claim.frequency_code in ("7", "8") and ctx.replaces is not None:
        others.discard(ctx.replaces)
    if others:
        yield Issue("lines", "Another live claim has the same patient, payer, billing provider and services.")


def check_original_reference(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if claim.frequency_code in ("7", "8") and not (claim.original_reference or "").strip():
        yield Issue("original_reference", "A replacement or void claim needs the payer's original claim number.")


def check_stray_reference(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if claim.frequency_code == "1" and (claim.original_reference or "").strip():
        yield Issue("original_reference", "An original claim carries an original claim number: is it a replacement?")


def _days_left(claim: ClaimDocument, ctx: ScrubContext) -> tuple[str, int] | None:
    """(field path of the earliest service date, days until the payer's timely-filing limit; negative: past it),
    counted from the earliest service date to the submission date; None when the payer has no limit or the claim
    no lines."""
    limit = claim.subscriber.payer.timely_filing_days
    if limit is None or not claim.lines:
        return None
    n = min(range(len(claim.lines)), key=lambda i: claim.lines[i].service_date)
    return f"lines[{n}].service_date", limit - (ctx.submitted_on - claim.lines[n].service_date).days


def check_timely_filing(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    found = _days_left(claim, ctx)
    if found is not None and found[1] < 0:
        yield Issue(found[0], "The earliest service date is past the payer's timely-filing limit.")


def check_timely_filing_near(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    found = _days_left(claim, ctx)
    if found is not None and 0 <= found[1] <= TIMELY_FILING_WARNING_DAYS:
        yield Issue(found[0], f"The payer's timely-filing limit is {TIMELY_FILING_WARNING_DAYS} days away or fewer.")
