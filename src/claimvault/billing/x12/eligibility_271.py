"""The 271 eligibility response parser (005010X279A1) and its summary for billing.

``parse_271(data)`` validates the whole interchange with pyx12 (``eligibility_maps.validate_eligibility``) and only
then reads it: one ``EligibilityResponse`` per subscriber (2000C) and dependent (2000D) loop, with the trace number
that matches it to our request (TRN*2), AAA rejections (of that member and of the payer and provider levels above
it), EB benefits (code, coverage level, service types, insurance type, plan, time period, amount, percent,
quantity, network indicator, with their DTP dates and AAA) and the member's DTP dates. ``summarize`` reduces one
response to what a front desk needs for one service type. A malformed file raises ``EligibilityFileRejected``
naming positions and codes only. Reprs carry no identifiers, names or plan text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from claimvault.billing.x12.eligibility_maps import validate_eligibility
from claimvault.billing.x12.validation import X12Report
from claimvault.errors import ValidationFailed

ACTIVE_CODES = frozenset({"1", "2", "3", "4", "5"})  # EB01: active coverage (and its capitated / pending kinds)
INACTIVE_CODES = frozenset({"6", "7", "8"})  # EB01: inactive (pending eligibility update / investigation)
REMAINING = "29"  # EB06 time period "Remaining"
ISA_LENGTH = 106


class EligibilityFileRejected(ValidationFailed):
    """A 271 that is not valid X12 005010X279A1: nothing in it may be believed. ``report`` lists positions and
    codes (never values)."""

    code = "x12_eligibility_rejected"

    def __init__(self, message: str, report: X12Report | None = None) -> None:
        super().__init__(f"{message}: {report.summary()}" if report is not None else message)
        self.report = report


@dataclass(frozen=True)
class Rejection:
    """AAA: the request could not be answered (AAA03 reason, e.g. 72 invalid member id; AAA04 follow-up, e.g. C
    correct and resubmit). ``loop`` says where it was found (2000A, 2100A, 2100B, 2100C, 2100D, 2110C, 2110D)."""

    loop: str
    reason: str
    follow_up: str
    valid_request: bool  # AAA01


@dataclass(frozen=True)
class BenefitDate:
    """DTP: qualifier (291 plan, 346 plan begin, 356 eligibility begin, 357 eligibility end...) and the date or
    range."""

    qualifier: str
    start: date
    end: date | None = None


@dataclass(frozen=True, repr=False)
class Benefit:
    """EB (loop 2110C/2110D) with its dates and rejections. Amounts are Decimal; ``percent`` is a fraction
    (EB08, 0.2 = 20%)."""

    code: str  # EB01
    coverage_level: str | None = None  # EB02: IND, FAM...
    service_types: tuple[str, ...] = ()  # EB03 (repetitions split)
    insurance_type: str | None = None  # EB04
    plan_description: str | None = None  # EB05
    time_period: str | None = None  # EB06: 23 calendar year, 27 visit, 29 remaining...
    amount: Decimal | None = None  # EB07
    percent: Decimal | None = None  # EB08
    quantity_qualifier: str | None = None  # EB09
    quantity: Decimal | None = None  # EB10
    authorization_required: str | None = None  # EB11
    network: str | None = None  # EB12: Y in network, N out of network, W not applicable, U unknown
    dates: tuple[BenefitDate, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    @property
    def in_network(self) -> bool | None:
        return {"Y": True, "N": False}.get(self.network or "")

    def applies_to(self, service_type: str) -> bool:
        """EB03 names ``service_type``, or names none (the benefit applies to the whole plan)."""
        return not self.service_types or service_type in self.service_types

    def __repr__(self) -> str:
        return f"Benefit(code={self.code!r}, service_types={self.service_types!r}, network={self.network!r})"


@dataclass(frozen=True, repr=False)
class EligibilityResponse:
    """One subscriber (2000C) or dependent (2000D) answer. ``trace_number`` is the TRN02 we sent (TRN*2);
    ``payer_trace`` the payer's own (TRN*1). Member id and group carry PHI-adjacent data: never log them."""

    level: Literal["subscriber", "dependent"]
    trace_number: str | None
    payer_trace: str | None
    payer_id: str | None
    provider_npi: str | None
    member_id: str | None
    group_number: str | None
    group_name: str | None
    rejections: tuple[Rejection, ...]
    benefits: tuple[Benefit, ...]
    dates: tuple[BenefitDate, ...]

    @property
    def rejected(self) -> bool:
        return bool(self.rejections)

    @property
    def plan_name(self) -> str | None:
        return next((b.plan_description for b in self.benefits if b.code in ACTIVE_CODES and b.plan_description),
                    None)  # fmt: skip

    def __repr__(self) -> str:
        reasons = tuple(r.reason for r in self.rejections)
        return f"EligibilityResponse(level={self.level!r}, benefits={len(self.benefits)}, rejections={reasons!r})"


