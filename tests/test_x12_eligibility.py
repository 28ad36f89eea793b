"""270/271 eligibility (005010X279A1): the 270 writer passes pyx12 with the X279A1 maps and the gate refuses
corrupted files; each synthetic 271 scenario parses back to the right summary; responses are matched to requests
by trace number; malformed and truncated 271s are refused without quoting values."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest

from claimvault.billing.x12.eligibility_270 import (
    EligibilityPerson,
    EligibilityRequest,
    new_trace_number,
    read_270,
    write_270,
)
from claimvault.billing.x12.eligibility_271 import (
    EligibilityFileRejected,
    EligibilityResponse,
    match_responses,
    parse_271,
    summarize,
)
from claimvault.billing.x12.eligibility_271_writer import (
    ACTIVE,
    INACTIVE,
    REJECTED,
    EligibilityAnswer,
    reply_partner,
    write_271,
)
from claimvault.billing.x12.eligibility_maps import validate_eligibility
from claimvault.billing.x12.envelope import Delimiters, InMemoryControlNumbers, X12ContentError
from claimvault.billing.x12.validation import ReleaseRefused
from tests.claim_documents import make_npi, make_partner

CREATED = datetime(2026, 3, 2, 9, 15)
SERVICE_DATE = date(2026, 3, 2)
_FAMILY = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Alvarez", "Brennan")
_GIVEN = ("Ada", "Bram", "Chiara", "Dev", "Elif", "Farid")


def person(rng: random.Random, *, member: bool = True, born: int = 1980) -> EligibilityPerson:
    return EligibilityPerson(
        family_name=rng.choice(_FAMILY),
        given_name=rng.choice(_GIVEN),
        member_id=f"W{rng.randrange(10**8, 10**9)}" if member else None,
        birth_date=date(born + rng.randrange(10), rng.randrange(1, 13), rng.randrange(1, 29)),
        sex=rng.choice(("F", "M")),
    )


def request(seed: int, *, dependent: bool = False, types: tuple[str, ...] = ("30",)) -> EligibilityRequest:
    rng = random.Random(f"eligibility:{seed}")
    return EligibilityRequest(
        trace_number=f"CV{rng.randrange(10**9, 10**10)}",
        payer_id="SYNCI01",
        payer_name="Synthetic Health Plan",
        provider_npi=make_npi(random.Random("provider")),
        provider_name="Synthetic Family Practice",
        subscriber=person(rng),
        dependent=person(rng, member=False, born=2012) if dependent else None,
        service_date=SERVICE_DATE,
        service_types=types,
    )


def write(requests: list[EligibilityRequest], numbers: InMemoryControlNumbers | None = None) -> bytes:
    return write_270(requests, make_partner(), numbers or InMemoryControlNumbers(), created=CREATED)


def answer(pairs: list[tuple[EligibilityRequest, EligibilityAnswer]]) -> bytes:
    return write_271(pairs, reply_partner(make_partner()), InMemoryControlNumbers(), created=CREATED)


def segments(data: bytes) -> list[list[str]]:
    return [s.split("*") for s in data.decode().split("~") if s]


# --- 270 -------------------------------------------------------------------------------------------------------
def test_270_validates_with_zero_pyx12_errors() -> None:
    data = write([request(1), request(2, dependent=True), request(3, types=("30", "98", "88"))])
    report = validate_eligibility(data.decode(), kind="270")
    assert report.valid, report.summary()
    segs = segments(data)
    assert segs[1][1] == "HS" and segs[1][8] == "005010X279A1" and segs[2][:2] == ["ST", "270"]
    # One EQ per service type; one DTP*291 per member inquiry.
    assert [s[1] for s in segs if s[0] == "EQ"] == ["30", "30", "30", "98", "88"]
    assert sum(1 for s in segs if s[0] == "DTP" and s[1] == "291") == 3


def test_270_dependent_inquiry_sits_on_2000d_with_its_trace() -> None:
    req = request(4, dependent=True)
    segs = segments(write([req]))
    hl = [s for s in segs if s[0] == "HL"]
    assert [(s[3], s[4]) for s in hl] == [("20", "1"), ("21", "1"), ("22", "1"), ("23", "0")]
    after_dependent = segs[segs.index(hl[-1]) :]
    assert ["TRN", "1", req.trace_number, "9CLAIMVALT"] == after_dependent[1]
    assert after_dependent[2][:2] == ["NM1", "03"] and len(after_dependent[2]) <= 6  # no id for a dependent
    assert not any(s[0] == "TRN" for s in segs[: segs.index(hl[-1])])


def test_270_reads_back_to_the_same_requests() -> None:
    sent = [request(5), request(6, dependent=True, types=("30", "UC"))]
    back = read_270(write(sent))
    assert [r.trace_number for r in back] == [r.trace_number for r in sent]
    assert [r.service_types for r in back] == [("30",), ("30", "UC")]
    assert back[0].subscriber.member_id == sent[0].subscriber.member_id
    assert back[0].subscriber.birth_date == sent[0].subscriber.birth_date
    assert back[1].dependent is not None and sent[1].dependent is not None
    assert back[1].dependent.family_name == sent[1].dependent.family_name.upper()
    assert back[0].provider_npi == sent[0].provider_npi and back[0].service_date == SERVICE_DATE


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("EQ*30~", "EQ*Q9~", "7"),  # service type not in the code list
        ("DTP*291*D8*20260302~", "DTP*291*D8*20261302~", "8"),  # impossible date
        ("*20*1~", "*20*9~", "7"),  # HL04 child code
        ("NM1*PR*2*SYNTHETIC HEALTH PLAN*****PI*SYNCI01~", "", "3"),  # required 2100A missing
        ("*9CLAIMVALT~", "*9CLAIM~", "4"),  # TRN03 must be 10 characters
        ("BHT*0022*13*", "BHT*0022*11*", "7"),  # a 270 is a request
    ],
)
def test_pyx12_gate_refuses_a_corrupted_270(old: str, new: str, code: str) -> None:
    text = write([request(7)]).decode()
    assert old in text
    report = validate_eligibility(text.replace(old, new, 1), kind="270")
    assert not report.valid
    assert code in {issue.code for issue in report.issues}


def test_270_refuses_bad_requests_by_field_without_values_or_numbers() -> None:
    numbers = InMemoryControlNumbers()
    bad_npi = replace(request(8), provider_npi="12345")
    with pytest.raises(X12ContentError, match=r"requests\[1\]\.provider_npi") as err:
        write([request(9), bad_npi], numbers)
    assert "12345" not in str(err.value)
    no_member = replace(request(10), subscriber=replace(request(10).subscriber, member_id=None))
    with pytest.raises(X12ContentError, match=r"subscriber\.member_id"):
        write([no_member], numbers)
    with pytest.raises(X12ContentError, match="unique"):
        write([request(11), request(11)], numbers)
    with pytest.raises(X12ContentError, match="service_types"):
        write([replace(request(12), service_types=())], numbers)
    # Nothing refused consumed a control number.
    assert numbers.next_interchange(partner="CH1") == 1


def test_reprs_carry_no_values() -> None:
    req = request(13, dependent=True)
    text = repr(req) + repr(req.subscriber) + repr(req.dependent)
    assert req.subscriber.member_id and req.subscriber.member_id not in text
    assert req.subscriber.family_name not in text and req.trace_number not in text
    assert len(new_trace_number()) == 32 and new_trace_number() != new_trace_number()


# --- 271 scenarios ---------------------------------------------------------------------------------------------
def only(responses: list[EligibilityResponse], trace: str) -> EligibilityResponse:
    return match_responses([trace], responses)[trace]


def test_active_coverage_summary() -> None:
    req = request(20)
    responses = parse_271(answer([(req, ACTIVE)]))
    response = only(responses, req.trace_number)
    assert response.level == "subscriber" and not response.rejected
    assert response.member_id == req.subscriber.member_id and response.payer_id == "SYNCI01"
    assert response.plan_name == "SYNTHETIC PPO" and response.group_number == "GRP0001"
    assert response.payer_trace == "SYN0000001"
    assert [(d.qualifier, d.start) for d in response.dates] == [("346", date(2026, 1, 1))]
    summary = summarize(response)
    assert summary.active is True
    assert summary.copay == Decimal("25.00")
    assert summary.deductible == Decimal("1500.00")  # individual, not the family 3000
    assert summary.deductible_remaining == Decimal("1200.00")
    assert summary.coinsurance_percent == Decimal("20.00")
    assert summary.out_of_pocket == Decimal("5000.00")
    assert isinstance(summary.copay, Decimal) and summary.reject_reasons == ()
    assert summarize(response, in_network=False).coinsurance_percent == Decimal("40.00")
    # Nothing about a service type the payer did not answer for.
    assert summarize(response, service_type="88").active is None


def test_inactive_coverage_summary() -> None:
    req = request(21)
    response = only(parse_271(answer([(req, INACTIVE)])), req.trace_number)
    summary = summarize(response)
    assert summary.active is False and summary.copay is None and summary.deductible is None
    assert ("357", date(2025, 12, 31)) in [(d.qualifier, d.start) for d in response.dates]


def test_rejection_invalid_member_id() -> None:
    req = request(22)
    response = only(parse_271(answer([(req, REJECTED)])), req.trace_number)
    assert response.rejected and not response.benefits
    (rejection,) = response.rejections
    assert (rejection.loop, rejection.reason, rejection.follow_up, rejection.valid_request) == (
        "2100C",
        "72",
        "C",
        False,
    )
    summary = summarize(response)
    assert summary.active is None and summary.reject_reasons == ("72",)


def test_dependent_answer_is_matched_on_2000d() -> None:
    req = request(23, dependent=True)
    responses = parse_271(answer([(req, ACTIVE)]))
    assert [(r.level, r.trace_number) for r in responses] == [("subscriber", None), ("dependent", req.trace_number)]
    response = only(responses, req.trace_number)
    assert response.member_id is None and summarize(response).copay == Decimal("25.00")
    rejected = only(parse_271(answer([(req, replace(REJECTED, reject_reason="67"))])), req.trace_number)
    assert [(r.loop, r.reason) for r in rejected.rejections] == [("2100D", "67")]


def test_responses_are_matched_to_requests_by_trace_number() -> None:
    requests = [request(30), request(31, dependent=True), request(32), request(33)]
    answers = {requests[0].trace_number: INACTIVE, requests[1].trace_number: ACTIVE, requests[2].trace_number: REJECTED}
    # The payer answers in another order and never answers the last request.
    data = answer([(requests[i], answers[requests[i].trace_number]) for i in (2, 0, 1)])
    matched = match_responses([r.trace_number for r in requests], parse_271(data))
    assert set(matched) == {r.trace_number for r in requests[:3]}
    assert summarize(matched[requests[0].trace_number]).active is False
    assert summarize(matched[requests[1].trace_number]).active is True
    assert summarize(matched[requests[2].trace_number]).reject_reasons == ("72",)


def test_answers_to_a_written_270_round_trip() -> None:
    sent = [request(40), request(41, dependent=True)]
    received = read_270(write(sent))
    data = answer([(received[0], ACTIVE), (received[1], INACTIVE)])
    matched = match_responses([r.trace_number for r in sent], parse_271(data))
    assert [summarize(matched[r.trace_number]).active for r in sent] == [True, False]


def test_other_delimiters_and_line_breaks_are_read() -> None:
    req = request(42)
    partner = replace(reply_partner(make_partner()), delimiters=Delimiters(element="|", component=">",
                                                                           repetition="^", segment="~"))  # fmt: skip
    data = write_271([(req, ACTIVE)], partner, InMemoryControlNumbers(), created=CREATED)
    broken = data.replace(b"~", b"~\r\n")
    assert summarize(only(parse_271(broken), req.trace_number)).copay == Decimal("25.00")


# --- malformed 271 ---------------------------------------------------------------------------------------------
def test_truncated_and_malformed_271_are_refused_without_values(caplog: pytest.LogCaptureFixture) -> None:
    req = request(50)
    good = answer([(req, ACTIVE)]).decode()
    member_id = req.subscriber.member_id
    assert member_id
    caplog.set_level(logging.DEBUG)
    cases = {
        "truncated": good[: len(good) // 2],
        "no trailer": good[: good.index("SE*")],
        "bad benefit code": good.replace("EB*B*", "EB*Z*", 1),
        "bad amount": good.replace("*27*25*", "*27*2X5*", 1),
        "member id where a code goes": good.replace("EB*6*", f"EB*{member_id}*").replace(
            "EB*1*", f"EB*{member_id}*", 1
        ),
        "not x12": "hello " * 30,
        "a 270 instead": write([req]).decode(),
    }
    for name, text in cases.items():
        with pytest.raises(EligibilityFileRejected) as err:
            parse_271(text.encode())
        message = str(err.value)
        assert member_id not in message and req.subscriber.family_name.upper() not in message, name
        if name not in ("not x12",):
            assert err.value.report is not None and not err.value.report.valid, name
    with pytest.raises(EligibilityFileRejected, match="ASCII"):
        parse_271(good.encode().replace(b"SYNTHETIC", "SYNTH\u00c9TIC".encode()))
    assert member_id not in caplog.text


def test_271_writer_output_is_valid_and_refuses_bad_answers() -> None:
    req = request(60, dependent=True)
    data = answer([(req, ACTIVE), (request(61), INACTIVE), (request(62), REJECTED)])
    assert validate_eligibility(data.decode(), kind="271").valid
    with pytest.raises(ReleaseRefused):
        answer([(request(63), replace(REJECTED, reject_reason="ZZ"))])  # not an AAA03 code of the guide
