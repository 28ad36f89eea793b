"""Seeded factory of synthetic, valid ``ClaimDocument``s for the scrubber, the 837P writer and their benchmarks.

``make_claim(seed, variant=...)`` is deterministic: the same seed and variant give the same claim. Variants:

- ``self``: the patient is the subscriber, one commercial primary coverage, one or two lines;
- ``dependent``: the subscriber is the patient's spouse or parent (837P loop 2000C);
- ``secondary``: billed to the commercial secondary with Medicare primary in ``other_subscribers`` (paid amount);
- ``multiline``: four to six lines with modifiers, a date range, a line place of service and many diagnoses;
- ``providers``: referring, rendering (person, with taxonomy) and service facility;
- ``replacement`` / ``void``: frequency 7 / 8 with the payer's original claim number;
- ``medicare``: billed to Medicare Part B (MBI-shaped member id);
- ``full``: every path at once (dependent, secondary, several lines with modifiers, providers, replacement).

Coordination-of-benefits variants (``COB_VARIANTS``, kept apart so tests that parametrize ``VARIANTS`` keep their
counts) fill ``other_payers`` and ``payer_responsibility``:

- ``cob_primary``: billed to the primary, with a secondary (the spouse's plan) and a tertiary (Medicaid) payer;
- ``cob_secondary``: billed to the secondary after Medicare paid: line adjudications (CO-45, PR-1/2/3), a
  claim-level CO-253, the payer's claim number; a tertiary payer not yet billed;
- ``cob_tertiary``: billed to the tertiary after Medicare (line level) and a supplemental plan (claim level only,
  OA-23 for the primary's share, PR for what is left).

Every variant except ``medicare`` bills ``COMMERCIAL_PAYER_ID``, so those claims can share one 837P file. Data
are synthetic (faker with a seeded instance and ``random.Random(seed)``); NPIs pass the Luhn check over 80840.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from faker import Faker

from claimvault.billing.claims.document import (
    Address,
    Adjudication,
    Adjustment,
    ClaimDocument,
    Diagnosis,
    Facility,
    LineAdjudication,
    OtherPayer,
    Payer,
    Person,
    Provider,
    Rank,
    Responsibility,
    ServiceLine,
    Subscriber,
)
from claimvault.billing.x12.envelope import TradingPartner
from claimvault.discovery.validators import mbi_valid, npi_valid

VARIANTS: tuple[str, ...] = (
    "self",
    "dependent",
    "secondary",
    "multiline",
    "providers",
    "replacement",
    "void",
    "medicare",
    "full",
)
COB_VARIANTS: tuple[str, ...] = ("cob_primary", "cob_secondary", "cob_tertiary")
COMMERCIAL_PAYER_ID = "SYNCI01"
MEDICARE_PAYER_ID = "SYNMB01"
SUPPLEMENTAL_PAYER_ID = "SYNCI02"
MEDICAID_PAYER_ID = "SYNMC01"

_STATES = ("AL", "AZ", "CA", "CO", "FL", "GA", "IL", "MA", "MI", "NC", "NY", "OH", "PA", "TX", "WA")
_DIAGNOSES = ("E119", "I10", "J069", "M5450", "Z23", "R519", "E785", "K219", "J45909", "F419", "N390", "M25561")
_PROCEDURES = ("99213", "99214", "93000", "36415", "85025", "80053", "71046", "20610", "G0439", "J1100")
_MODIFIERS = ("25", "59", "LT", "RT", "76", "GA")
_TAXONOMIES = ("207Q00000X", "207R00000X", "208D00000X", "261QP2300X")

_MBI_C = "123456789"
_MBI_A = "ACDEFGHJKMNPQRTUVWXY"
_MBI_N = "0123456789"
_MBI_AN = _MBI_A + _MBI_N
_MBI_FORMAT = (_MBI_C, _MBI_A, _MBI_AN, _MBI_N, _MBI_A, _MBI_AN, _MBI_N, _MBI_A, _MBI_A, _MBI_N, _MBI_N)

_fake = Faker("en_US")


def make_npi(rng: random.Random) -> str:
    """A random NPI with a valid check digit."""
    body = str(rng.choice((1, 2))) + "".join(str(rng.randrange(10)) for _ in range(8))
    npi = next(body + str(d) for d in range(10) if npi_valid(body + str(d)))
    return npi


def make_mbi(rng: random.Random) -> str:
    mbi = "".join(rng.choice(chars) for chars in _MBI_FORMAT)
    assert mbi_valid(mbi)
    return mbi


def _address(rng: random.Random, *, zip9: bool = False) -> Address:
    postal = f"{rng.randrange(10000, 99999)}" + (f"{rng.randrange(1, 9999):04d}" if zip9 or rng.random() < 0.3 else "")
    return Address(
        line1=_fake.street_address(),
        city=_fake.city(),
        state=rng.choice(_STATES),
        postal_code=postal,
        line2=_fake.secondary_address() if rng.random() < 0.2 else None,
    )


def _person(rng: random.Random, *, born_before: int = 2000, sex: str | None = None) -> Person:
    chosen = sex or rng.choice(("F", "M"))
    given = _fake.first_name_female() if chosen == "F" else _fake.first_name_male()
    return Person(
        given_name=given,
        family_name=_fake.last_name(),
        birth_date=date(rng.randrange(1940, born_before), rng.randrange(1, 13), rng.randrange(1, 29)),
        sex=chosen,  # type: ignore[arg-type]
        address=_address(rng),
        middle_name=_fake.first_name() if rng.random() < 0.3 else None,
    )


def _billing_provider(pool: int) -> Provider:
    """One of a few billing providers, so that claims of different seeds share a 2000A loop."""
    rng = random.Random(f"billing:{pool}")
    _fake.seed_instance(pool)
    return Provider(
        npi=make_npi(rng),
        entity="organization",
        organization_name=f"{_fake.last_name()} Family Practice",
        taxonomy=rng.choice(_TAXONOMIES),
        tax_id=f"{rng.randrange(10, 99)}{rng.randrange(1000000, 9999999)}",
        address=_address(rng, zip9=True),
        contact_name=_fake.name(),
        contact_phone=f"{rng.randrange(201, 989)}{rng.randrange(200, 999)}{rng.randrange(1000, 9999)}",
    )


def _person_provider(rng: random.Random, *, taxonomy: bool) -> Provider:
    return Provider(
        npi=make_npi(rng),
        entity="person",
        family_name=_fake.last_name(),
        given_name=_fake.first_name(),
        taxonomy=rng.choice(_TAXONOMIES) if taxonomy else None,
    )


def _commercial(rng: random.Random) -> Payer:
    return Payer(payer_id=COMMERCIAL_PAYER_ID, name="Synthetic Health Plan", claim_filing_indicator="CI",
                 timely_filing_days=180)  # fmt: skip


def _medicare() -> Payer:
    return Payer(payer_id=MEDICARE_PAYER_ID, name="Synthetic Medicare Part B", claim_filing_indicator="MB",
                 timely_filing_days=365)  # fmt: skip


def _lines(rng: random.Random, *, count: int, diagnoses: int, modifiers: bool, start: date) -> tuple[ServiceLine, ...]:
    lines = []
    for i in range(count):
        day = start + timedelta(days=i % 2)
        mods = tuple(rng.sample(_MODIFIERS, rng.randrange(1, 3))) if modifiers else ()
        pointers = tuple(rng.sample(range(1, diagnoses + 1), min(diagnoses, rng.randrange(1, 5))))
        lines.append(
            ServiceLine(
                procedure_code=rng.choice(_PROCEDURES),
                charge=Decimal(rng.randrange(2000, 40000)) / 100,
                units=Decimal(rng.randrange(1, 4)),
                service_date=day,
                diagnosis_pointers=pointers,
                modifiers=mods,
                service_date_to=day + timedelta(days=2) if modifiers and i == 0 else None,
                place_of_service="22" if modifiers and i == 1 else None,
            )
        )
    return tuple(lines)


def make_claim(seed: int, *, variant: str = "self") -> ClaimDocument:
    """A valid synthetic claim, the same for the same ``seed`` and ``variant``."""
    if variant in COB_VARIANTS:
        return _cob_claim(seed, variant)
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant; expected one of {VARIANTS + COB_VARIANTS}")
    billing_provider = _billing_provider(seed % 3)
    rng = random.Random(f"{variant}:{seed}")
    _fake.seed_instance(rng.randrange(2**32))
    full = variant == "full"
    dependent = variant in ("dependent", "full")
    secondary = variant in ("secondary", "full")
    several = variant in ("multiline", "full")
    medicare = variant == "medicare"

    patient = _person(rng, born_before=2020 if dependent else 2000)
    if dependent:
        insured = _person(rng, born_before=1995)
        relationship = rng.choice(("spouse", "child"))
    else:
        insured, relationship = patient, "self"
    payer = _medicare() if medicare else _commercial(rng)
    billed = Subscriber(
        rank="secondary" if secondary else "primary",
        payer=payer,
        member_id=make_mbi(rng) if medicare else f"W{rng.randrange(10**8, 10**9)}",
        person=insured,
        relationship=relationship,  # type: ignore[arg-type]
        group_number=None if medicare else f"G{rng.randrange(10000, 99999)}",
    )
    others: tuple[Subscriber, ...] = ()
    if secondary:
        others = (
            Subscriber(
                rank="primary",
                payer=_medicare(),
                member_id=make_mbi(rng),
                person=patient,
                relationship="self",
                paid_amount=Decimal(rng.randrange(1000, 9000)) / 100,
            ),
        )
    n_dx = 12 if full else (rng.randrange(4, 9) if several else rng.randrange(1, 4))
    diagnoses = tuple(Diagnosis(code) for code in rng.sample(_DIAGNOSES, n_dx))
    start = date(2026, rng.randrange(1, 11), rng.randrange(1, 28))
    n_lines = rng.randrange(4, 7) if several else rng.randrange(1, 3)
    lines = _lines(rng, count=n_lines, diagnoses=n_dx, modifiers=several, start=start)
    frequency = {"replacement": "7", "void": "8", "full": "7"}.get(variant, "1")
    providers = variant in ("providers", "full")
    return ClaimDocument(
        claim_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        patient_control_number=f"CV{rng.randrange(10**11, 10**12)}",
        total_charge=sum((line.charge for line in lines), Decimal("0.00")),
        place_of_service="11",
        frequency_code=frequency,  # type: ignore[arg-type]
        billing_provider=billing_provider,
        subscriber=billed,
        patient=patient,
        diagnoses=diagnoses,
        lines=lines,
        rendering_provider=_person_provider(rng, taxonomy=True) if providers else None,
        referring_provider=_person_provider(rng, taxonomy=False) if providers else None,
        facility=Facility(name=f"{_fake.city()} Outpatient Center", address=_address(rng), npi=make_npi(rng))
        if providers
        else None,
        other_subscribers=others,
        original_reference=f"PCN{rng.randrange(10**9, 10**10)}" if frequency != "1" else None,
        patient_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        created_on=start + timedelta(days=3),
    )


def make_partner(key: str = "CH1") -> TradingPartner:
    """A synthetic clearinghouse identity for 837P envelopes (tests and the benchmark)."""
    return TradingPartner(
        key=key,
        isa_sender_qualifier="ZZ",
        isa_sender_id="CLAIMVAULT",
        isa_receiver_qualifier="ZZ",
        isa_receiver_id="SYNCLEARING",
        gs_sender_code="CLAIMVAULT",
        gs_receiver_code="SYNCLEARING",
        submitter_name="ClaimVault Synthetic Clinic",
        submitter_id="CV0001",
        submitter_contact_name="Billing Desk",
        submitter_contact_phone="5555550100",
        receiver_name="Synthetic Clearinghouse",
        receiver_id="SYNCH01",
    )


_CENT = Decimal("0.01")


def _supplemental() -> Payer:
    return Payer(payer_id=SUPPLEMENTAL_PAYER_ID, name="Synthetic Supplemental Plan", claim_filing_indicator="CI")


def _medicaid() -> Payer:
    return Payer(payer_id=MEDICAID_PAYER_ID, name="Synthetic Medicaid", claim_filing_indicator="MC")


def _primary_adjudication(rng: random.Random, claim: ClaimDocument, day: date) -> Adjudication:
    """Medicare-style line adjudication: CO-45 down to the allowed amount, a deductible on the first line, a
    co-payment on the second, 20% coinsurance, and a small claim-level CO-253 (sequestration)."""
    lines = []
    for n, line in enumerate(claim.lines, start=1):
        allowed = (line.charge * Decimal(rng.randrange(55, 85)) / 100).quantize(_CENT)
        deductible = min(allowed, Decimal("15.00")) if n == 1 else Decimal(0)
        copay = min(allowed - deductible, Decimal("10.00")) if n == 2 else Decimal(0)
        coinsurance = ((allowed - deductible - copay) * Decimal("0.20")).quantize(_CENT)
        paid = allowed - deductible - copay - coinsurance
        adjustments = [Adjustment("CO", "45", line.charge - allowed)]
        adjustments += [
            Adjustment("PR", code, amount)
            for code, amount in (("1", deductible), ("2", coinsurance), ("3", copay))
            if amount
        ]
        lines.append(
            LineAdjudication(
                line_number=n,
                paid_amount=paid,
                procedure_code=line.procedure_code,
                units=line.units,
                modifiers=line.modifiers,
                adjustments=tuple(adjustments),
            )
        )
    sequestration = Decimal("1.00") if sum(a.paid_amount for a in lines) >= 1 else Decimal(0)
    return Adjudication(
        paid_amount=sum((a.paid_amount for a in lines), Decimal("0.00")) - sequestration,
        adjudication_date=day,
        adjustments=(Adjustment("CO", "253", sequestration),) if sequestration else (),
        lines=tuple(lines),
        payer_claim_number=f"MCR{rng.randrange(10**10, 10**11)}",
    )


def _secondary_adjudication(claim: ClaimDocument, primary: Adjudication, day: date) -> Adjudication:
    """A supplemental plan that reports claim level only: OA-23 for what the primary paid or wrote off, half of
    the patient's share paid, the rest left to the patient (PR-2)."""
    patient_share = sum((a.amount for a in primary.adjustments if a.group == "PR"), Decimal(0)) + sum(
        (a.amount for line in primary.lines for a in line.adjustments if a.group == "PR"), Decimal(0)
    )
    paid = (patient_share / 2).quantize(_CENT)
    return Adjudication(
        paid_amount=paid,
        adjudication_date=day,
        adjustments=(
            Adjustment("OA", "23", claim.total_charge - patient_share),
            Adjustment("PR", "2", patient_share - paid),
        ),
    )


