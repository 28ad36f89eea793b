"""The 837P (005010X222A1) writer: one interchange per payer and trading partner, built from ``ClaimDocument``s.

Loops: 1000A/B (submitter, receiver); 2000A/2010AA per billing provider; 2000B/2010BA/2010BB per claim;
2000C/2010CA only when the patient is not the subscriber; 2300 with 2310A/B/C, 2320/2330A/B for the other
coverages (with an other payer's adjudication: 2320 CAS/AMT, 2330B DTP*573/REF*F8 and 2430 SVD/CAS/DTP/AMT per
line, balanced as the guide requires); 2400 per service line. More claims than the guide's recommended 5,000 per
transaction are split into several ST/SE transactions in one GS group. Nothing is validated here beyond what the
writer must refuse to write; ``validation.release_837p`` runs pyx12 before anything leaves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from claimvault.billing.claims.document import (
    X12_RELATIONSHIP,
    X12_RESPONSIBILITY,
    Address,
    Adjustment,
    ClaimDocument,
    OtherPayer,
    Payer,
    Person,
    Provider,
    ServiceLine,
    Subscriber,
)
from claimvault.billing.x12.envelope import (
    ControlNumbers,
    SegmentList,
    TradingPartner,
    ValueRules,
    X12ContentError,
    d8,
)

IMPLEMENTATION = "005010X222A1"
MAX_CLAIMS_PER_TRANSACTION = 5000  # the guide's recommended CLM limit per ST/SE
MAX_LINES = 50  # loop 2400 repeat
MAX_DIAGNOSES = 12  # HI01-HI12
MAX_POINTERS = 4  # SV107-1..4
MAX_OTHER_SUBSCRIBERS = 10  # loop 2320 repeat
MAX_CAS_SEGMENTS = 5  # CAS repeat in 2320 and in 2430
MAX_CAS_TRIPLETS = 6  # reason/amount/quantity triplets in one CAS
_SEQUENCE = ("P", "S", "T")  # payer responsibility sequence codes written in SBR01
_INSURANCE_TYPES = frozenset({"12", "13", "14", "15", "16", "41", "42", "43", "47"})  # SBR05 (Medicare secondary)


@dataclass(frozen=True, repr=False)
class Interchange:
    """One ISA/IEA envelope ready for the validation gate. ``text`` carries PHI: never log it."""

    text: str
    partner_key: str
    payer_id: str
    interchange_number: int
    group_number: int
    transaction_numbers: tuple[int, ...]
    segment_counts: tuple[int, ...]  # SE01 of each transaction
    claim_ids: tuple[uuid.UUID, ...] = field(default=())

    def __repr__(self) -> str:
        return (
            f"Interchange(partner_key={self.partner_key!r}, interchange_number={self.interchange_number}, "
            f"transactions={len(self.transaction_numbers)}, claims={len(self.claim_ids)})"
        )


def _number(value: Decimal) -> str:
    """An X12 R value: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class _Writer(ValueRules):
    def __init__(self, partner: TradingPartner) -> None:
        super().__init__(partner.delimiters)
        self.partner = partner

    # --- shared segments -------------------------------------------------------------------------------------
    def address(self, s: SegmentList, address: Address | None, *, field: str, zip9: bool = False) -> None:
        if address is None:
            raise X12ContentError(field, "is required")
        s.add(
            "N3",
            self.text(address.line1, field=f"{field}.line1", max_len=55),
            self.text(address.line2, field=f"{field}.line2", max_len=55, required=False),
        )
        zip_pattern = r"[0-9]{9}" if zip9 else r"[0-9]{5}([0-9]{4})?"
        s.add(
            "N4",
            self.text(address.city, field=f"{field}.city", max_len=30),
            self.ident(address.state, field=f"{field}.state", max_len=2, pattern=r"[A-Z]{2}"),
            self.ident(address.postal_code, field=f"{field}.postal_code", max_len=9, pattern=zip_pattern),
        )

    def person_name(self, s: SegmentList, code: str, person: Person, *, field: str, qualifier: str = "",
                    ident: str = "") -> None:  # fmt: skip
        s.add(
            "NM1",
            code,
            "1",
            self.text(person.family_name, field=f"{field}.family_name", max_len=60),
            self.text(person.given_name, field=f"{field}.given_name", max_len=35, required=False),
            self.text(person.middle_name, field=f"{field}.middle_name", max_len=25, required=False),
            "",
            "",
            qualifier,
            ident,
        )

    def provider_name(self, s: SegmentList, code: str, provider: Provider, *, field: str) -> None:
        npi = self.npi(provider.npi, field=f"{field}.npi")
        if provider.entity == "organization":
            name = self.text(provider.organization_name, field=f"{field}.organization_name", max_len=60)
            s.add("NM1", code, "2", name, "", "", "", "", "XX", npi)
        else:
            s.add(
                "NM1",
                code,
                "1",
                self.text(provider.family_name, field=f"{field}.family_name", max_len=60),
                self.text(provider.given_name, field=f"{field}.given_name", max_len=35, required=False),
                "",
                "",
                "",
                "XX",
                npi,
            )

    def demographics(self, s: SegmentList, person: Person, *, field: str) -> None:
        if person.birth_date is None:
            raise X12ContentError(f"{field}.birth_date", "is required")
        s.add("DMG", "D8", d8(person.birth_date), person.sex)

    def sbr(self, s: SegmentList, sub: Subscriber, *, field: str, relationship: str,
            responsibility: str | None = None) -> None:  # fmt: skip
        group = self.ident(sub.group_number, field=f"{field}.group_number", max_len=50) if sub.group_number else ""
        filing = self.ident(sub.payer.claim_filing_indicator, field=f"{field}.payer.claim_filing_indicator",
                            max_len=2, pattern=r"[0-9A-Z]{2}")  # fmt: skip
        s.add("SBR", responsibility or X12_RESPONSIBILITY[sub.rank], relationship, group, "", "", "", "", "", filing)

    def payer_name(self, s: SegmentList, payer: Payer, *, field: str) -> None:
        s.add(
            "NM1",
            "PR",
            "2",
            self.text(payer.name, field=f"{field}.name", max_len=60),
            "",
            "",
            "",
            "",
            "PI",
            self.ident(payer.payer_id, field=f"{field}.payer_id", min_len=2, max_len=80),
        )

    # --- loops -----------------------------------------------------------------------------------------------
    def billing_provider(self, s: SegmentList, hl: int, provider: Provider) -> None:
        f = "billing_provider"
        s.add("HL", str(hl), "", "20", "1")
        if provider.taxonomy:
            s.add("PRV", "BI", "PXC", self.ident(provider.taxonomy, field=f"{f}.taxonomy", max_len=10,
                                                 pattern=r"[0-9A-Z]{9}X"))  # fmt: skip
        self.provider_name(s, "85", provider, field=f)
        self.address(s, provider.address, field=f"{f}.address", zip9=True)
        if provider.tax_id_kind not in ("EI", "SY"):
            raise X12ContentError(f"{f}.tax_id_kind", "must be EI or SY")
        s.add("REF", provider.tax_id_kind, self.ident(provider.tax_id, field=f"{f}.tax_id", max_len=9,
                                                      pattern=r"[0-9]{9}"))  # fmt: skip
        if provider.contact_phone:
            phone = self.ident(provider.contact_phone, field=f"{f}.contact_phone", max_len=10, pattern=r"[0-9]{10}")
            name = self.text(provider.contact_name, field=f"{f}.contact_name", max_len=60, required=False)
            s.add("PER", "IC", name, "TE", phone)

    def subscriber(self, s: SegmentList, hl: int, parent: int, claim: ClaimDocument) -> None:
        sub = claim.subscriber
        f = "subscriber"
        is_patient = sub.relationship == "self"
        s.add("HL", str(hl), str(parent), "22", "0" if is_patient else "1")
        if claim.responsibility not in _SEQUENCE:
            raise X12ContentError("payer_responsibility", "must be P, S or T")
        self.sbr(s, sub, field=f, relationship="18" if is_patient else "", responsibility=claim.responsibility)
        member = self.ident(sub.member_id, field=f"{f}.member_id", max_len=80)
        self.person_name(s, "IL", sub.person, field=f"{f}.person", qualifier="MI", ident=member)
        if is_patient or sub.person.address is not None:
            self.address(s, sub.person.address, field=f"{f}.person.address")
        if is_patient or sub.person.birth_date is not None:
            self.demographics(s, sub.person, field=f"{f}.person")
        self.payer_name(s, sub.payer, field=f"{f}.payer")
        if sub.payer.address is not None:
            self.address(s, sub.payer.address, field=f"{f}.payer.address")

    def patient(self, s: SegmentList, hl: int, parent: int, claim: ClaimDocument) -> None:
        s.add("HL", str(hl), str(parent), "23", "0")
        s.add("PAT", X12_RELATIONSHIP[claim.subscriber.relationship])
        self.person_name(s, "QC", claim.patient, field="patient")
        self.address(s, claim.patient.address, field="patient.address")
        self.demographics(s, claim.patient, field="patient")

    def claim(self, s: SegmentList, claim: ClaimDocument) -> None:
        if not claim.lines:
            raise X12ContentError("lines", "at least one service line is required")
        if len(claim.lines) > MAX_LINES:
            raise X12ContentError("lines", f"at most {MAX_LINES} service lines per claim")
        if not claim.diagnoses:
            raise X12ContentError("diagnoses", "at least one diagnosis is required")
        if len(claim.diagnoses) > MAX_DIAGNOSES:
            raise X12ContentError("diagnoses", f"at most {MAX_DIAGNOSES} diagnoses per claim")
        if len(claim.other_subscribers) > MAX_OTHER_SUBSCRIBERS:
            raise X12ContentError("other_subscribers", f"at most {MAX_OTHER_SUBSCRIBERS} other coverages")
        if sum((line.charge for line in claim.lines), Decimal(0)) != claim.total_charge:
            raise X12ContentError("total_charge", "must equal the sum of the service line charges")
        pos = self.ident(claim.place_of_service, field="place_of_service", max_len=2, pattern=r"[0-9]{2}")
        s.add(
            "CLM",
            self.ident(claim.patient_control_number, field="patient_control_number", max_len=38),
            _number(claim.total_charge),
            "",
            "",
            s.composite(pos, "B", claim.frequency_code),
            "Y" if claim.provider_signature_on_file else "N",
            "A" if claim.assignment_accepted else "C",
            "Y" if claim.assignment_accepted else "N",
            claim.release_of_information,
        )
        if claim.frequency_code in ("7", "8"):
            s.add("REF", "F8", self.ident(claim.original_reference, field="original_reference", max_len=50))
        codes = [
            s.composite(
                "ABK" if i == 0 else "ABF",
                self.ident(dx.code, field=f"diagnoses[{i}].code", min_len=3, max_len=7, pattern=r"[A-Z][0-9A-Z]{2,6}"),
            )
            for i, dx in enumerate(claim.diagnoses)
        ]
        s.add("HI", *codes)
        if claim.referring_provider is not None:
            self.provider_name(s, "DN", claim.referring_provider, field="referring_provider")
        rendering = claim.rendering_provider
        if rendering is not None and rendering.npi != claim.billing_provider.npi:
            self.provider_name(s, "82", rendering, field="rendering_provider")
            if rendering.taxonomy:
                s.add("PRV", "PE", "PXC", self.ident(rendering.taxonomy, field="rendering_provider.taxonomy",
                                                     max_len=10, pattern=r"[0-9A-Z]{9}X"))  # fmt: skip
        if claim.facility is not None:
            fac = claim.facility
            npi = self.npi(fac.npi, field="facility.npi") if fac.npi else ""
            name = self.text(fac.name, field="facility.name", max_len=60)
            s.add("NM1", "77", "2", name, "", "", "", "", "XX" if npi else "", npi)
            self.address(s, fac.address, field="facility.address")
        if claim.other_payers:
            check_other_payers(claim)
            for i, payer in enumerate(claim.other_payers):
                self.other_payer(s, payer, claim, field=f"other_payers[{i}]")
        else:
            for i, other in enumerate(claim.other_subscribers):
                self.other_subscriber(s, other, claim, field=f"other_subscribers[{i}]")
        for n, line in enumerate(claim.lines, start=1):
            self.service_line(s, n, line, claim, field=f"lines[{n - 1}]")

    def other_subscriber(self, s: SegmentList, other: Subscriber, claim: ClaimDocument, *, field: str) -> None:
        self.sbr(s, other, field=field, relationship=X12_RELATIONSHIP[other.relationship])
        if other.paid_amount is not None:
            s.add("AMT", "D", _number(other.paid_amount))
        s.add("OI", "", "", "Y" if claim.assignment_accepted else "N", "", "", claim.release_of_information)
        member = self.ident(other.member_id, field=f"{field}.member_id", max_len=80)
        self.person_name(s, "IL", other.person, field=f"{field}.person", qualifier="MI", ident=member)
        if other.person.address is not None:
            self.address(s, other.person.address, field=f"{field}.person.address")
        self.payer_name(s, other.payer, field=f"{field}.payer")

    def adjustments(self, s: SegmentList, adjustments: tuple[Adjustment, ...], *, field: str) -> None:
        """CAS segments: one group code per segment, up to six reason/amount(/quantity) triplets each, in the
        order given; zero amounts are left out (the guide sends non-zero adjustments only)."""
        groups: dict[str, list[tuple[int, Adjustment]]] = {}
        for i, adj in enumerate(adjustments):
            if adj.group not in ("CO", "CR", "OA", "PI", "PR"):
                raise X12ContentError(f"{field}[{i}].group", "must be CO, CR, OA, PI or PR")
            if adj.amount != 0:
                groups.setdefault(adj.group, []).append((i, adj))
        cas: list[list[str]] = []
        for group, items in groups.items():
            for start in range(0, len(items), MAX_CAS_TRIPLETS):
                elements = [group]
                for i, adj in items[start : start + MAX_CAS_TRIPLETS]:
                    reason = self.ident(adj.reason, field=f"{field}[{i}].reason", max_len=5, pattern=r"[0-9A-Z]{1,5}")
                    quantity = "" if adj.quantity is None else _number(adj.quantity)
                    elements += [reason, _number(adj.amount), quantity]
                cas.append(elements)
        if len(cas) > MAX_CAS_SEGMENTS:
            raise X12ContentError(field, f"at most {MAX_CAS_SEGMENTS} CAS segments (six adjustments per group each)")
        for elements in cas:
            s.add("CAS", *elements)

    def other_payer(self, s: SegmentList, other: OtherPayer, claim: ClaimDocument, *, field: str) -> None:
        """Loop 2320 with 2330A (other subscriber) and 2330B (other payer)."""
        group = self.ident(other.group_number, field=f"{field}.group_number", max_len=50) if other.group_number else ""
        filing = self.ident(other.payer.claim_filing_indicator, field=f"{field}.payer.claim_filing_indicator",
                            max_len=2, pattern=r"[0-9A-Z]{2}")  # fmt: skip
        if other.insurance_type is not None and other.insurance_type not in _INSURANCE_TYPES:
            raise X12ContentError(f"{field}.insurance_type", "is not a Medicare secondary insurance type code")
        if other.relationship not in X12_RELATIONSHIP:
            raise X12ContentError(f"{field}.relationship", "is not a known relationship")
        s.add("SBR", other.responsibility, X12_RELATIONSHIP[other.relationship], group, "",
              other.insurance_type or "", "", "", "", filing)  # fmt: skip
        adjudication = other.adjudication
        if adjudication is not None:
            self.adjustments(s, adjudication.adjustments, field=f"{field}.adjudication.adjustments")
            s.add("AMT", "D", _number(adjudication.paid_amount))
            if not adjudication.lines:
                s.add("AMT", "EAF", _number(_remaining_liability(adjudication.remaining_patient_liability,
                                                                 adjudication.adjustments)))  # fmt: skip
        s.add("OI", "", "", "Y" if claim.assignment_accepted else "N", "", "", claim.release_of_information)
        member = self.ident(other.member_id, field=f"{field}.member_id", max_len=80)
        self.person_name(s, "IL", other.subscriber, field=f"{field}.subscriber", qualifier="MI", ident=member)
        if other.subscriber.address is not None:
            self.address(s, other.subscriber.address, field=f"{field}.subscriber.address")
        self.payer_name(s, other.payer, field=f"{field}.payer")
        if other.payer.address is not None:
            self.address(s, other.payer.address, field=f"{field}.payer.address")
        if adjudication is not None:
            s.add("DTP", "573", "D8", d8(adjudication.adjudication_date))
            if adjudication.payer_claim_number:
                number = self.ident(adjudication.payer_claim_number, field=f"{field}.adjudication.payer_claim_number",
                                    max_len=50)  # fmt: skip
                s.add("REF", "F8", number)

    def line_adjudications(self, s: SegmentList, n: int, claim: ClaimDocument) -> None:
        """Loop 2430 of line ``n``: one per other payer that adjudicated this line."""
        for i, other in enumerate(claim.other_payers):
            adjudication = other.adjudication
            found = adjudication.line(n) if adjudication is not None else None
            if adjudication is None or found is None:
                continue
            f = f"other_payers[{i}].adjudication.lines[{adjudication.lines.index(found)}]"
            procedure = s.composite(
                "HC",
                self.ident(found.procedure_code, field=f"{f}.procedure_code", max_len=5, pattern=r"[0-9A-Z]{5}"),
                *(
                    self.ident(m, field=f"{f}.modifiers[{k}]", max_len=2, min_len=2, pattern=r"[0-9A-Z]{2}")
                    for k, m in enumerate(found.modifiers)
                ),
            )
            s.add("SVD", other.payer.payer_id, _number(found.paid_amount), procedure, "", _number(found.units))
            self.adjustments(s, found.adjustments, field=f"{f}.adjustments")
            s.add("DTP", "573", "D8", d8(found.adjudication_date or adjudication.adjudication_date))
            s.add("AMT", "EAF", _number(_remaining_liability(found.remaining_patient_liability, found.adjustments)))

    def service_line(self, s: SegmentList, n: int, line: ServiceLine, claim: ClaimDocument, *, field: str) -> None:
        if len(line.modifiers) > 4:
            raise X12ContentError(f"{field}.modifiers", "at most 4 modifiers")
        if not 1 <= len(line.diagnosis_pointers) <= MAX_POINTERS:
            raise X12ContentError(f"{field}.diagnosis_pointers", f"1 to {MAX_POINTERS} pointers required")
        if any(not 1 <= p <= len(claim.diagnoses) for p in line.diagnosis_pointers):
            raise X12ContentError(f"{field}.diagnosis_pointers", "points past the claim's diagnoses")
        if line.charge < 0 or line.units <= 0:
            raise X12ContentError(f"{field}.charge", "charge must not be negative and units must be positive")
        procedure = s.composite(
            "HC",
            self.ident(line.procedure_code, field=f"{field}.procedure_code", max_len=5, pattern=r"[0-9A-Z]{5}"),
            *(
                self.ident(m, field=f"{field}.modifiers[{i}]", max_len=2, min_len=2, pattern=r"[0-9A-Z]{2}")
                for i, m in enumerate(line.modifiers)
            ),
        )
        pos = ""
        if line.place_of_service and line.place_of_service != claim.place_of_service:
            pos = self.ident(line.place_of_service, field=f"{field}.place_of_service", max_len=2, pattern=r"[0-9]{2}")
        pointers = s.composite(*(str(p) for p in line.diagnosis_pointers))
        s.add("LX", str(n))
        s.add("SV1", procedure, _number(line.charge), line.unit_basis, _number(line.units), pos, "", pointers)
        if line.service_date_to is not None and line.service_date_to != line.service_date:
            if line.service_date_to < line.service_date:
                raise X12ContentError(f"{field}.service_date_to", "is before the service date")
            s.add("DTP", "472", "RD8", f"{d8(line.service_date)}-{d8(line.service_date_to)}")
        else:
            s.add("DTP", "472", "D8", d8(line.service_date))
        if claim.other_payers:
            self.line_adjudications(s, n, claim)


