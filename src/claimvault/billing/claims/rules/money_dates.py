"""Money and date rules: the claim total equals the sum of its lines, charges and units are positive, and service
dates are in order, not in the future and not before the patient's birth. Each check yields ``Issue``s that name
fields, never amounts or dates."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.claims.rules.context import Issue, ScrubContext

_CENT = Decimal("0.01")


def _cents(amount: Decimal) -> bool:
    return amount.is_finite() and amount == amount.quantize(_CENT)


def check_total(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    lines = [line.charge for line in claim.lines]
    finite = all(c.is_finite() for c in lines) and claim.total_charge.is_finite()
    if claim.lines and finite and sum(lines, Decimal(0)) != claim.total_charge:
        yield Issue("total_charge", "The claim total charge does not equal the sum of the line charges.")


def check_charges(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if not (_cents(claim.total_charge) and claim.total_charge > 0):
        yield Issue("total_charge", "The claim total charge must be a positive amount in cents.")
    for n, line in enumerate(claim.lines):
        if not (_cents(line.charge) and line.charge > 0):
            yield Issue(f"lines[{n}].charge", "The line charge must be a positive amount in cents.")


def check_units(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, line in enumerate(claim.lines):
        if not (line.units.is_finite() and line.units > 0):
            yield Issue(f"lines[{n}].units", "The units must be a positive number.")


def check_future(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, line in enumerate(claim.lines):
        if line.service_date > ctx.today:
            yield Issue(f"lines[{n}].service_date", "The service date is in the future.")
        if line.service_date_to is not None and line.service_date_to > ctx.today:
            yield Issue(f"lines[{n}].service_date_to", "The service end date is in the future.")


def check_birth(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    birth = claim.patient.birth_date
    if birth is None:
        return  # a required-field finding
    if birth > ctx.today:
        yield Issue("patient.birth_date", "The patient's birth date is in the future.")
    for n, line in enumerate(claim.lines):
        if line.service_date < birth:
            yield Issue(f"lines[{n}].service_date", "The service date is before the patient's birth date.")


def check_range(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for n, line in enumerate(claim.lines):
        if line.service_date_to is not None and line.service_date_to < line.service_date:
            yield Issue(f"lines[{n}].service_date_to", "The service end date is before the service start date.")
