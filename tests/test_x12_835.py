"""835 remittances: every scenario written by ``write_835`` validates with pyx12 (zero errors) and reads back equal
(exact Decimals, balances hold): payments, partial payments with CO-45 and PR-1/2/3, denials, reversals followed
by corrections, PLB, many claims and lines, SVC06, several transaction sets, other delimiters. Unbalanced files are
reported by position; truncated and malformed files are refused with positions and codes, never values."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from faker import Faker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimvault.billing.x12.envelope import Delimiters, X12ContentError
from claimvault.billing.x12.remit_835 import (
    Adjustment,
    BalanceProblem,
    ClaimPayment,
    PersonName,
    Procedure,
    ProviderAdjustment,
    Remittance,
    RemittanceRejected,
    balance_problems,
    claim_balanced,
    line_balanced,
    parse_835,
    parse_835_all,
    payment_balanced,
    payment_total,
    validate_835,
)
from claimvault.billing.x12.remit_835_writer import (
    adjudicate_line,
    claim_payment,
    deny_line,
    reversal_of,
    write_835,
)
from claimvault.billing.x12.validation import validate_x12

D = Decimal
DAY = date(2025, 3, 3)
NPI = "1234567893"  # synthetic, valid check digit
MARKER = "ZQMARKERQZ"


def _people(seed: int) -> tuple[PersonName, PersonName]:
    fake = Faker()
    fake.seed_instance(seed)
    rng = random.Random(seed)
    member = f"XQ{rng.randrange(10**9):09d}"
    patient = PersonName("QC", "1", fake.last_name().upper(), fake.first_name().upper(), None, None, "MI", member)
    subscriber = PersonName("IL", "1", fake.last_name().upper(), fake.first_name().upper(), None, None, "MI", member)
    return patient, subscriber


def _paid(seed: int, *, pcn: str | None = None, lines: int = 2) -> ClaimPayment:
    rng = random.Random(seed)
    patient, subscriber = _people(seed)
    built = []
    for n in range(lines):
        charge = D(rng.randrange(5_000, 40_000)) / 100
        allowed = (charge * D("0.7")).quantize(D("0.01"))
        built.append(
            adjudicate_line(
                procedure=Procedure("HC", f"992{n + 1:02d}"),
                charge=charge,
                allowed=allowed,
                patient={"deductible": D("10.00"), "coinsurance": D("5.25"), "copay": D("20")},
                service_date=DAY,
                control_number=f"LN{seed}-{n}",
                remark_codes=["N130"] if n == 0 else [],
            )
        )
    return claim_payment(
        patient_control_number=pcn or f"CV-{seed}",
        payer_claim_control_number=f"PCN{seed:010d}",
        lines=built,
        patient=patient,
        subscriber=subscriber,
        received=date(2025, 3, 5),
    )


def _remittance(claims: list[ClaimPayment], plb: list[ProviderAdjustment] | None = None, **kw: Any) -> Remittance:
    plb = plb or []
    values: dict[str, Any] = {
        "interchange_control": "000000835",
        "group_control": "835",
        "transaction_control": "0001",
        "sender_id": "EXAMPLEPAYER",
        "receiver_id": "CLAIMVAULT",
        "created": date(2025, 3, 14),
        "handling_code": "I",
        "payment_amount": payment_total(claims, plb),
        "credit_debit": "C",
        "payment_method": "ACH",
        "payment_format": "CCP",
        "payment_date": date(2025, 3, 14),
        "trace_number": "EFT000123",
        "originating_company_id": "1512345678",
        "payer_name": "EXAMPLE CARE PLAN",
        "payer_references": (("2U", "EXP01"),),
        "payee_name": "EXAMPLE CLINIC",
        "payee_id_qualifier": "XX",
        "payee_identifier": NPI,
        "payee_references": (("TJ", "990000001"),),
        "claims": tuple(claims),
        "provider_adjustments": tuple(plb),
    }
    values.update(kw)
    return Remittance(**values)


def _round_trip(remittance: Remittance, *, pyx12_clean: bool = True, **kw: Any) -> Remittance:
    text = write_835(remittance, **kw)
    report = validate_835(text.encode())
    assert report.valid, report.summary()
    if pyx12_clean:  # pyx12 on its own, with its 835 map: zero errors
        assert validate_x12(text).issues == ()
    parsed = parse_835(text.encode())
    assert parsed == remittance
    return parsed


# --- scenarios -------------------------------------------------------------------------------------------------


def test_paid_claim_with_contractual_adjustment_only() -> None:
    patient, subscriber = _people(1)
    line = adjudicate_line(
        procedure=Procedure("HC", "99213"),
        charge=D("150.00"),
        allowed=D("92.40"),
        service_date=DAY,
        control_number="LN1",
    )
    claim = claim_payment(
        patient_control_number="CV-1",
        payer_claim_control_number="P1",
        lines=[line],
        patient=patient,
        subscriber=subscriber,
    )
    r = _round_trip(_remittance([claim]))
    [c] = r.claims
    assert (c.status, c.charge, c.paid, c.patient_responsibility) == ("1", D("150.00"), D("92.40"), D("0"))
    [ln] = c.lines
    assert ln.adjustments == (Adjustment("CO", "45", D("57.60")),)
    assert (ln.allowed, ln.control_number, ln.service_date) == (D("92.40"), "LN1", DAY)
    assert r.payment_amount == D("92.40") and balance_problems(r) == ()
    assert (r.payee_npi, r.payee_tax_id, r.payer_id) == (NPI, "990000001", "EXP01")
    assert (r.payment_method, r.payment_format, r.payment_date) == ("ACH", "CCP", date(2025, 3, 14))
    assert (r.trace_number, r.originating_company_id) == ("EFT000123", "1512345678")
    assert (r.interchange_control, r.group_control, r.transaction_control) == ("000000835", "835", "0001")


def test_partial_payment_with_patient_responsibility() -> None:
    r = _round_trip(_remittance([_paid(2)]))
    [c] = r.claims
    first = c.lines[0]
    assert [(a.group, a.reason) for a in first.adjustments] == [("CO", "45"), ("PR", "1"), ("PR", "2"), ("PR", "3")]
    assert sum((a.amount for a in first.adjustments if a.group == "PR"), D(0)) == D("35.25")
    assert c.patient_responsibility == D("70.50")  # two lines
    assert first.remark_codes == ("N130",) and c.patient is not None and c.subscriber is not None
    assert c.patient.entity == "QC" and c.subscriber.entity == "IL" and c.patient.identifier == c.subscriber.identifier
    assert all(line_balanced(ln) for ln in c.lines) and claim_balanced(c) and payment_balanced(r)


def test_denied_claims_line_level_and_claim_level() -> None:
    patient, _ = _people(3)
    denied_lines = claim_payment(
        patient_control_number="CV-3",
        payer_claim_control_number="P3",
        lines=[
            deny_line(procedure=Procedure("HC", "81002"), charge=D("12.00"), service_date=DAY, remark_codes=["M15"])
        ],
        patient=patient,
        outpatient_remarks=["MA130"],
    )
    assert denied_lines.status == "4"
    # A claim denied as a whole (timely filing) with no service lines: claim-level CAS carries the charge.
    whole = ClaimPayment(
        "CV-4",
        "4",
        D("200.00"),
        D("0"),
        D("0"),
        "12",
        "P4",
        "11",
        "1",
        patient=patient,
        adjustments=(Adjustment("CO", "29", D("200.00")),),
        statement_from=DAY,
        statement_to=DAY,
    )
    r = _round_trip(_remittance([denied_lines, whole], payment_method="NON", handling_code="H", payment_format=None))
    assert [c.is_denial for c in r.claims] == [True, True] and r.payment_amount == 0
    assert r.claims[0].lines[0].remark_codes == ("M15",) and r.claims[0].remark_codes == ("MA130",)
    assert (r.claims[1].statement_from, r.claims[1].statement_to, r.claims[1].lines) == (DAY, DAY, ())
    assert balance_problems(r) == ()


def test_reversal_then_correction() -> None:
    original = _paid(5, pcn="CV-5")
    reversal = reversal_of(original)
    corrected = replace(_paid(6, pcn="CV-5"), payer_claim_control_number="PCN0000000005B")
    r = _round_trip(_remittance([reversal, corrected]))
    rev, new = r.claims
    assert rev.is_reversal and rev.status == "22" and not new.is_reversal
    assert (rev.charge, rev.paid) == (-original.charge, -original.paid)
    assert rev.payer_claim_control_number == original.payer_claim_control_number
    assert all(a.amount < 0 for ln in rev.lines for a in ln.adjustments)
    assert claim_balanced(rev) and all(line_balanced(ln) for ln in rev.lines)
    assert r.payment_amount == new.paid - original.paid


def test_provider_adjustments_and_check_payment() -> None:
    claims = [_paid(7), _paid(8)]
    plb = [
        ProviderAdjustment(NPI, date(2025, 12, 31), "WO", "PCN0000000001", D("25.00")),
        ProviderAdjustment(NPI, date(2025, 12, 31), "L6", None, D("-1.37")),
    ]
    plb += [ProviderAdjustment(NPI, date(2025, 12, 31), "FB", f"FB{n}", D("1.00")) for n in range(6)]  # 2 PLBs
    r = _remittance(claims, plb, payment_method="CHK", payment_format=None, trace_number="CHK10001")
    _round_trip(
        replace(r, provider_adjustments=r.provider_adjustments[:6], payment_amount=payment_total(claims, plb[:6]))
    )
    # A second PLB is valid by the guide; pyx12's map counts it as a second footer loop, which validate_835 drops.
    [quirk] = validate_x12(write_835(r)).issues
    assert (quirk.code, quirk.line) == ("4", write_835(r).count("~") - 3)  # the second PLB
    r = _round_trip(r, pyx12_clean=False)
    assert r.provider_adjustments == tuple(plb)
    assert r.payment_amount == sum((c.paid for c in claims), D(0)) - D("25.00") + D("1.37") - D("6.00")
    assert (r.provider_adjustments[0].reason, r.provider_adjustments[0].reference) == ("WO", "PCN0000000001")
    assert payment_balanced(r)
    assert write_835(r).count("PLB*") == 2


def test_provider_adjustments_only_no_claims() -> None:
    plb = [ProviderAdjustment(NPI, date(2025, 12, 31), "L6", None, D("-3.10"))]
    r = _round_trip(_remittance([], plb, payment_method="CHK", payment_format=None))
    assert (r.claims, r.payment_amount, payment_balanced(r)) == ((), D("3.10"), True)


def test_many_claims_lines_and_cas_over_six_triplets() -> None:
    claims = [_paid(100 + n, lines=1 + n % 4) for n in range(12)]
    patient, _ = _people(9)
    line = adjudicate_line(
        procedure=Procedure("HC", "97110", ("GP",)),
        charge=D("400.00"),
        allowed=D("300.00"),
        units=D("4"),
        service_date=DAY,
    )
    many = tuple(Adjustment("CO", str(n), D("10.00"), D("1")) for n in range(200, 208))  # 8 triplets: 2 CAS
    line = replace(line, adjustments=(line.adjustments[0], *many), paid=line.paid - D("80.00"))
    claims.append(
        claim_payment(patient_control_number="CV-CAS", payer_claim_control_number="PCAS", lines=[line], patient=patient)
    )
    text = write_835(_remittance(claims))
    assert text.count("CAS*CO*") == sum(len(c.lines) for c in claims) + 1
    r = _round_trip(_remittance(claims))
    assert len(r.claims) == 13 and sum(len(c.lines) for c in r.claims) == sum(1 + n % 4 for n in range(12)) + 1
    assert r.claims[-1].lines[0].adjustments[1:] == many and r.claims[-1].lines[0].units == 4
    assert balance_problems(r) == ()


def test_payer_changed_modifier_reports_submitted_procedure() -> None:
    patient, _ = _people(10)
    line = adjudicate_line(
        procedure=Procedure("HC", "99214"),
        charge=D("180.00"),
        allowed=D("110.00"),
        submitted=Procedure("HC", "99214", ("25",)),
        service_date=DAY,
    )
    claim = claim_payment(
        patient_control_number="CV-10", payer_claim_control_number="P10", lines=[line], patient=patient
    )
    text = write_835(_remittance([claim]))
    assert "SVC*HC:99214*180*110***HC:99214:25~" in text
    [ln] = _round_trip(_remittance([claim])).claims[0].lines
    assert ln.procedure == Procedure("HC", "99214") and ln.submitted == Procedure("HC", "99214", ("25",))


def test_inpatient_remarks_corrected_name_references_and_amounts() -> None:
    patient, subscriber = _people(11)
    corrected = PersonName("74", "1", "CORRECTED", "NAME")
    line = replace(
        adjudicate_line(procedure=Procedure("NU", "0450"), charge=D("900.00"), allowed=D("600.00"), service_date=DAY),
        revenue_code=None,
        references=(("G1", "AUTH1"), ("0K", "POLICY7")),
        pharmacy_reject_codes=(),
    )
    claim = replace(
        claim_payment(
            patient_control_number="CV-11",
            payer_claim_control_number="P11",
            lines=[line],
            patient=patient,
            subscriber=subscriber,
            filing_indicator="MA",
            facility_type="13",
        ),
        corrected=corrected,
        inpatient_remarks=("MA01", "MA02"),
        references=(("EA", "MRN1"),),
        amounts=(("AU", D("600.00")),),
        coverage_expiration=date(2025, 12, 31),
    )
    r = _round_trip(_remittance([claim], production_date=date(2025, 3, 13)))
    [c] = r.claims
    assert c.inpatient_remarks == ("MA01", "MA02") and c.corrected == corrected and c.references == (("EA", "MRN1"),)
    assert c.lines[0].references == (("G1", "AUTH1"), ("0K", "POLICY7")) and r.production_date == date(2025, 3, 13)


def test_several_transaction_sets_and_other_delimiters() -> None:
    first = _remittance([_paid(20)])
    second = _remittance([_paid(21)], transaction_control="0002", trace_number="EFT000124")
    odd = Delimiters(element="|", component=">", repetition="!", segment="#")
    text = write_835([first, second], delimiters=odd, newline=True)
    assert text.startswith("ISA|") and "SVC|HC>99201|" in text
    assert parse_835_all(text.encode()) == (first, second)
    with pytest.raises(RemittanceRejected, match="more than one transaction set"):
        parse_835(text.encode())
    with pytest.raises(X12ContentError):
        write_835([first, replace(second, interchange_control="000000999")])


def test_st03_as_the_guide_writes_it_is_accepted_and_a_wrong_one_refused() -> None:
    text = write_835(_remittance([_paid(22)]))
    assert parse_835(text.replace("ST*835*0001~", "ST*835*0001*005010X221A1~").encode()).claims
    with pytest.raises(RemittanceRejected) as info:
        parse_835(text.replace("ST*835*0001~", "ST*835*0001*005010X222A1~").encode())
    assert any(i.segment_id == "ST" and i.element_position == 3 for i in info.value.report.issues)


# --- balancing and identity ------------------------------------------------------------------------------------


def test_unbalanced_amounts_are_reported_by_position() -> None:
    good = _paid(30)
    bad_line = replace(good.lines[1], paid=good.lines[1].paid + D("0.01"))
    bad = replace(good, lines=(good.lines[0], bad_line), paid=good.paid + D("0.01"))  # line and claim off by 1c
    r = _remittance([good, bad], payment_amount=payment_total([good, bad], []) + D("1.00"))
    parsed = parse_835(write_835(r).encode())  # balance is the posting engine's call: the file still reads
    assert balance_problems(parsed) == (
        BalanceProblem("line", 1, 1),
        BalanceProblem("claim", 1),
        BalanceProblem("payment"),
    )
    assert all(str(v) not in p.describe() for p in balance_problems(parsed) for v in (bad_line.paid, r.payment_amount))


def test_key_is_payer_and_trace_and_identical_across_files() -> None:
    r = _remittance([_paid(31)])
    once = parse_835(write_835(r).encode())
    again = parse_835(write_835(replace(r, interchange_control="000000999", group_control="9")).encode())
    assert once.key == again.key and once.key.payer_id == "EXP01" and once.key.trace_number == "EFT000123"
    assert parse_835(write_835(replace(r, trace_number="EFT000999")).encode()).key != once.key
    no_ref = replace(r, payer_references=(), payer_id_qualifier="XV", payer_identifier="PLAN42")
    assert parse_835(write_835(no_ref).encode()).key.payer_id == "PLAN42"
    assert replace(r, payer_references=()).payer_id == "1512345678"  # TRN03 as the last resort


def test_reprs_name_no_values() -> None:
    r = parse_835(write_835(_remittance([_paid(32)], trace_number=MARKER)).encode())
    c = r.claims[0]
    assert c.patient is not None
    shown = " ".join(
        repr(x) for x in (r, r.key, c, c.patient, c.lines[0], c.lines[0].adjustments[0], c.lines[0].procedure)
    )
    for value in (
        MARKER,
        c.patient_control_number,
        c.patient.last or "",
        c.patient.identifier or "",
        "99201",
        str(c.charge),
        NPI,
    ):
        assert value not in shown


# --- rejected files --------------------------------------------------------------------------------------------


def _text(**kw: Any) -> str:
    return write_835(_remittance([_paid(40, pcn=MARKER)], **kw))


def test_truncated_file_is_refused() -> None:
    text = _text()
    for cut in (len(text) // 2, len(text) - 20, 120, 50):
        with pytest.raises(RemittanceRejected) as info:
            parse_835(text[:cut].encode())
        assert MARKER not in str(info.value) and not info.value.report.valid


def test_invalid_element_is_refused_with_position_and_code_only() -> None:
    text = _text().replace("*12*PCN", "*Q7*PCN")  # CLP06 filing indicator not in the code list
    with pytest.raises(RemittanceRejected) as info:
        parse_835(text.encode())
    [issue] = info.value.report.issues
    assert (issue.segment_id, issue.element_position, issue.code, issue.line) == ("CLP", 6, "7", 14)
    message = str(info.value)
    assert info.value.details == [{"level": "element", "code": "7", "segment": "CLP", "line": 14, "element": 6}]
    assert "CLP06" in message and "Q7" not in message and MARKER not in message


def test_unknown_segment_and_missing_required_element_are_refused() -> None:
    text = _text().replace("LX*1~", f"LX*1~{MARKER}*{MARKER}~")
    with pytest.raises(RemittanceRejected) as info:
        parse_835(text.encode())
    assert MARKER not in str(info.value) and info.value.code == "x12_835_rejected"
    text = _text().replace("TRN*1*EFT000123*", "TRN*1**")
    with pytest.raises(RemittanceRejected) as info:
        parse_835(text.encode())
    assert any(i.segment_id == "TRN" and i.element_position == 2 for i in info.value.report.issues)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an x12 file at all", "ISA*00*\u00e9".encode("latin-1"), b"\xff\xfe\x00garbage" * 20],
    ids=["empty", "text", "latin1", "binary"],
)
def test_unreadable_files_are_refused(data: bytes) -> None:
    with pytest.raises(RemittanceRejected):
        parse_835(data)


def test_an_837_is_not_an_835() -> None:
    text = _text().replace("GS*HP*", "GS*HC*").replace("*005010X221A1~", "*005010X222A1~")
    with pytest.raises(RemittanceRejected) as info:
        parse_835(text.encode())
    assert {(i.segment_id, i.element_position) for i in info.value.report.issues} >= {("GS", 1), ("GS", 8)}


def test_writer_refuses_values_it_cannot_carry() -> None:
    claim = _paid(41)
    with pytest.raises(X12ContentError) as info:
        write_835(_remittance([replace(claim, patient_control_number=f"{MARKER}*X")]))
    assert info.value.field == "claims[0].patient_control_number" and MARKER not in str(info.value)
    with pytest.raises(X12ContentError, match="whole cents"):
        write_835(_remittance([replace(claim, paid=D("10.005"))]))
    with pytest.raises(X12ContentError, match="electronic payment"):
        write_835(_remittance([claim], payment_format=None))


# --- property ----------------------------------------------------------------------------------------------------

_cents = st.integers(min_value=0, max_value=10**8).map(lambda n: D(n) / 100)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_cents, _cents, _cents, _cents), min_size=1, max_size=4),
    st.lists(st.integers(min_value=-(10**7), max_value=10**7).map(lambda n: D(n) / 100), max_size=3),
    st.booleans(),
)
def test_amounts_round_trip_exactly(
    lines: list[tuple[Decimal, Decimal, Decimal, Decimal]], plb_amounts: list[Decimal], reverse: bool
) -> None:
    patient, _ = _people(50)
    built = []
    for n, (a, b, c, d) in enumerate(lines):
        allowed = a + b
        built.append(
            adjudicate_line(
                procedure=Procedure("HC", "99213"),
                charge=allowed + c + d,
                allowed=allowed,
                patient={"deductible": b},
                service_date=DAY,
                control_number=f"L{n}",
            )
        )
    claim = claim_payment(patient_control_number="CV-P", payer_claim_control_number="PP", lines=built, patient=patient)
    claims = [reversal_of(claim), claim] if reverse else [claim]
    plb = [ProviderAdjustment(NPI, date(2025, 12, 31), "WO", None, v) for v in plb_amounts]
    r = _remittance(claims, plb)
    if r.payment_amount < 0:
        r = replace(r, payment_amount=D(0), credit_debit="C")
    parsed = _round_trip(r)
    assert [ln.charge for ln in parsed.claims[-1].lines] == [ln.charge for ln in built]
    assert all(line_balanced(ln) for c in parsed.claims for ln in c.lines)
    assert all(claim_balanced(c) for c in parsed.claims)
    assert payment_balanced(parsed) == (payment_total(claims, plb) >= 0)