@dataclass(frozen=True)
class EligibilitySummary:
    """For one service type and network: ``active`` True/False, or None when the payer rejected the inquiry or
    said nothing about coverage. ``coinsurance_percent`` is 0-100 (EB08 0.2 gives 20)."""

    active: bool | None
    copay: Decimal | None
    deductible: Decimal | None
    deductible_remaining: Decimal | None
    coinsurance_percent: Decimal | None
    out_of_pocket: Decimal | None
    reject_reasons: tuple[str, ...] = ()


# --- reading ---------------------------------------------------------------------------------------------------
def _el(seg: list[str], i: int) -> str | None:
    return (seg[i] if i < len(seg) else "") or None


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:  # pyx12 checked the R type; this guards the parser itself
        return None


def _money(value: str | None) -> Decimal | None:
    amount = _decimal(value)
    return amount.quantize(Decimal("0.01")) if amount is not None else None


def _dtp(seg: list[str]) -> BenefitDate | None:
    form, value = _el(seg, 2), _el(seg, 3) or ""
    try:
        if form == "RD8":
            start, _, end = value.partition("-")
            return BenefitDate(
                seg[1], datetime.strptime(start, "%Y%m%d").date(), datetime.strptime(end, "%Y%m%d").date()
            )
        return BenefitDate(seg[1], datetime.strptime(value, "%Y%m%d").date())
    except ValueError:
        return None


def _aaa(seg: list[str], loop: str) -> Rejection:
    return Rejection(loop=loop, reason=_el(seg, 3) or "", follow_up=_el(seg, 4) or "", valid_request=_el(seg, 1) == "Y")


@dataclass
class _Member:
    level: Literal["subscriber", "dependent"]
    inherited: tuple[Rejection, ...]
    payer_id: str | None
    provider_npi: str | None
    trace: str | None = None
    payer_trace: str | None = None
    member_id: str | None = None
    group_number: str | None = None
    group_name: str | None = None
    rejections: list[Rejection] = field(default_factory=list)
    benefits: list[Benefit] = field(default_factory=list)
    dates: list[BenefitDate] = field(default_factory=list)
    benefit: dict[str, object] | None = None  # the EB being read, with its dates and rejections

    def close_benefit(self) -> None:
        if self.benefit is not None:
            eb = self.benefit
            self.benefits.append(Benefit(**eb))  # type: ignore[arg-type]
            self.benefit = None

    def freeze(self) -> EligibilityResponse:
        self.close_benefit()
        return EligibilityResponse(
            level=self.level, trace_number=self.trace, payer_trace=self.payer_trace, payer_id=self.payer_id,
            provider_npi=self.provider_npi, member_id=self.member_id, group_number=self.group_number,
            group_name=self.group_name, rejections=self.inherited + tuple(self.rejections),
            benefits=tuple(self.benefits), dates=tuple(self.dates),
        )  # fmt: skip


def _decode(data: bytes | str) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise EligibilityFileRejected("271 file is not ASCII text") from None
    return data.lstrip("\ufeff \t\r\n")


