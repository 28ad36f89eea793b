"""The claim scrubber: a clean claim passes every rule with no finding; every rule in ``RULES`` has at least one
registered failing case (with its severity and field path); boundaries (12/13 diagnoses, 4/5 pointers, timely
filing at the limit); duplicates and replacements; the in-memory code lookup; and no value ever reaches a finding.
Data are synthetic (faker, seeded; NPIs computed to pass the check digit)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from faker import Faker

from claimvault.billing.claims.document import (
    Address,
    ClaimDocument,
    Diagnosis,
    Facility,
    Payer,
    Person,
    Provider,
    ServiceLine,
    Subscriber,
)
from claimvault.billing.claims.rules.identity import is_po_box
from claimvault.billing.claims.scrubber import RULES, ScrubContext, claim_fingerprint, scrub
from claimvault.billing.codesets.interfaces import CodeLookup, MUELimit, PTPEdit
from claimvault.billing.codesets.memory import CodeSetVersion, DatedMUE, DatedPTP, InMemoryCodeLookup, open_version
from claimvault.discovery.validators import luhn_valid, mbi_valid

TODAY = date(2026, 3, 2)
DOS = date(2026, 2, 16)
FY2025, FY2026 = date(2024, 10, 1), date(2025, 10, 1)
DX_2025 = ["E119", "I10", "J069", "R51", "Z0000", "M25561", "K219", "F419", "G4700", "N390", "R0600", "E785"]
DX_NEW_IN_2026 = "R5383"  # synthetic: valid only in the FY2026 version here
DX = [*DX_2025, "J029", "L309"]  # 14 valid codes
CODES = InMemoryCodeLookup(
    versions=(
        CodeSetVersion("icd10cm", "ICD-10-CM 2025", FY2025, frozenset(DX), frozenset({"E11"}), FY2026 - timedelta(1)),
        CodeSetVersion("icd10cm", "ICD-10-CM 2026", FY2026, frozenset([*DX, DX_NEW_IN_2026]), frozenset({"E11"})),
        open_version(
            "cpt", "CPT 2025", date(2025, 1, 1), ["99213", "36415", "80053", "80048", "11042", "97597", "97110"]
        ),
        open_version("hcpcs", "HCPCS 2025", date(2025, 1, 1), ["J1100", "G0008"]),
    ),
    ptp=(
        DatedPTP(PTPEdit("80053", "80048", modifier_allowed=False, version="NCCI 2026Q1"), date(2025, 1, 1)),
        DatedPTP(PTPEdit("11042", "97597", modifier_allowed=True, version="NCCI 2026Q1"), date(2025, 1, 1)),
    ),
    mue_limits=(
        DatedMUE(MUELimit("97110", 4, "1", "MUE 2026Q1"), date(2025, 1, 1)),
        DatedMUE(MUELimit("36415", 2, "3", "MUE 2026Q1"), date(2025, 1, 1)),
    ),
)


def _npi(rng: random.Random) -> str:
    first9 = "1" + "".join(rng.choice("0123456789") for _ in range(8))
    return next(first9 + d for d in "0123456789" if luhn_valid("80840" + first9 + d))


def _address(fake: Faker, *, zip9: bool = True) -> Address:
    zipcode = fake.zipcode_plus4().replace("-", "") if zip9 else fake.zipcode()
    return Address(line1=fake.street_address(), city=fake.city(), state="OR", postal_code=zipcode)


def clean_claim(seed: int = 7) -> ClaimDocument:
    """A claim that passes every rule against ``CODES`` on ``TODAY``."""
    fake = Faker()
    fake.seed_instance(seed)
    rng = random.Random(seed)
    patient = Person(fake.first_name(), fake.last_name(), date(1961, 3, 5), "F", _address(fake, zip9=False))
    payer = Payer(payer_id="PAYR1", name=fake.company(), claim_filing_indicator="CI", timely_filing_days=365)
    lines = (
        ServiceLine("99213", Decimal("125.00"), Decimal(1), DOS, (1, 2)),
        ServiceLine("36415", Decimal("15.00"), Decimal(1), DOS, (1,)),
        ServiceLine("J1100", Decimal("30.00"), Decimal(2), DOS, (2,), ("JZ",)),
    )
    return ClaimDocument(
        claim_id=uuid.UUID(int=rng.getrandbits(128)),
        patient_control_number="CV1000001",
        total_charge=Decimal("170.00"),
        place_of_service="11",
        frequency_code="1",
        billing_provider=Provider(
            npi=_npi(rng), entity="organization", organization_name=fake.company(), taxonomy="207Q00000X",
            tax_id="".join(rng.choice("0123456789") for _ in range(9)), address=_address(fake),
        ),
        subscriber=Subscriber(rank="primary", payer=payer, member_id="XQ9881234501", person=patient),
        patient=patient,
        diagnoses=(Diagnosis("E119"), Diagnosis("I10")),
        lines=lines,
        rendering_provider=Provider(
            npi=_npi(rng), entity="person", family_name=fake.last_name(), given_name=fake.first_name(),
            taxonomy="207Q00000X",
        ),
        referring_provider=Provider(
            npi=_npi(rng), entity="person", family_name=fake.last_name(), given_name=fake.first_name()
        ),
        facility=Facility(name=fake.company(), address=_address(fake), npi=_npi(rng)),
        patient_id=uuid.UUID(int=rng.getrandbits(128)),
    )  # fmt: skip


def context(**overrides: Any) -> ScrubContext:
    values: dict[str, Any] = {"today": TODAY, "codes": CODES, **overrides}
    return ScrubContext(**values)


# Mutation helpers --------------------------------------------------------------------------------------------
Mutate = Callable[[ClaimDocument], ClaimDocument]
T = TypeVar("T")


def bp(**kw: Any) -> Mutate:
    return lambda c: replace(c, billing_provider=replace(c.billing_provider, **kw))


def some(value: T | None) -> T:
    assert value is not None
    return value


def bp_address(**kw: Any) -> Mutate:
    return lambda c: bp(address=replace(some(c.billing_provider.address), **kw))(c)


def facility(**kw: Any) -> Mutate:
    return lambda c: replace(c, facility=replace(some(c.facility), **kw))


def facility_address(**kw: Any) -> Mutate:
    return lambda c: facility(address=replace(some(c.facility).address, **kw))(c)


def rendering(**kw: Any) -> Mutate:
    return lambda c: replace(c, rendering_provider=replace(some(c.rendering_provider), **kw))


def patient(**kw: Any) -> Mutate:
    def m(c: ClaimDocument) -> ClaimDocument:
        person = replace(c.patient, **kw)
        return replace(c, patient=person, subscriber=replace(c.subscriber, person=person))

    return m


def sub(**kw: Any) -> Mutate:
    return lambda c: replace(c, subscriber=replace(c.subscriber, **kw))


def payer(**kw: Any) -> Mutate:
    return lambda c: replace(c, subscriber=replace(c.subscriber, payer=replace(c.subscriber.payer, **kw)))


def medicare(member_id: str) -> Mutate:
    return lambda c: payer(claim_filing_indicator="MB")(sub(member_id=member_id)(c))


def line(n: int, **kw: Any) -> Mutate:
    def m(c: ClaimDocument) -> ClaimDocument:
        lines = list(c.lines)
        lines[n] = replace(lines[n], **kw)
        return retotal(replace(c, lines=tuple(lines)))

    return m


def claim(**kw: Any) -> Mutate:
    return lambda c: replace(c, **kw)


def retotal(c: ClaimDocument) -> ClaimDocument:
    return replace(c, total_charge=sum((ln.charge for ln in c.lines), Decimal(0)))


def with_lines(*specs: tuple[str, tuple[str, ...], Decimal]) -> Mutate:
    """Replace the lines by (procedure code, modifiers, units) lines on ``DOS``."""
    return lambda c: retotal(
        replace(c, lines=tuple(ServiceLine(p, Decimal("10.00"), u, DOS, (1,), m) for p, m, u in specs))
    )


def diagnoses(n: int) -> Mutate:
    return claim(diagnoses=tuple(Diagnosis(code) for code in DX[:n]))


def all_dates(on: date) -> Mutate:
    return lambda c: replace(c, lines=tuple(replace(ln, service_date=on) for ln in c.lines))


def other_claim_with_same_fingerprint(c: ClaimDocument) -> dict[str, Any]:
    return {"existing_claims": {claim_fingerprint(c): [c.claim_id, uuid.UUID(int=1)]}}


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Mutate
    field: str | None
    ctx: Callable[[ClaimDocument], dict[str, Any]] = lambda c: {}


ONE = Decimal(1)
LIMIT = 365
FAILING: dict[str, list[Case]] = {
    "ID-REQUIRED": [
        Case("billing npi", bp(npi=""), "billing_provider.npi"),
        Case("tax id", bp(tax_id=None), "billing_provider.tax_id"),
        Case("organization name", bp(organization_name=" "), "billing_provider.organization_name"),
        Case("billing address", bp(address=None), "billing_provider.address"),
        Case("member id", sub(member_id=""), "subscriber.member_id"),
        Case("payer id", payer(payer_id=""), "subscriber.payer.payer_id"),
        Case("patient name", patient(family_name=""), "patient.family_name"),
        Case("birth date", patient(birth_date=None), "patient.birth_date"),
        Case("patient address", patient(address=None), "patient.address"),
        Case("no diagnosis", claim(diagnoses=()), "diagnoses"),
        Case("no line", claim(lines=()), "lines"),
        Case("rendering name", rendering(family_name=None), "rendering_provider.family_name"),
        Case("subscriber name", lambda c: replace(c, subscriber=replace(c.subscriber, relationship="spouse", person=replace(c.patient, given_name=""))),  # noqa: E501
             "subscriber.person.given_name"),
    ],
    "ID-NPI": [
        Case("billing check digit", bp(npi="1234567890"), "billing_provider.npi"),
        Case("billing with a dash", bp(npi="123456789-3"), "billing_provider.npi"),
        Case("rendering", rendering(npi="1234567894"), "rendering_provider.npi"),
        Case("facility", facility(npi="3234567893"), "facility.npi"),
    ],
    "ID-TAXONOMY": [
        Case("missing", bp(taxonomy=None), "billing_provider.taxonomy"),
        Case("nine characters", bp(taxonomy="207Q00000"), "billing_provider.taxonomy"),
    ],
    "ID-TAX-ID": [Case("dashes", bp(tax_id="12-3456789"), "billing_provider.tax_id")],
    "ID-PO-BOX": [
        *(Case(text, bp_address(line1=text), "billing_provider.address.line1")
          for text in ("P.O. Box 12", "PO BOX 12", "Post Office Box 12", "POB 12", "p o box 12", "POBox 7", "Box 12")),
        Case("line 2", bp_address(line2="PO Box 4"), "billing_provider.address.line2"),
        Case("facility", facility_address(line1="P.O.B. 9"), "facility.address.line1"),
    ],
    "ID-ZIP": [
        Case("billing 5 digits", bp_address(postal_code="97201"), "billing_provider.address.postal_code"),
        Case("facility 5 digits", facility_address(postal_code="97201"), "facility.address.postal_code"),
        Case("patient 4 digits", patient(address=Address("1 A St", "B", "OR", "9720")), "patient.address.postal_code"),
    ],
    "ID-MEMBER-ID": [
        Case("medicare HICN", medicare("123456789A"), "subscriber.member_id"),
        Case("medicare MBI with dashes", medicare("1EG4-TE5-MK73"), "subscriber.member_id"),
        Case("commercial punctuation", sub(member_id="AB-123"), "subscriber.member_id"),
        Case("commercial one character", sub(member_id="A"), "subscriber.member_id"),
        Case("commercial 81 characters", sub(member_id="A" * 81), "subscriber.member_id"),
        Case("other coverage", lambda c: replace(c, other_subscribers=(replace(c.subscriber, rank="secondary", member_id="A B"),)),  # noqa: E501
             "other_subscribers[0].member_id"),
    ],
    "CODE-DX-COUNT": [Case("13 diagnoses", diagnoses(13), "diagnoses")],
    "CODE-DX-BILLABLE": [
        Case("category header", claim(diagnoses=(Diagnosis("E11"), Diagnosis("I10"))), "diagnoses[0].code"),
        Case("unknown code", claim(diagnoses=(Diagnosis("E119"), Diagnosis("A000"))), "diagnoses[1].code"),
        Case("bad format", claim(diagnoses=(Diagnosis("E119"), Diagnosis("1234"))), "diagnoses[1].code"),
        Case("not yet valid on the date of service",
             lambda c: all_dates(date(2025, 9, 30))(claim(diagnoses=(Diagnosis("E119"), Diagnosis(DX_NEW_IN_2026)))(c)),
             "diagnoses[1].code"),
    ],
    "CODE-DX-VERSION": [Case("before any version", all_dates(date(2024, 9, 30)), "diagnoses[0].code")],
    "CODE-DX-POINTER": [
        Case("5 pointers", lambda c: line(0, diagnosis_pointers=(1, 2, 3, 4, 5))(diagnoses(5)(c)), "lines[0].diagnosis_pointers"),  # noqa: E501
        Case("no pointer", line(1, diagnosis_pointers=()), "lines[1].diagnosis_pointers"),
        Case("repeated", line(0, diagnosis_pointers=(1, 1)), "lines[0].diagnosis_pointers"),
        Case("zero", line(0, diagnosis_pointers=(0,)), "lines[0].diagnosis_pointers[0]"),
        Case("thirteen", line(0, diagnosis_pointers=(1, 13)), "lines[0].diagnosis_pointers[1]"),
        Case("past the diagnoses", line(2, diagnosis_pointers=(3,)), "lines[2].diagnosis_pointers[0]"),
    ],
    "CODE-PROC-FORMAT": [
        Case(code, line(0, procedure_code=code), "lines[0].procedure_code") for code in ("9921", "99213-25", "ABCDE")
    ],
    "CODE-PROC-VALID": [
        Case("unknown CPT", line(0, procedure_code="99999"), "lines[0].procedure_code"),
        Case("unknown HCPCS", line(2, procedure_code="J9999"), "lines[2].procedure_code"),
    ],
    "CODE-PROC-VERSION": [Case("before any file", all_dates(date(2024, 12, 31)), "lines[0].procedure_code")],
    "CODE-MODIFIER": [
        Case("five", line(0, modifiers=("25", "GT", "59", "XU", "RT")), "lines[0].modifiers"),
        Case("repeated", line(0, modifiers=("25", "25")), "lines[0].modifiers"),
        Case("one character", line(0, modifiers=("2",)), "lines[0].modifiers[0]"),
        Case("lower case", line(0, modifiers=("GT", "lt")), "lines[0].modifiers[1]"),
    ],
    "CODE-NCCI-PTP": [
        Case("indicator 0 even with 59", with_lines(("80053", (), ONE), ("80048", ("59",), ONE)), "lines[1].procedure_code"),  # noqa: E501
        Case("indicator 1 without modifier", with_lines(("97597", (), ONE), ("11042", (), ONE)), "lines[0].procedure_code"),  # noqa: E501
    ],
    "CODE-NCCI-BYPASS": [
        Case("59 on column two", with_lines(("11042", (), ONE), ("97597", ("59",), ONE)), "lines[1].modifiers"),
        Case("XS on column one", with_lines(("11042", ("XS",), ONE), ("97597", (), ONE)), "lines[1].modifiers"),
    ],
    "CODE-MUE": [
        Case("MAI 1 per line", with_lines(("97110", (), Decimal(5))), "lines[0].units"),
        Case("MAI 3 summed per day", with_lines(("36415", (), ONE), ("36415", ("91",), Decimal(2))), "lines[1].units"),
    ],
    "CODE-POS": [
        Case("claim 00", claim(place_of_service="00"), "place_of_service"),
        Case("claim one digit", claim(place_of_service="1"), "place_of_service"),
        Case("line unassigned 30", line(1, place_of_service="30"), "lines[1].place_of_service"),
    ],
    "MONEY-TOTAL": [Case("off by a cent", claim(total_charge=Decimal("170.01")), "total_charge")],
    "MONEY-CHARGE": [
        Case("zero line", line(1, charge=Decimal("0.00")), "lines[1].charge"),
        Case("sub-cent", line(1, charge=Decimal("15.001")), "lines[1].charge"),
        Case("negative total", claim(total_charge=Decimal("-1.00")), "total_charge"),
    ],
    "MONEY-UNITS": [Case("zero units", line(0, units=Decimal(0)), "lines[0].units")],
    "DATE-FUTURE": [
        Case("tomorrow", line(0, service_date=TODAY + timedelta(1)), "lines[0].service_date"),
        Case("span ends tomorrow", line(0, service_date_to=TODAY + timedelta(1)), "lines[0].service_date_to"),
    ],
    "DATE-BIRTH": [
        Case("before birth", patient(birth_date=DOS + timedelta(1)), "lines[0].service_date"),
        Case("born in the future", patient(birth_date=TODAY + timedelta(1)), "patient.birth_date"),
    ],
    "DATE-RANGE": [Case("to before from", line(0, service_date_to=DOS - timedelta(1)), "lines[0].service_date_to")],
    "SUB-DUPLICATE": [Case("same fingerprint", lambda c: c, "lines", other_claim_with_same_fingerprint)],
    "SUB-ORIGINAL-REF": [
        Case("replacement", claim(frequency_code="7"), "original_reference"),
        Case("void with blank reference", claim(frequency_code="8", original_reference=" "), "original_reference"),
    ],
    "SUB-STRAY-REF": [Case("original with reference", claim(original_reference="PAYERICN1"), "original_reference")],
    "SUB-TIMELY": [Case("one day over", lambda c: c, "lines[0].service_date",
                        lambda c: {"submission_date": DOS + timedelta(LIMIT + 1)})],
    "SUB-TIMELY-NEAR": [
        Case("exactly at the limit", lambda c: c, "lines[0].service_date", lambda c: {"submission_date": DOS + timedelta(LIMIT)}),  # noqa: E501
        Case("15 days left", lambda c: c, "lines[0].service_date", lambda c: {"submission_date": DOS + timedelta(LIMIT - 15)}),  # noqa: E501
    ],
}  # fmt: skip
CASES = [
    pytest.param(rule_id, case, id=f"{rule_id}:{case.name}") for rule_id, cases in FAILING.items() for case in cases
]


def _run(case: Case) -> tuple[ClaimDocument, Any]:
    c = case.mutate(clean_claim())
    return c, scrub(claim=c, context=context(**case.ctx(c)))


def test_the_clean_claim_passes_every_rule_with_no_finding() -> None:
    report = scrub(claim=clean_claim(), context=context())
    assert report.findings == () and report.passed


def test_a_clean_medicare_claim_passes() -> None:
    assert mbi_valid("1EG4TE5MK73")
    c = medicare("1EG4TE5MK73")(clean_claim())
    assert scrub(claim=c, context=context()).findings == ()


def test_every_rule_has_a_failing_case_and_a_well_formed_entry() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert set(FAILING) == set(ids), set(FAILING) ^ set(ids)
    assert all(FAILING[i] for i in ids)
    for rule in RULES:
        assert rule.severity in ("error", "warning") and rule.description and rule.fix


@pytest.mark.parametrize(("rule_id", "case"), CASES)
def test_each_failing_case_trips_its_rule(rule_id: str, case: Case) -> None:
    _, report = _run(case)
    rule = next(r for r in RULES if r.id == rule_id)
    hits = [f for f in report.findings if f.rule == rule_id]
    assert hits, [f.rule for f in report.findings]
    assert {f.severity for f in hits} == {rule.severity}
    assert case.field in {f.field for f in hits}, [f.field for f in hits]
    assert all(f.fix == rule.fix and f.message for f in hits)
    assert report.passed is (rule.severity == "warning" and not report.errors)


def test_warnings_do_not_block() -> None:
    report = _run(FAILING["CODE-NCCI-BYPASS"][0])[1]
    assert [f.rule for f in report.findings] == ["CODE-NCCI-BYPASS"] and report.passed


# Boundaries --------------------------------------------------------------------------------------------------
def _rules(c: ClaimDocument, **ctx: Any) -> list[str]:
    return [f.rule for f in scrub(claim=c, context=context(**ctx)).findings]


def test_twelve_diagnoses_pass_and_thirteen_fail() -> None:
    assert _rules(diagnoses(12)(clean_claim())) == []
    assert _rules(diagnoses(13)(clean_claim())) == ["CODE-DX-COUNT"]


def test_four_pointers_pass_and_five_fail() -> None:
    base = diagnoses(5)(clean_claim())
    assert _rules(line(0, diagnosis_pointers=(1, 2, 3, 4))(base)) == []
    assert _rules(line(0, diagnosis_pointers=(1, 2, 3, 4, 5))(base)) == ["CODE-DX-POINTER"]
    assert _rules(line(0, diagnosis_pointers=(12,))(diagnoses(12)(clean_claim()))) == []


def test_timely_filing_at_the_limit_warns_and_one_day_over_blocks() -> None:
    c = clean_claim()
    assert _rules(c, submission_date=DOS + timedelta(LIMIT - 16)) == []
    assert _rules(c, submission_date=DOS + timedelta(LIMIT - 15)) == ["SUB-TIMELY-NEAR"]
    assert _rules(c, submission_date=DOS + timedelta(LIMIT)) == ["SUB-TIMELY-NEAR"]
    assert _rules(c, submission_date=DOS + timedelta(LIMIT + 1)) == ["SUB-TIMELY"]
    assert _rules(payer(timely_filing_days=None)(c), submission_date=DOS + timedelta(LIMIT + 1)) == []


def test_timely_filing_counts_from_the_earliest_line_and_defaults_to_today() -> None:
    c = line(1, service_date=TODAY - timedelta(LIMIT + 1))(clean_claim())
    findings = scrub(claim=c, context=context()).findings
    assert [(f.rule, f.field) for f in findings] == [("SUB-TIMELY", "lines[1].service_date")]


def test_mue_at_the_limit_passes_and_mai_1_does_not_sum_lines() -> None:
    assert _rules(with_lines(("97110", (), Decimal(4)))(clean_claim())) == []
    assert _rules(with_lines(("97110", (), Decimal(4)), ("97110", ("59",), Decimal(4)))(clean_claim())) == []
    assert _rules(with_lines(("36415", (), ONE), ("36415", ("91",), ONE))(clean_claim())) == []


def test_ptp_pairs_on_different_dates_do_not_fire() -> None:
    c = with_lines(("80053", (), ONE), ("80048", (), ONE))(clean_claim())
    assert _rules(line(1, service_date=DOS - timedelta(1))(c)) == []


# PO boxes, procedure files not loaded, duplicates --------------------------------------------------------------
@pytest.mark.parametrize("text", ["Boxwood Rd", "12 Box Elder Ave", "Pobst Street 4", "1 Post Road", "Tipo Blvd 9"])
def test_street_addresses_are_not_po_boxes(text: str) -> None:
    assert not is_po_box(text)
    assert _rules(bp_address(line1=text)(clean_claim())) == []


def test_procedure_codes_without_a_loaded_file_get_the_format_check_only() -> None:
    codes = InMemoryCodeLookup(versions=tuple(v for v in CODES.versions if v.kind != "hcpcs"))
    assert codes.procedure("J9999", DOS).status == "not_loaded"
    assert _rules(line(2, procedure_code="J9999")(clean_claim()), codes=codes) == []
    assert _rules(line(2, procedure_code="J99")(clean_claim()), codes=codes) == ["CODE-PROC-FORMAT"]


def test_the_in_memory_lookup_satisfies_the_protocol_and_answers_by_date() -> None:
    lookup: CodeLookup = CODES
    assert lookup.diagnosis("E119", DOS).status == "valid"
    assert lookup.diagnosis("E119", DOS).version == "ICD-10-CM 2026"
    assert lookup.diagnosis("E11", DOS).status == "not_billable"
    assert lookup.diagnosis(DX_NEW_IN_2026, date(2025, 9, 30)).status == "invalid"
    assert lookup.diagnosis("E119", date(2024, 9, 30)).status == "no_version"
    assert lookup.procedure("99213-", DOS).status == "invalid"
    assert lookup.procedure("99213", date(2024, 12, 31)).status == "no_version"
    assert [e.column2 for e in lookup.ptp_edits(frozenset({"80053", "80048", "99213"}), DOS)] == ["80048"]
    assert lookup.ptp_edits(frozenset({"80053"}), DOS) == []
    assert lookup.mue("97110", DOS) is not None and lookup.mue("97110", date(2024, 1, 1)) is None


def test_fingerprint_is_stable_and_specific() -> None:
    c = clean_claim()
    fp = claim_fingerprint(c)
    reordered = replace(c, lines=tuple(reversed(c.lines)), total_charge=Decimal("1.00"))
    assert claim_fingerprint(reordered) == fp  # order of lines and charges do not matter
    swapped = line(0, modifiers=("GT", "25"))(c), line(0, modifiers=("25", "GT"))(c)
    assert claim_fingerprint(swapped[0]) == claim_fingerprint(swapped[1])
    assert claim_fingerprint(replace(c, patient_id=uuid.UUID(int=5))) != fp
    assert claim_fingerprint(payer(payer_id="OTHER")(c)) != fp
    assert claim_fingerprint(bp(npi="1234567893")(c)) != fp
    assert claim_fingerprint(line(0, service_date=DOS - timedelta(1))(c)) != fp
    assert claim_fingerprint(line(0, modifiers=("25",))(c)) != fp
    with pytest.raises(ValueError, match="patient_id"):
        claim_fingerprint(replace(c, patient_id=None))
    assert _rules(replace(c, patient_id=None), existing_claims={fp: [uuid.UUID(int=1)]}) == []


def test_duplicates_ignore_the_claim_itself_and_the_claim_a_replacement_replaces() -> None:
    c = clean_claim()
    original = uuid.UUID(int=1)
    existing = {claim_fingerprint(c): [c.claim_id, original]}
    assert _rules(c, existing_claims={claim_fingerprint(c): [c.claim_id]}) == []
    assert _rules(c, existing_claims=existing) == ["SUB-DUPLICATE"]
    for frequency in ("7", "8"):
        replacement = replace(c, frequency_code=frequency, original_reference="PAYERICN1")
        assert _rules(replacement, existing_claims=existing, replaces=original) == []
        assert _rules(replacement, existing_claims=existing, replaces=uuid.UUID(int=2)) == ["SUB-DUPLICATE"]
    assert _rules(c, existing_claims=existing, replaces=original) == ["SUB-DUPLICATE"]  # an original replaces nothing


# No PHI in findings ------------------------------------------------------------------------------------------
def test_findings_name_fields_and_never_values() -> None:
    marker = "QZX"
    bad_address = Address(f"PO Box 9 {marker}", f"{marker}city", f"{marker}", f"{marker}9")
    person = Person(f"{marker}given", f"{marker}family", TODAY + timedelta(3), "F", bad_address)
    c = replace(
        clean_claim(),
        patient_control_number="",
        total_charge=Decimal("-3.21"),
        place_of_service=f"{marker}",
        frequency_code="7",
        billing_provider=Provider(npi=f"{marker}1", entity="organization", organization_name=None, taxonomy=marker,
                                  tax_id=f"{marker}2", address=bad_address),
        subscriber=Subscriber("primary", Payer(f"{marker}payer", f"{marker}name", "MB", 1), f"{marker}member", person),
        patient=person,
        diagnoses=tuple(Diagnosis(f"{marker}{i}") for i in range(14)),
        lines=(ServiceLine(f"{marker}proc", Decimal("1.001"), Decimal(0), TODAY + timedelta(1), (0, 99, 1, 1, 2),
                           (f"{marker}m", "25", "25", "GT", "59"), TODAY, f"{marker}pos"),),
        facility=Facility(f"{marker}facility", bad_address, f"{marker}3"),
    )  # fmt: skip
    report = scrub(claim=c, context=context())
    assert len({f.rule for f in report.errors}) >= 15
    for f in report.findings:
        for text in (f.message, f.fix, f.field or "", repr(f)):
            assert marker.lower() not in text.lower(), f.rule
