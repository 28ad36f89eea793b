"""The claim as the scrubber and the 837P writer see it: plain, immutable values assembled by the claims service
after the PHI gate has decrypted (and audited) them. Nothing here touches storage; these objects live for one
scrub or one file and are never logged (their reprs name no values).

Conventions:
- codes are stored without dots or spaces (ICD-10-CM ``E119``, ZIP ``123451234``, phone digits only);
- money is ``Decimal`` with two places; units are ``Decimal``;
- dates are ``datetime.date``; ``None`` means "not given" and is a scrubber finding where the 837P requires it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

Relationship = Literal["self", "spouse", "child", "other"]
Rank = Literal["primary", "secondary", "tertiary"]
Frequency = Literal["1", "7", "8"]  # original, replacement, void
Responsibility = Literal["P", "S", "T"]  # payer responsibility sequence (SBR01): primary, secondary, tertiary
AdjustmentGroup = Literal["CO", "CR", "OA", "PI", "PR"]  # CAS01: contractual, correction, other, payer, patient

# X12 individual relationship codes (2000B SBR02 / 2000C PAT01).
X12_RELATIONSHIP: dict[str, str] = {"self": "18", "spouse": "01", "child": "19", "other": "G8"}
# Payer responsibility sequence (SBR01).
X12_RESPONSIBILITY: dict[str, str] = {"primary": "P", "secondary": "S", "tertiary": "T"}


class _NoValues:
    """Reprs that name the type and never the values (these objects carry PHI)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(...)"


@dataclass(frozen=True, repr=False)
class Address(_NoValues):
    line1: str
    city: str
    state: str  # two letters
    postal_code: str  # 5 or 9 digits
    line2: str | None = None


@dataclass(frozen=True, repr=False)
class Provider(_NoValues):
    """A billing, rendering or referring provider (or the service facility's organization)."""

    npi: str
    entity: Literal["person", "organization"]
    organization_name: str | None = None  # entity == "organization"
    family_name: str | None = None  # entity == "person"
    given_name: str | None = None
    taxonomy: str | None = None  # 10 characters, e.g. 207Q00000X
    tax_id: str | None = None  # 9 digits; billing provider only
    tax_id_kind: Literal["EI", "SY"] = "EI"  # EIN or SSN
    address: Address | None = None
    contact_name: str | None = None
    contact_phone: str | None = None  # 10 digits


@dataclass(frozen=True, repr=False)
class Facility(_NoValues):
    name: str
    address: Address
    npi: str | None = None


@dataclass(frozen=True, repr=False)
class Payer(_NoValues):
    payer_id: str  # the identifier the 837P carries in 2010BB NM109 (e.g. a clearinghouse payer id)
    name: str
    claim_filing_indicator: str = "CI"  # SBR09: MB Medicare Part B, MC Medicaid, CI commercial, BL BCBS, ...
    timely_filing_days: int | None = None
    address: Address | None = None


@dataclass(frozen=True, repr=False)
class Person(_NoValues):
    given_name: str
    family_name: str
    birth_date: date | None
    sex: Literal["M", "F", "U"] = "U"
    address: Address | None = None
    middle_name: str | None = None


@dataclass(frozen=True, repr=False)
class Subscriber(_NoValues):
    """One coverage as the claim uses it: the payer, the insured person and the patient's relationship to them."""

    rank: Rank
    payer: Payer
    member_id: str
    person: Person  # the insured; equal to the patient when relationship == "self"
    relationship: Relationship = "self"
    group_number: str | None = None
    # For other (COB) coverages: what that payer already paid, when known (2320 AMT*D).
    paid_amount: Decimal | None = None


@dataclass(frozen=True, repr=False)
class Diagnosis(_NoValues):
    code: str  # ICD-10-CM without the dot
    system: Literal["icd10cm"] = "icd10cm"


@dataclass(frozen=True, repr=False)
class ServiceLine(_NoValues):
    procedure_code: str  # CPT or HCPCS Level II
    charge: Decimal
    units: Decimal
    service_date: date
    diagnosis_pointers: tuple[int, ...]  # 1-based positions in ClaimDocument.diagnoses
    modifiers: tuple[str, ...] = ()
    service_date_to: date | None = None
    place_of_service: str | None = None  # only when it differs from the claim's
    unit_basis: Literal["UN", "MJ"] = "UN"  # units or minutes (anesthesia)


