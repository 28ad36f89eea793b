"""Synthetic 271 eligibility responses (005010X279A1) answering ``EligibilityRequest``s: what a fake clearinghouse
or payer sends back in tests and demos. Scenarios: active coverage with copay, deductible (and remaining),
coinsurance in and out of network and out-of-pocket maximum; inactive coverage; an AAA rejection (e.g. 72 invalid
member id); and the dependent case (answer on 2000D). Every file passes the pyx12 gate before it is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from claimvault.billing.x12.eligibility_270 import (
    EligibilityPerson,
    EligibilityRequest,
    SegmentList,
    ValueRules,
    d8,
    interchange,
    release,
)
from claimvault.billing.x12.envelope import ControlNumbers, TradingPartner, X12ContentError

PAYER_ORIGINATOR = "9SYNPAYER1"  # TRN03 of the payer's own trace number


@dataclass(frozen=True)
class EligibilityAnswer:
    """What the synthetic payer says about one request. Money in dollars, percents as 0-100."""

    status: Literal["active", "inactive", "rejected"]
    plan_name: str = "SYNTHETIC PPO"
    group_number: str | None = "GRP0001"
    copay: Decimal | None = None
    deductible: Decimal | None = None
    family_deductible: Decimal | None = None
    deductible_remaining: Decimal | None = None
    coinsurance_percent: Decimal | None = None
    out_of_network_coinsurance_percent: Decimal | None = None
    out_of_pocket: Decimal | None = None
    coverage_begin: date | None = None
    coverage_end: date | None = None
    reject_reason: str = "72"  # AAA03: 72 invalid/missing subscriber/insured id, 75 subscriber not found...
    follow_up: str = "C"  # AAA04: C please correct and resubmit
    service_type: str = "30"


ACTIVE = EligibilityAnswer(
    status="active", copay=Decimal("25.00"), deductible=Decimal("1500.00"), family_deductible=Decimal("3000.00"),
    deductible_remaining=Decimal("1200.00"), coinsurance_percent=Decimal("20"),
    out_of_network_coinsurance_percent=Decimal("40"), out_of_pocket=Decimal("5000.00"), coverage_begin=date(2026, 1, 1),
)  # fmt: skip
INACTIVE = EligibilityAnswer(status="inactive", coverage_begin=date(2025, 1, 1), coverage_end=date(2025, 12, 31))
REJECTED = EligibilityAnswer(status="rejected", reject_reason="72", follow_up="C")


def reply_partner(partner: TradingPartner) -> TradingPartner:
    """The same trading relationship seen from the other side: ISA/GS sender and receiver swapped."""
    return replace(
        partner,
        isa_sender_qualifier=partner.isa_receiver_qualifier,
        isa_sender_id=partner.isa_receiver_id,
        isa_receiver_qualifier=partner.isa_sender_qualifier,
        isa_receiver_id=partner.isa_sender_id,
        gs_sender_code=partner.gs_receiver_code,
        gs_receiver_code=partner.gs_sender_code,
    )


def _amount(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.01")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fraction(percent: Decimal) -> str:
    return _amount(percent / 100) if percent % 1 == 0 else format((percent / 100).normalize(), "f")


def _benefits(s: SegmentList, answer: EligibilityAnswer, rules: ValueRules) -> None:
    """2110C/2110D: one EB per benefit, all for ``answer.service_type`` and commercial insurance (PR)."""
    st = rules.service_type(answer.service_type, field="answer.service_type")
    if answer.status == "inactive":
        s.add("EB", "6", "IND", st)
        return
    s.add("EB", "1", "IND", st, "PR", rules.text(answer.plan_name, field="answer.plan_name", max_len=50))
    money = (
        ("B", "IND", "27", answer.copay, "Y"),  # co-payment per visit
        ("C", "IND", "23", answer.deductible, "Y"),  # calendar-year deductible
        ("C", "FAM", "23", answer.family_deductible, "Y"),
        ("C", "IND", "29", answer.deductible_remaining, "Y"),  # remaining
        ("G", "IND", "23", answer.out_of_pocket, "Y"),  # out-of-pocket (stop loss)
    )
    for code, level, period, amount, network in money:
        if amount is not None:
            s.add("EB", code, level, st, "PR", "", period, _amount(amount), "", "", "", "", network)
    for percent, network in ((answer.coinsurance_percent, "Y"), (answer.out_of_network_coinsurance_percent, "N")):
        if percent is not None:
            s.add("EB", "A", "IND", st, "PR", "", "27", "", _fraction(percent), "", "", "", network)


def _name(s: SegmentList, code: str, person: EligibilityPerson, rules: ValueRules, *, member_id: bool) -> None:
    rules.person_name(s, code, person, field="subscriber" if code == "IL" else "dependent", member_id=member_id)


def _answer(s: SegmentList, hl: int, parent: int, request: EligibilityRequest, answer: EligibilityAnswer,
            rules: ValueRules, payer_trace: str) -> int:  # fmt: skip
    dependent = request.dependent
    rejected = answer.status == "rejected"
    reject = ("N", "", rules.ident(answer.reject_reason, field="answer.reject_reason", max_len=3),
              rules.ident(answer.follow_up, field="answer.follow_up", max_len=1))  # fmt: skip

    def member(person: EligibilityPerson, *, subscriber: bool, patient: bool) -> None:
        _name(s, "IL" if subscriber else "03", person, rules, member_id=subscriber)
        if subscriber and answer.group_number and not rejected:
            s.add("REF", "6P", rules.ident(answer.group_number, field="answer.group_number", max_len=50))
        if patient and rejected:
            s.add("AAA", *reject)
        rules.demographics(s, person, field="subscriber" if subscriber else "dependent")
        if patient and not rejected:
            if answer.coverage_begin is not None:
                s.add("DTP", "346", "D8", d8(answer.coverage_begin))
            if answer.coverage_end is not None:
                s.add("DTP", "357", "D8", d8(answer.coverage_end))
            _benefits(s, answer, rules)

    s.add("HL", str(hl), str(parent), "22", "1" if dependent else "0")
    if dependent is None:
        s.add("TRN", "2", rules.ident(request.trace_number, field="trace_number", max_len=50), "9CLAIMVALT")
        s.add("TRN", "1", payer_trace, PAYER_ORIGINATOR)
    member(request.subscriber, subscriber=True, patient=dependent is None)
    if dependent is None:
        return hl
    s.add("HL", str(hl + 1), str(hl), "23", "0")
    s.add("TRN", "2", rules.ident(request.trace_number, field="trace_number", max_len=50), "9CLAIMVALT")
    s.add("TRN", "1", payer_trace, PAYER_ORIGINATOR)
    member(dependent, subscriber=False, patient=True)
    return hl + 1


def write_271(
    answers: Sequence[tuple[EligibilityRequest, EligibilityAnswer]],
    partner: TradingPartner,
    control_numbers: ControlNumbers,
    *,
    created: datetime | None = None,
) -> bytes:
    """One validated 271 interchange answering each request with its answer, in order (one 2000A/2000B per
    request; ``partner`` is the responder's view, see ``reply_partner``). The trace number of each request is
    echoed in TRN*2 of its 2000C, or 2000D when the patient is a dependent."""
    if not answers:
        raise X12ContentError("answers", "at least one answer is required")
    rules = ValueRules(partner.delimiters)
    s = SegmentList(partner.delimiters)
    hl = 0
    for n, (request, answer) in enumerate(answers, start=1):
        hl += 1
        source = hl
        s.add("HL", str(hl), "", "20", "1")
        s.add("NM1", "PR", "2", rules.text(request.payer_name, field="payer_name", max_len=60), "", "", "", "", "PI",
              rules.ident(request.payer_id, field="payer_id", min_len=2, max_len=80))  # fmt: skip
        hl += 1
        receiver = hl
        s.add("HL", str(hl), str(source), "21", "1")
        s.add("NM1", "1P", "2", rules.text(request.provider_name, field="provider_name", max_len=60), "", "", "",
              "", "XX", rules.npi(request.provider_npi, field="provider_npi"))  # fmt: skip
        hl = _answer(s, hl + 1, receiver, request, answer, rules, f"SYN{n:07d}")
    text = interchange(partner=partner, kind="271", body=s.items, numbers=control_numbers,
                       created=created or datetime.now(UTC), purpose="11")  # fmt: skip
    return release(text, kind="271")