def _remaining_liability(given: Decimal | None, adjustments: tuple[Adjustment, ...]) -> Decimal:
    """AMT*EAF: the amount given, else what the other payer left to the patient (its PR adjustments)."""
    if given is not None:
        return given
    return sum((a.amount for a in adjustments if a.group == "PR"), Decimal("0.00"))


def check_other_payers(claim: ClaimDocument) -> None:
    """The rules the writer enforces on ``claim.other_payers`` before writing 2320/2330/2430 (``X12ContentError``
    naming the field): the payment sequence, one payer per 2330B identifier, and the guide's balancing: for each
    payer that adjudicated, total charge = paid + claim-level + line-level adjustments, and for each adjudicated
    line, line charge = line paid + line adjustments."""
    others = claim.other_payers
    if len(others) > MAX_OTHER_SUBSCRIBERS:
        raise X12ContentError("other_payers", f"at most {MAX_OTHER_SUBSCRIBERS} other payers")
    if claim.other_subscribers and [o.payer.payer_id for o in others] != [
        o.payer.payer_id for o in claim.other_subscribers
    ]:
        raise X12ContentError("other_payers", "must name the same payers as other_subscribers")
    billed = claim.responsibility
    seen: set[str] = set()
    payer_ids: set[str] = set()
    for i, other in enumerate(others):
        f = f"other_payers[{i}]"
        if other.responsibility not in _SEQUENCE:
            raise X12ContentError(f"{f}.responsibility", "must be P, S or T")
        if other.responsibility == billed or other.responsibility in seen:
            raise X12ContentError(f"{f}.responsibility", "each payer needs its own place in the payment sequence")
        seen.add(other.responsibility)
        if other.payer.payer_id in payer_ids:
            raise X12ContentError(f"{f}.payer.payer_id", "two other payers share one identifier")
        payer_ids.add(other.payer.payer_id)
        adjudication = other.adjudication
        if adjudication is None:
            continue
        if billed in _SEQUENCE and _SEQUENCE.index(other.responsibility) > _SEQUENCE.index(billed):
            raise X12ContentError(f"{f}.adjudication", "a payer later in the sequence cannot have adjudicated yet")
        if adjudication.paid_amount < 0:
            raise X12ContentError(f"{f}.adjudication.paid_amount", "must not be negative")
        if adjudication.lines and adjudication.remaining_patient_liability is not None:
            raise X12ContentError(f"{f}.adjudication.remaining_patient_liability",
                                  "goes on the lines when the payer adjudicated lines (not both)")  # fmt: skip
        adjusted = sum((a.amount for a in adjudication.adjustments), Decimal(0))
        numbers: set[int] = set()
        for k, found in enumerate(adjudication.lines):
            lf = f"{f}.adjudication.lines[{k}]"
            if not 1 <= found.line_number <= len(claim.lines) or found.line_number in numbers:
                raise X12ContentError(f"{lf}.line_number", "must name one service line of the claim, once")
            numbers.add(found.line_number)
            if found.paid_amount < 0 or found.units < 0:
                raise X12ContentError(f"{lf}.paid_amount", "paid amount and units must not be negative")
            line_adjusted = sum((a.amount for a in found.adjustments), Decimal(0))
            if found.paid_amount + line_adjusted != claim.lines[found.line_number - 1].charge:
                raise X12ContentError(lf, "line charge must equal the line paid amount plus its adjustments")
            adjusted += line_adjusted
        if adjudication.paid_amount + adjusted != claim.total_charge:
            raise X12ContentError(f"{f}.adjudication", "total charge must equal paid amount plus all adjustments")