@dataclass(frozen=True, repr=False)
class Adjustment(_NoValues):
    """One adjustment an other payer reported (835 CAS): group, claim adjustment reason code and amount."""

    group: AdjustmentGroup
    reason: str  # CARC, e.g. "45" (contractual), "1" deductible, "2" coinsurance, "3" co-payment
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True, repr=False)
class LineAdjudication(_NoValues):
    """How an other payer adjudicated one service line (837P loop 2430). ``line_number`` is the 1-based position in
    ``ClaimDocument.lines``; the line's charge must equal ``paid_amount`` plus the adjustments."""

    line_number: int
    paid_amount: Decimal
    procedure_code: str  # as the payer adjudicated it (may differ from the line billed)
    units: Decimal  # paid units of service
    modifiers: tuple[str, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    adjudication_date: date | None = None  # defaults to the payer's adjudication date
    remaining_patient_liability: Decimal | None = None  # 2430 AMT*EAF; defaults to the line's PR adjustments


@dataclass(frozen=True, repr=False)
class Adjudication(_NoValues):
    """What an other payer decided (from its remittance): claim level (2320/2330B) and per line (2430).
    The claim's total charge must equal ``paid_amount`` plus every claim- and line-level adjustment."""

    paid_amount: Decimal  # 2320 AMT*D
    adjudication_date: date  # 2330B DTP*573
    adjustments: tuple[Adjustment, ...] = ()  # claim level, 2320 CAS
    lines: tuple[LineAdjudication, ...] = ()  # keyed by LineAdjudication.line_number
    # 2320 AMT*EAF when the payer reported claim level only (defaults to the PR adjustments); with ``lines`` the
    # remaining liability goes on each line instead (the guide forbids both).
    remaining_patient_liability: Decimal | None = None
    payer_claim_number: str | None = None  # 2330B REF*F8, the other payer's claim control number

    def line(self, number: int) -> LineAdjudication | None:
        return next((a for a in self.lines if a.line_number == number), None)


@dataclass(frozen=True, repr=False)
class OtherPayer(_NoValues):
    """Another payer of the claim (837P loops 2320, 2330A, 2330B): the coverage, its place in the payment sequence
    and, once that payer has adjudicated the claim, its adjudication."""

    payer: Payer
    responsibility: Responsibility
    member_id: str
    subscriber: Person  # the other coverage's insured
    relationship: Relationship = "self"  # the patient's relationship to that insured
    group_number: str | None = None
    insurance_type: str | None = None  # SBR05, e.g. "12"/"47", when that payer is Medicare and not primary
    adjudication: Adjudication | None = None

    @classmethod
    def from_subscriber(cls, sub: Subscriber, *, adjudication: Adjudication | None = None) -> OtherPayer:
        return cls(
            payer=sub.payer,
            responsibility=X12_RESPONSIBILITY[sub.rank],  # type: ignore[arg-type]
            member_id=sub.member_id,
            subscriber=sub.person,
            relationship=sub.relationship,
            group_number=sub.group_number,
            adjudication=adjudication,
        )


@dataclass(frozen=True, repr=False)
class ClaimDocument(_NoValues):
    """One claim to one payer. ``subscriber`` is the coverage billed; ``other_subscribers`` the patient's other
    coverages. ``other_payers``, when given, is what the 837P writes in 2320/2330A/2330B (with the other payers'
    adjudications, 2320 CAS/AMT and 2430); it must then name the same payers as any ``other_subscribers``.
    ``payer_responsibility`` is where the billed payer stands in the payment sequence (2000B SBR01); by default
    the billed coverage's rank. ``patient`` is always the patient; when ``subscriber.relationship == "self"``
    the patient is the subscriber and the 837P has no 2000C loop."""

    claim_id: uuid.UUID
    patient_control_number: str  # CLM01: the claim number, never PHI; echoed back by 999/277CA/835
    total_charge: Decimal
    place_of_service: str  # CLM05-1, two digits
    frequency_code: Frequency
    billing_provider: Provider
    subscriber: Subscriber
    patient: Person
    diagnoses: tuple[Diagnosis, ...]
    lines: tuple[ServiceLine, ...]
    rendering_provider: Provider | None = None
    referring_provider: Provider | None = None
    facility: Facility | None = None
    other_subscribers: tuple[Subscriber, ...] = ()
    original_reference: str | None = None  # payer claim control number, REF*F8 (frequency 7 and 8)
    patient_id: uuid.UUID | None = None
    created_on: date | None = None
    provider_signature_on_file: bool = True
    assignment_accepted: bool = True
    release_of_information: Literal["Y", "I"] = "Y"
    other_payers: tuple[OtherPayer, ...] = ()
    payer_responsibility: Responsibility | None = None

    @property
    def responsibility(self) -> str:
        """SBR01 of 2000B: ``payer_responsibility`` or the billed coverage's rank as P/S/T."""
        return self.payer_responsibility or X12_RESPONSIBILITY[self.subscriber.rank]


@dataclass(frozen=True)
class Finding:
    """One scrubber finding. Messages and hints name fields and rules, never values."""

    rule: str  # e.g. "CV-NPI-001"
    severity: Literal["error", "warning"]
    message: str
    fix: str
    field: str | None = None  # a dotted path, e.g. "lines[2].diagnosis_pointers"


@dataclass(frozen=True)
class ScrubReport:
    claim_id: uuid.UUID
    findings: tuple[Finding, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def passed(self) -> bool:
        return not self.errors
