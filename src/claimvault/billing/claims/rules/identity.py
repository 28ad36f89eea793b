"""Identity and identifier rules: required fields, NPI check digits, taxonomy, tax id, no P.O. box for the billing
provider or the service facility, ZIP codes (ZIP+4 where the 837P requires it) and member id formats (MBI for
Medicare). Each check yields ``Issue``s that name fields, never values."""

from __future__ import annotations

import re
from collections.abc import Iterator

from claimvault.billing.claims.document import Address, ClaimDocument, Provider, Subscriber
from claimvault.billing.claims.rules.context import Issue, ScrubContext
from claimvault.discovery.validators import mbi_valid, npi_valid

MEDICARE_FILING_INDICATORS = frozenset({"MA", "MB"})  # SBR09: Medicare Part A, Part B
_MEMBER_ID = re.compile(r"[A-Za-z0-9]{2,80}")
_TAXONOMY = re.compile(r"[0-9A-Z]{9}X")
_TAX_ID = re.compile(r"[0-9]{9}")
_ZIP = re.compile(r"[0-9]{5}(?:[0-9]{4})?")
_ZIP9 = re.compile(r"[0-9]{9}")
# "P.O. Box", "PO BOX", "P O Box", "POBox", "POB", "P.O.B.", "Post Office Box", "Postal Box", "Box 12";
# not "Boxwood Rd", "Pobst St" or "Box Elder Ave".
_PO_BOX = re.compile(
    r"""\b(?:
        p\.?\s*o\.?\s*b(?:ox)?\b            # PO Box, P.O. Box, POBox, POB, P.O.B.
      | post(?:al)?\s*(?:office\s*)?box\b   # Post Office Box, Postal Box, Post Box
      | box\s*(?:no\.?|number|\#)?\s*\d     # Box 12, Box #12, Box No. 12
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def is_po_box(text: str) -> bool:
    return bool(_PO_BOX.search(text))


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _provider_names(provider: Provider, path: str) -> Iterator[Issue]:
    if provider.entity == "organization":
        if _blank(provider.organization_name):
            yield Issue(f"{path}.organization_name", "The organization name is required.")
    else:
        if _blank(provider.family_name):
            yield Issue(f"{path}.family_name", "The provider's family name is required.")
        if _blank(provider.given_name):
            yield Issue(f"{path}.given_name", "The provider's given name is required.")


def _address(address: Address | None, path: str) -> Iterator[Issue]:
    if address is None:
        yield Issue(path, "The address is required.")
        return
    for name in ("line1", "city", "state", "postal_code"):
        if _blank(getattr(address, name)):
            yield Issue(f"{path}.{name}", f"The address {name.replace('_', ' ')} is required.")


def check_required(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    if _blank(claim.patient_control_number):
        yield Issue("patient_control_number", "The patient control number (claim number) is required.")
    bp = claim.billing_provider
    if _blank(bp.npi):
        yield Issue("billing_provider.npi", "The billing provider NPI is required.")
    if _blank(bp.tax_id):
        yield Issue("billing_provider.tax_id", "The billing provider tax id is required.")
    yield from _provider_names(bp, "billing_provider")
    yield from _address(bp.address, "billing_provider.address")
    for path, other in (
        ("rendering_provider", claim.rendering_provider),
        ("referring_provider", claim.referring_provider),
    ):
        if other is not None:
            if _blank(other.npi):
                yield Issue(f"{path}.npi", "The provider NPI is required.")
            yield from _provider_names(other, path)
    if claim.facility is not None:
        if _blank(claim.facility.name):
            yield Issue("facility.name", "The service facility name is required.")
        yield from _address(claim.facility.address, "facility.address")
    sub = claim.subscriber
    if _blank(sub.member_id):
        yield Issue("subscriber.member_id", "The subscriber member id is required.")
    if _blank(sub.payer.payer_id):
        yield Issue("subscriber.payer.payer_id", "The payer id is required.")
    if _blank(sub.payer.name):
        yield Issue("subscriber.payer.name", "The payer name is required.")
    if sub.relationship != "self":
        for name in ("given_name", "family_name"):
            if _blank(getattr(sub.person, name)):
                yield Issue(f"subscriber.person.{name}", "The subscriber's name is required.")
    for name in ("given_name", "family_name"):
        if _blank(getattr(claim.patient, name)):
            yield Issue(f"patient.{name}", "The patient's name is required.")
    if claim.patient.birth_date is None:
        yield Issue("patient.birth_date", "The patient's birth date is required.")
    if claim.patient.sex not in ("M", "F", "U"):
        yield Issue("patient.sex", "The patient's sex is required (M, F or U).")
    yield from _address(claim.patient.address, "patient.address")
    if not claim.diagnoses:
        yield Issue("diagnoses", "At least one diagnosis is required.")
    if not claim.lines:
        yield Issue("lines", "At least one service line is required.")
    if _blank(claim.place_of_service):
        yield Issue("place_of_service", "The claim place of service is required.")


def _providers(claim: ClaimDocument) -> Iterator[tuple[str, Provider]]:
    yield "billing_provider", claim.billing_provider
    if claim.rendering_provider is not None:
        yield "rendering_provider", claim.rendering_provider
    if claim.referring_provider is not None:
        yield "referring_provider", claim.referring_provider


def check_npi(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    npis = [(f"{path}.npi", p.npi) for path, p in _providers(claim)]
    if claim.facility is not None and claim.facility.npi is not None:
        npis.append(("facility.npi", claim.facility.npi))
    for path, npi in npis:
        if _blank(npi):
            continue  # a missing NPI is a required-field finding
        if not (npi.isascii() and npi.isdigit() and npi_valid(npi)):
            yield Issue(path, "The NPI is not 10 digits with a valid check digit.")


def check_taxonomy(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for path, provider in _providers(claim):
        taxonomy = provider.taxonomy
        if _blank(taxonomy):
            if path == "billing_provider":
                yield Issue(f"{path}.taxonomy", "The billing provider taxonomy code is required.")
        elif not _TAXONOMY.fullmatch(taxonomy or ""):
            yield Issue(f"{path}.taxonomy", "The taxonomy code is not 10 characters ending in X.")


def check_tax_id(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    tax_id = claim.billing_provider.tax_id
    if not _blank(tax_id) and not _TAX_ID.fullmatch(tax_id or ""):
        yield Issue("billing_provider.tax_id", "The billing provider tax id is not 9 digits.")


def _physical_addresses(claim: ClaimDocument) -> Iterator[tuple[str, Address]]:
    if claim.billing_provider.address is not None:
        yield "billing_provider.address", claim.billing_provider.address
    if claim.facility is not None:
        yield "facility.address", claim.facility.address


def check_po_box(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for path, address in _physical_addresses(claim):
        for name in ("line1", "line2"):
            text = getattr(address, name)
            if text and is_po_box(text):
                yield Issue(f"{path}.{name}", "The address must be a street address, not a post office box.")


def check_zip(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    for path, address in _physical_addresses(claim):
        if not _blank(address.postal_code) and not _ZIP9.fullmatch(address.postal_code):
            yield Issue(f"{path}.postal_code", "The ZIP code must have 9 digits (ZIP+4).")
    others: list[tuple[str, Address | None]] = [
        ("patient.address", claim.patient.address),
        ("subscriber.person.address", claim.subscriber.person.address),
        ("subscriber.payer.address", claim.subscriber.payer.address),
    ]
    for path, maybe in others:
        if maybe is not None and not _blank(maybe.postal_code) and not _ZIP.fullmatch(maybe.postal_code):
            yield Issue(f"{path}.postal_code", "The ZIP code must have 5 or 9 digits.")


def _member_id_issue(subscriber: Subscriber, path: str) -> Iterator[Issue]:
    member_id = subscriber.member_id
    if _blank(member_id):
        return
    if subscriber.payer.claim_filing_indicator.strip().upper() in MEDICARE_FILING_INDICATORS:
        if not mbi_valid(member_id) or "-" in member_id:
            yield Issue(f"{path}.member_id", "The Medicare member id is not a valid MBI (11 characters, CMS format).")
    elif not _MEMBER_ID.fullmatch(member_id):
        yield Issue(f"{path}.member_id", "The member id must be 2 to 80 letters or digits.")


def check_member_id(claim: ClaimDocument, ctx: ScrubContext) -> Iterator[Issue]:
    yield from _member_id_issue(claim.subscriber, "subscriber")
    for i, other in enumerate(claim.other_subscribers):
        yield from _member_id_issue(other, f"other_subscribers[{i}]")
