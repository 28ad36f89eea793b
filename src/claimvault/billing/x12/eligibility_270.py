"""The 270 eligibility inquiry writer (005010X279A1): ``EligibilityRequest``s in, one validated interchange out.

Loops: 2000A/2100A per payer (information source), 2000B/2100B per provider (information receiver, NPI), 2000C/2100C
per subscriber with a TRN trace number, one 2110C EQ per service type, and 2000D/2100D when the patient is a
dependent (the trace and the inquiry then sit on 2000D, as the guide asks). Every file passes the pyx12 gate
(``eligibility_maps.validate_eligibility``) before it is returned; a failing one raises ``ReleaseRefused``.
Errors name fields, never values; reprs carry no identifiers or names.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Literal, cast

from claimvault.billing.x12.eligibility_maps import FUNCTIONAL_ID, IMPLEMENTATION, Kind, validate_eligibility
from claimvault.billing.x12.envelope import (
    ControlNumbers,
    SegmentList,
    TradingPartner,
    X12ContentError,
    d8,
)
from claimvault.billing.x12.envelope import ValueRules as EnvelopeValueRules
from claimvault.billing.x12.validation import ReleaseRefused

DEFAULT_SERVICE_TYPES = ("30",)  # health benefit plan coverage
MAX_SERVICE_TYPES = 99  # loop 2110C/2110D repeat
MAX_MEMBERS_PER_RECEIVER = 99  # 2000C loops under one 2000B, as the guide recommends for batch inquiries
DEFAULT_ORIGINATOR = "9CLAIMVALT"  # TRN03: "9" + a 9-character originating company identifier


@dataclass(frozen=True, repr=False)
class EligibilityPerson:
    """A subscriber or dependent as the inquiry names them. ``member_id`` is required for a subscriber and not sent
    for a dependent (005010X279A1 carries no dependent identifier: a member with their own id is a subscriber)."""

    family_name: str
    given_name: str | None = None
    middle_name: str | None = None
    member_id: str | None = None
    birth_date: date | None = None
    sex: Literal["F", "M", "U"] | None = None

    def __repr__(self) -> str:
        return "EligibilityPerson(...)"


@dataclass(frozen=True, repr=False)
class EligibilityRequest:
    """One 270 inquiry: who is asked (payer), who asks (provider NPI), about whom, for which service types.

    ``trace_number`` (TRN02) comes back in the 271 and matches the answer to this request: unique per file."""

    trace_number: str
    payer_id: str
    payer_name: str
    provider_npi: str
    provider_name: str
    subscriber: EligibilityPerson
    service_date: date
    dependent: EligibilityPerson | None = None
    service_types: tuple[str, ...] = field(default=DEFAULT_SERVICE_TYPES)

    def __repr__(self) -> str:
        return f"EligibilityRequest(service_types={self.service_types!r}, dependent={self.dependent is not None})"


def new_trace_number() -> str:
    """A random trace number (32 hex characters) that says nothing about the patient."""
    return uuid.uuid4().hex.upper()


class ValueRules(EnvelopeValueRules):
    """The shared value rules plus the 270/271 segments built from them."""

    def person_name(self, s: SegmentList, code: str, person: EligibilityPerson, *, field: str,
                    member_id: bool) -> None:  # fmt: skip
        ident = self.ident(person.member_id, field=f"{field}.member_id", min_len=2, max_len=80) if member_id else ""
        s.add(
            "NM1",
            code,
            "1",
            self.text(person.family_name, field=f"{field}.family_name", max_len=60),
            self.text(person.given_name, field=f"{field}.given_name", max_len=35, required=False),
            self.text(person.middle_name, field=f"{field}.middle_name", max_len=25, required=False),
            "",
            "",
            "MI" if ident else "",
            ident,
        )

    def demographics(self, s: SegmentList, person: EligibilityPerson, *, field: str) -> None:
        if person.sex is not None and person.sex not in ("F", "M", "U"):
            raise X12ContentError(f"{field}.sex", "must be F, M or U")
        if person.birth_date is not None:
            s.add("DMG", "D8", d8(person.birth_date), person.sex)

    def service_type(self, code: str, *, field: str) -> str:
        return self.ident(code, field=field, max_len=2, pattern=r"[0-9A-Z]{1,2}")


def _member(rules: ValueRules, s: SegmentList, hl: int, parent: int, request: EligibilityRequest,
            originator: str) -> int:  # fmt: skip
    """2000C (and 2000D): returns the last HL number used."""
    dependent = request.dependent
    trace = rules.ident(request.trace_number, field="trace_number", max_len=50)
    types = request.service_types
    if not types or len(types) > MAX_SERVICE_TYPES:
        raise X12ContentError("service_types", f"1 to {MAX_SERVICE_TYPES} service types are required")
    codes = [rules.service_type(t, field=f"service_types[{i}]") for i, t in enumerate(types)]

    def inquiry(person: EligibilityPerson, field: str) -> None:
        rules.demographics(s, person, field=field)
        s.add("DTP", "291", "D8", d8(request.service_date))
        for code in codes:
            s.add("EQ", code)

    s.add("HL", str(hl), str(parent), "22", "1" if dependent else "0")
    if dependent is None:
        s.add("TRN", "1", trace, originator)
    rules.person_name(s, "IL", request.subscriber, field="subscriber", member_id=True)
    if dependent is None:
        inquiry(request.subscriber, "subscriber")
        return hl
    rules.demographics(s, request.subscriber, field="subscriber")
    s.add("HL", str(hl + 1), str(hl), "23", "0")
    s.add("TRN", "1", trace, originator)
    rules.person_name(s, "03", dependent, field="dependent", member_id=False)
    inquiry(dependent, "dependent")
    return hl + 1


def _body(rules: ValueRules, requests: Sequence[EligibilityRequest], originator: str) -> list[str]:
    """2000A through the last 2110C/D. Requests are grouped by payer, then provider, in first-seen order."""
    s = SegmentList(rules.d)
    by_payer: dict[str, dict[str, list[EligibilityRequest]]] = {}
    for request in requests:
        by_payer.setdefault(request.payer_id, {}).setdefault(request.provider_npi, []).append(request)
    hl = 0
    for payer_id, providers in by_payer.items():
        first = next(iter(providers.values()))[0]
        hl += 1
        source = hl
        s.add("HL", str(hl), "", "20", "1")
        s.add("NM1", "PR", "2", rules.text(first.payer_name, field="payer_name", max_len=60), "", "", "", "", "PI",
              rules.ident(payer_id, field="payer_id", min_len=2, max_len=80))  # fmt: skip
        for npi, members in providers.items():
            for start in range(0, len(members), MAX_MEMBERS_PER_RECEIVER):
                hl += 1
                receiver = hl
                s.add("HL", str(hl), str(source), "21", "1")
                s.add("NM1", "1P", "2", rules.text(members[0].provider_name, field="provider_name", max_len=60),
                      "", "", "", "", "XX", rules.npi(npi, field="provider_npi"))  # fmt: skip
                for request in members[start : start + MAX_MEMBERS_PER_RECEIVER]:
                    hl = _member(rules, s, hl + 1, receiver, request, originator)
    return s.items


def interchange(
    *, partner: TradingPartner, kind: Kind, body: list[str], numbers: ControlNumbers, created: datetime,
    purpose: str, reference: str | None = None,
) -> str:  # fmt: skip
    """One ISA/GS/ST envelope around one transaction ``body`` (the segments after BHT). Control numbers are drawn
    here, so call it only once the body has been written. ``purpose`` is BHT02 (13 request, 11 response)."""
    d = partner.delimiters
    e, t = d.element, d.segment
    key = partner.key
    isa_number = numbers.next_interchange(partner=key)
    group_number = numbers.next_group(partner=key)
    st = f"{numbers.next_transaction(partner=key):04d}"
    bht_ref = reference or f"{isa_number:09d}{st}"
    segments = [
        f"ST{e}{kind}{e}{st}{e}{IMPLEMENTATION}{t}",
        f"BHT{e}0022{e}{purpose}{e}{bht_ref}{e}{created:%Y%m%d}{e}{created:%H%M%S}{t}",
        *body,
        f"SE{e}{len(body) + 3}{e}{st}{t}",
    ]
    isa = e.join((
        "ISA", "00", " " * 10, "00", " " * 10, partner.isa_sender_qualifier, partner.isa_sender_id.ljust(15),
        partner.isa_receiver_qualifier, partner.isa_receiver_id.ljust(15), f"{created:%y%m%d}", f"{created:%H%M}",
        d.repetition, "00501", f"{isa_number:09d}", "1" if partner.acknowledgment_requested else "0", partner.usage,
        d.component,
    ))  # fmt: skip
    gs = e.join(("GS", FUNCTIONAL_ID[kind], partner.gs_sender_code, partner.gs_receiver_code, f"{created:%Y%m%d}",
                 f"{created:%H%M}", str(group_number), "X", IMPLEMENTATION))  # fmt: skip
    return "".join([isa + t, gs + t, *segments, f"GE{e}1{e}{group_number}{t}", f"IEA{e}1{e}{isa_number:09d}{t}"])


def release(text: str, *, kind: Kind) -> bytes:
    """The interchange as bytes, only if pyx12 finds no error; otherwise ``ReleaseRefused`` with the report."""
    report = validate_eligibility(text, kind=kind)
    if not report.valid:
        raise ReleaseRefused(report)
    return text.encode("ascii")


def write_270(
    requests: Sequence[EligibilityRequest],
    partner: TradingPartner,
    control_numbers: ControlNumbers,
    *,
    created: datetime | None = None,
    originator: str = DEFAULT_ORIGINATOR,
) -> bytes:
    """One validated 270 interchange asking every request given. Raises ``X12ContentError`` (naming the request's
    index and the field) for a request that cannot be written, before any control number is drawn, and
    ``ReleaseRefused`` if the file fails pyx12."""
    if not requests:
        raise X12ContentError("requests", "at least one request is required")
    traces = [r.trace_number for r in requests]
    if len(set(traces)) != len(traces):
        raise X12ContentError("requests", "trace numbers must be unique within a file")
    rules = ValueRules(partner.delimiters)
    originator = rules.ident(originator, field="originator", min_len=10, max_len=10, pattern=r"[0-9A-Z]{10}")
    for i, request in enumerate(requests):
        try:
            _body(rules, [request], originator)  # check each request alone, so errors name it
        except X12ContentError as exc:
            raise X12ContentError(f"requests[{i}].{exc.field}", exc.problem) from None
    body = _body(rules, requests, originator)
    text = interchange(partner=partner, kind="270", body=body, numbers=control_numbers,
                       created=created or datetime.now(UTC), purpose="13")  # fmt: skip
    return release(text, kind="270")


@dataclass
class _Read:
    trace: str = ""
    subscriber: EligibilityPerson | None = None
    dependent: EligibilityPerson | None = None
    service_date: date | None = None
    types: list[str] = field(default_factory=list)


def _read_person(seg: list[str]) -> EligibilityPerson:
    def at(i: int) -> str | None:
        return (seg[i] if i < len(seg) else "") or None

    return EligibilityPerson(family_name=at(3) or "", given_name=at(4), middle_name=at(5), member_id=at(9))


def read_270(data: bytes) -> list[EligibilityRequest]:
    """The requests of a 270 (what a fake clearinghouse answers), after the pyx12 gate: ``ReleaseRefused`` for an
    invalid file. Reads back what ``write_270`` sends; names come back as written (upper case, cleaned)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise X12ContentError("270", "is not ASCII text") from None
    release(text, kind="270")
    e, t = text[3], text[105]
    requests: list[EligibilityRequest] = []
    payer, provider = ("", ""), ("", "")
    current = _Read()

    def close() -> None:
        nonlocal current
        if current.trace and current.subscriber is not None and current.service_date is not None:
            requests.append(EligibilityRequest(
                trace_number=current.trace, payer_id=payer[0], payer_name=payer[1], provider_npi=provider[0],
                provider_name=provider[1], subscriber=current.subscriber, dependent=current.dependent,
                service_date=current.service_date, service_types=tuple(current.types),
            ))  # fmt: skip
        current = _Read()

    for raw in text.split(t):
        seg = raw.strip("\r\n").split(e)
        sid, first = seg[0], seg[1] if len(seg) > 1 else ""
        if sid in ("HL", "SE") and (sid == "SE" or seg[3] != "23"):
            close()
        elif sid == "NM1" and first in ("PR", "1P"):
            payer, provider = ((seg[9], seg[3]), provider) if first == "PR" else (payer, (seg[9], seg[3]))
        elif sid == "TRN":
            current.trace = seg[2]
        elif sid == "NM1" and first == "IL":
            current.subscriber = _read_person(seg)
        elif sid == "NM1" and first == "03":
            current.dependent = _read_person(seg)
        elif sid == "DMG":
            born = datetime.strptime(seg[2], "%Y%m%d").date()
            sex = cast(Literal["F", "M", "U"] | None, seg[3] if len(seg) > 3 and seg[3] else None)
            if current.dependent is not None:
                current.dependent = replace(current.dependent, birth_date=born, sex=sex)
            elif current.subscriber is not None:
                current.subscriber = replace(current.subscriber, birth_date=born, sex=sex)
        elif sid == "DTP" and first == "291":
            current.service_date = datetime.strptime(seg[3][:8], "%Y%m%d").date()
        elif sid == "EQ":
            current.types.append(first)
    return requests