def parse_271(data: bytes | str) -> list[EligibilityResponse]:
    """Validate one 271 interchange with pyx12 and read its answers, in file order."""
    text = _decode(data)
    if len(text) < ISA_LENGTH or not text.startswith("ISA"):
        raise EligibilityFileRejected("271 file does not start with a complete ISA segment")
    report = validate_eligibility(text, kind="271")
    if not report.valid:
        raise EligibilityFileRejected("271 file failed X12 validation", report)
    element, terminator = text[3], text[105]
    repetition = text[82]
    responses: list[EligibilityResponse] = []
    upper: dict[str, list[Rejection]] = {"20": [], "21": []}  # AAA of the payer and provider levels above
    payer_id: str | None = None
    provider_npi: str | None = None
    level: str | None = None  # HL03 of the loop being read
    member: _Member | None = None
    subscriber_rejections: tuple[Rejection, ...] = ()

    def close() -> None:
        nonlocal member
        if member is not None:
            responses.append(member.freeze())
        member = None

    for raw in text.split(terminator):
        seg = raw.strip("\r\n").split(element)
        sid = seg[0]
        if sid == "HL":
            close()
            level = _el(seg, 3)
            if level == "20":
                upper = {"20": [], "21": []}
            elif level == "21":
                upper["21"] = []
            elif level in ("22", "23"):
                inherited = tuple(upper["20"] + upper["21"])
                if level == "22":
                    subscriber_rejections = ()
                else:
                    inherited += subscriber_rejections
                member = _Member("subscriber" if level == "22" else "dependent", inherited, payer_id, provider_npi)
        elif sid == "NM1" and level == "20":
            payer_id = _el(seg, 9)
        elif sid == "NM1" and level == "21":
            provider_npi = _el(seg, 9) if _el(seg, 8) == "XX" else None
        elif sid == "AAA" and level in ("20", "21"):
            upper[level].append(_aaa(seg, "2000A" if level == "20" else "2100B"))
        elif member is None:
            continue
        elif sid == "TRN":
            if _el(seg, 1) == "2":
                member.trace = _el(seg, 2)
            else:
                member.payer_trace = _el(seg, 2)
        elif sid == "NM1" and _el(seg, 1) in ("IL", "03"):
            member.member_id = _el(seg, 9) if _el(seg, 1) == "IL" else None
        elif sid == "REF" and member.benefit is None and _el(seg, 1) == "6P":
            member.group_number, member.group_name = _el(seg, 2), _el(seg, 3)
        elif sid == "AAA":
            loop = ("2110" if member.benefit is not None else "2100") + ("C" if level == "22" else "D")
            rejection = _aaa(seg, loop)
            if member.benefit is not None:
                member.benefit["rejections"] = (*member.benefit["rejections"], rejection)  # type: ignore[misc]
            else:
                member.rejections.append(rejection)
                if level == "22":
                    subscriber_rejections = (*subscriber_rejections, rejection)
        elif sid == "DTP":
            when = _dtp(seg)
            if when is not None and member.benefit is not None:
                member.benefit["dates"] = (*member.benefit["dates"], when)  # type: ignore[misc]
            elif when is not None:
                member.dates.append(when)
        elif sid == "EB":
            member.close_benefit()
            types = _el(seg, 3)
            member.benefit = {
                "code": seg[1],
                "coverage_level": _el(seg, 2),
                "service_types": tuple(types.split(repetition)) if types else (),
                "insurance_type": _el(seg, 4),
                "plan_description": _el(seg, 5),
                "time_period": _el(seg, 6),
                "amount": _money(_el(seg, 7)),
                "percent": _decimal(_el(seg, 8)),
                "quantity_qualifier": _el(seg, 9),
                "quantity": _decimal(_el(seg, 10)),
                "authorization_required": _el(seg, 11),
                "network": _el(seg, 12),
                "dates": (),
                "rejections": (),
            }
        elif sid in ("LS", "NM1", "N3", "N4", "PER", "PRV", "LE", "MSG", "HSD") and member.benefit is not None:
            continue  # 2120C related entities and free text are not kept
    close()
    if level is None:
        raise EligibilityFileRejected("271 file holds no hierarchical levels")
    return responses


# --- summary and matching ------------------------------------------------------------------------------------------
def _pick(benefits: Iterable[Benefit]) -> Benefit | None:
    """The individual-level benefit if there is one, else the first."""
    chosen = list(benefits)
    return next((b for b in chosen if b.coverage_level in (None, "IND")), chosen[0] if chosen else None)


def summarize(
    response: EligibilityResponse, *, service_type: str = "30", in_network: bool = True
) -> EligibilitySummary:
    """Coverage, copay, deductible (and remaining), coinsurance and out-of-pocket for ``service_type`` in (or out
    of) network. Benefits whose EB12 is W (not applicable) or missing count for both networks."""
    reasons = tuple(r.reason for r in response.rejections)
    relevant = [b for b in response.benefits if b.applies_to(service_type)]
    if response.rejected:
        active: bool | None = None
    elif any(b.code in ACTIVE_CODES for b in relevant):
        active = True
    elif any(b.code in INACTIVE_CODES for b in relevant):
        active = False
    else:
        active = None
    wanted = "Y" if in_network else "N"
    network = [b for b in relevant if b.network in (wanted, "W", None)]
    exact = [b for b in network if b.network == wanted]

    def first(code: str, *, remaining: bool | None = None, percent: bool = False) -> Decimal | None:
        for pool in (exact, network):
            matches = [b for b in pool if b.code == code and (b.percent if percent else b.amount) is not None
                       and (remaining is None or (b.time_period == REMAINING) == remaining)]  # fmt: skip
            chosen = _pick(matches)
            if chosen is not None:
                return chosen.percent if percent else chosen.amount
        return None

    coinsurance = first("A", percent=True)
    return EligibilitySummary(
        active=active,
        copay=first("B"),
        deductible=first("C", remaining=False),
        deductible_remaining=first("C", remaining=True),
        coinsurance_percent=(coinsurance * 100).quantize(Decimal("0.01")) if coinsurance is not None else None,
        out_of_pocket=first("G", remaining=False),
        reject_reasons=reasons,
    )


def match_responses(
    traces: Iterable[str], responses: Iterable[EligibilityResponse]
) -> Mapping[str, EligibilityResponse]:
    """Each trace number we sent with the response that echoes it (TRN*2); traces left unanswered are absent.
    A trace answered twice keeps its first answer."""
    wanted = set(traces)
    matched: dict[str, EligibilityResponse] = {}
    for response in responses:
        if response.trace_number in wanted and response.trace_number not in matched:
            matched[response.trace_number] = response
    return matched