def _transaction_body(writer: _Writer, claims: Sequence[ClaimDocument]) -> list[str]:
    """1000A through the last 2400 of one transaction set (ST, BHT and SE are added once numbers are drawn)."""
    p = writer.partner
    s = SegmentList(writer.d)
    s.add("NM1", "41", "2", writer.text(p.submitter_name, field="partner.submitter_name", max_len=60),
          "", "", "", "", "46", p.submitter_id)  # fmt: skip
    s.add("PER", "IC", writer.text(p.submitter_contact_name, field="partner.submitter_contact_name", max_len=60),
          "TE", p.submitter_contact_phone)  # fmt: skip
    s.add("NM1", "40", "2", writer.text(p.receiver_name, field="partner.receiver_name", max_len=60),
          "", "", "", "", "46", p.receiver_id)  # fmt: skip
    hl = 0
    current_provider: Provider | None = None
    provider_hl = 0
    for claim in claims:
        try:
            if current_provider is None or claim.billing_provider != current_provider:
                hl += 1
                provider_hl = hl
                current_provider = claim.billing_provider
                writer.billing_provider(s, hl, current_provider)
            hl += 1
            subscriber_hl = hl
            writer.subscriber(s, hl, provider_hl, claim)
            if claim.subscriber.relationship != "self":
                hl += 1
                writer.patient(s, hl, subscriber_hl, claim)
            writer.claim(s, claim)
        except X12ContentError as exc:
            raise X12ContentError(f"claims[{claim.claim_id}].{exc.field}", exc.problem) from None
    return s.items