def _cob_claim(seed: int, variant: str) -> ClaimDocument:
    rng = random.Random(f"{variant}:{seed}")
    base = make_claim(seed, variant="multiline" if variant == "cob_secondary" else "self")
    _fake.seed_instance(rng.randrange(2**32))
    patient = base.patient
    spouse = _person(rng, born_before=1995)
    after = (base.created_on or date(2026, 1, 1)) + timedelta(days=rng.randrange(14, 40))
    medicare = OtherPayer(payer=_medicare(), responsibility="P", member_id=make_mbi(rng), subscriber=patient)
    supplemental = OtherPayer(
        payer=_supplemental(),
        responsibility="S",
        member_id=f"S{rng.randrange(10**8, 10**9)}",
        subscriber=spouse,
        relationship="spouse",
        group_number=f"G{rng.randrange(10**4, 10**5)}",
    )
    medicaid = OtherPayer(
        payer=_medicaid(), responsibility="T", member_id=f"MC{rng.randrange(10**8, 10**9)}", subscriber=patient
    )
    others: tuple[OtherPayer, ...]
    rank: Rank
    responsibility: Responsibility
    if variant == "cob_primary":
        rank, responsibility = "primary", "P"
        others = (supplemental, medicaid)
    elif variant == "cob_secondary":
        rank, responsibility = "secondary", "S"
        others = (replace(medicare, adjudication=_primary_adjudication(rng, base, after)), medicaid)
    else:
        rank, responsibility = "tertiary", "T"
        primary = _primary_adjudication(rng, base, after)
        others = (
            replace(medicare, adjudication=primary),
            replace(supplemental, adjudication=_secondary_adjudication(base, primary, after + timedelta(days=12))),
        )
    return replace(
        base,
        subscriber=replace(base.subscriber, rank=rank),
        other_payers=others,
        payer_responsibility=responsibility,
    )