def write_837p(
    *,
    claims: Sequence[ClaimDocument],
    partner: TradingPartner,
    numbers: ControlNumbers,
    created: datetime,
    max_claims_per_transaction: int = MAX_CLAIMS_PER_TRANSACTION,
) -> Interchange:
    """One interchange holding every claim given, all to the same payer. Claims are grouped under their billing
    provider (2000A) in first-seen order; more than ``max_claims_per_transaction`` claims become several
    transaction sets in one functional group. Raises ``X12ContentError`` (naming the claim id and field) for a
    claim that cannot be written; control numbers are drawn only once every claim has been checked."""
    if not claims:
        raise X12ContentError("claims", "at least one claim is required")
    if max_claims_per_transaction < 1:
        raise ValueError("max_claims_per_transaction must be positive")
    payer_ids = {c.subscriber.payer.payer_id for c in claims}
    if len(payer_ids) != 1:
        raise X12ContentError("claims", "all claims of a file must go to the same payer")
    writer = _Writer(partner)
    d = partner.delimiters
    # Billing providers grouped (stable) so each 2000A appears once per transaction where possible.
    order: dict[Provider, list[ClaimDocument]] = {}
    for claim in claims:
        order.setdefault(claim.billing_provider, []).append(claim)
    ordered = [c for group in order.values() for c in group]
    chunks = [ordered[i : i + max_claims_per_transaction] for i in range(0, len(ordered), max_claims_per_transaction)]

    # Build every body first so that a claim the writer refuses consumes no control number.
    bodies = [_transaction_body(writer, chunk) for chunk in chunks]
    key = partner.key
    isa_number = numbers.next_interchange(partner=key)
    group_number = numbers.next_group(partner=key)
    st_numbers = tuple(numbers.next_transaction(partner=key) for _ in chunks)
    e, t = d.element, d.segment
    bht_date, bht_time = created.strftime("%Y%m%d"), created.strftime("%H%M")
    segments: list[str] = []
    counts: list[int] = []
    for body, st_number in zip(bodies, st_numbers, strict=True):
        st = f"{st_number:04d}"
        segments.append(f"ST{e}837{e}{st}{e}{IMPLEMENTATION}{t}")
        segments.append(f"BHT{e}0019{e}00{e}{isa_number:09d}{st}{e}{bht_date}{e}{bht_time}{e}CH{t}")
        segments.extend(body)
        counts.append(len(body) + 3)
        segments.append(f"SE{e}{counts[-1]}{e}{st}{t}")

    isa = e.join(
        (
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            partner.isa_sender_qualifier,
            partner.isa_sender_id.ljust(15),
            partner.isa_receiver_qualifier,
            partner.isa_receiver_id.ljust(15),
            created.strftime("%y%m%d"),
            created.strftime("%H%M"),
            d.repetition,
            "00501",
            f"{isa_number:09d}",
            "1" if partner.acknowledgment_requested else "0",
            partner.usage,
            d.component,
        )
    )
    gs = e.join(
        ("GS", "HC", partner.gs_sender_code, partner.gs_receiver_code, created.strftime("%Y%m%d"),
         created.strftime("%H%M"), str(group_number), "X", IMPLEMENTATION)
    )  # fmt: skip
    trailer = [f"GE{e}{len(bodies)}{e}{group_number}", f"IEA{e}1{e}{isa_number:09d}"]
    text = "".join([isa + d.segment, gs + d.segment, *segments, *(t + d.segment for t in trailer)])
    return Interchange(
        text=text,
        partner_key=key,
        payer_id=next(iter(payer_ids)),
        interchange_number=isa_number,
        group_number=group_number,
        transaction_numbers=st_numbers,
        segment_counts=tuple(counts),
        claim_ids=tuple(c.claim_id for c in ordered),
    )
