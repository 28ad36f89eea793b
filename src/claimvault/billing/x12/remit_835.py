"""The 835 (005010X221A1) remittance reader: ``parse_835(data)`` validates an inbound interchange with pyx12 and only
then reads it into plain values (payment, payer, payee, claim payments with their service lines and CAS
adjustments, remark codes and PLB provider adjustments), plus value-free balancing checks and the
``(payer id, TRN02)`` key that makes an import idempotent. Nothing here touches a database.

Every money amount is a ``Decimal`` exactly as written in the file. The values carry PHI (names, member ids) and
financial data: reprs show counts and codes only, and errors name segment positions and X12 error codes, never
values. Bank routing and account numbers (BPR07-BPR15) are not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NoReturn

from claimvault.billing.x12.validation import X12Issue, X12Report, validate_x12
from claimvault.errors import ValidationFailed

IMPLEMENTATION = "005010X221A1"
ISA_LENGTH = 106
ZERO = Decimal("0")
# Segment ids of the 835 map, used to name a segment in an error by its position (the value is never echoed).
_IDS = "ISA GS ST BPR TRN CUR REF DTM N1 N3 N4 PER RDM LX TS3 TS2 CLP CAS NM1 MIA MOA AMT QTY SVC LQ PLB SE GE IEA TA1"
SEGMENT_IDS_835 = frozenset(_IDS.split(" "))
REVERSAL = "22"  # CLP02: reversal of previous payment
DENIED = "4"  # CLP02: denied


class RemittanceRejected(ValidationFailed):
    """An inbound 835 that cannot be read or fails validation; nothing in it may be posted. ``report`` lists the
    problems by segment id, position and X12 error code (never a value)."""

    code = "x12_835_rejected"

    def __init__(self, message: str, *, report: X12Report | None = None) -> None:
        self.report = report or X12Report()
        details: list[dict[str, object]] = [
            {"level": i.level, "code": i.code, "segment": i.segment_id, "line": i.line, "element": i.element_position}
            for i in self.report.issues[:50]
        ]
        super().__init__(f"{message}: {self.report.summary()}" if report is not None else message, details=details)


@dataclass(frozen=True, repr=False)
class Adjustment:
    """One CAS triplet: group (CO contractual, PR patient responsibility, OA other, PI payer initiated), CARC
    reason code, amount (positive reduces payment) and optional quantity."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None

    def __repr__(self) -> str:
        return f"Adjustment(group={self.group!r}, reason={self.reason!r})"


@dataclass(frozen=True, repr=False)
class Procedure:
    """An SVC01/SVC06 composite: qualifier (HC, AD, NU, N4...), code, up to four modifiers, description (SVC06-07)."""

    qualifier: str
    code: str
    modifiers: tuple[str, ...] = ()
    description: str | None = None

    def __repr__(self) -> str:
        return f"Procedure(qualifier={self.qualifier!r}, modifiers={len(self.modifiers)})"


@dataclass(frozen=True, repr=False)
class PersonName:
    """An NM1 of loop 2100: QC patient, IL insured, 74 corrected patient/insured. PHI."""

    entity: str
    entity_type: str
    last: str | None = None
    first: str | None = None
    middle: str | None = None
    suffix: str | None = None
    id_qualifier: str | None = None
    identifier: str | None = None

    def __repr__(self) -> str:
        return f"PersonName(entity={self.entity!r})"


@dataclass(frozen=True, repr=False)
class ServiceLinePayment:
    """Loop 2110: one adjudicated service line. ``submitted`` (SVC06) is the procedure as billed when the payer
    adjudicated a different one (``procedure``, SVC01)."""

    procedure: Procedure
    charge: Decimal  # SVC02
    paid: Decimal  # SVC03
    revenue_code: str | None = None  # SVC04
    units: Decimal | None = None  # SVC05 (absent means 1)
    submitted: Procedure | None = None  # SVC06
    submitted_units: Decimal | None = None  # SVC07
    service_date: date | None = None  # DTM*472
    service_start: date | None = None  # DTM*150
    service_end: date | None = None  # DTM*151
    adjustments: tuple[Adjustment, ...] = ()
    control_number: str | None = None  # REF*6R: the line item control number we sent
    references: tuple[tuple[str, str], ...] = ()  # other REF (qualifier, value)
    amounts: tuple[tuple[str, Decimal], ...] = ()  # AMT (qualifier, amount): B6 allowed, KH late filing...
    remark_codes: tuple[str, ...] = ()  # LQ*HE (RARC)
    pharmacy_reject_codes: tuple[str, ...] = ()  # LQ*RX

    @property
    def adjusted(self) -> Decimal:
        return sum((a.amount for a in self.adjustments), ZERO)

    @property
    def allowed(self) -> Decimal | None:
        return next((amount for qualifier, amount in self.amounts if qualifier == "B6"), None)

    def __repr__(self) -> str:
        return f"ServiceLinePayment(adjustments={len(self.adjustments)}, remarks={len(self.remark_codes)})"


@dataclass(frozen=True, repr=False)
class ClaimPayment:
    """Loop 2100: one claim as the payer adjudicated it (CLP, names, CAS, MIA/MOA remarks, dates, lines)."""

    patient_control_number: str  # CLP01 = the CLM01 we sent
    status: str  # CLP02: 1 primary, 2 secondary, 3 tertiary, 4 denied, 19-23, 25
    charge: Decimal  # CLP03
    paid: Decimal  # CLP04
    patient_responsibility: Decimal | None  # CLP05
    filing_indicator: str  # CLP06
    payer_claim_control_number: str  # CLP07
    facility_type: str | None = None  # CLP08 (place of service / facility type)
    frequency: str | None = None  # CLP09
    patient: PersonName | None = None  # NM1*QC
    subscriber: PersonName | None = None  # NM1*IL
    corrected: PersonName | None = None  # NM1*74
    adjustments: tuple[Adjustment, ...] = ()  # claim-level CAS
    outpatient_remarks: tuple[str, ...] = ()  # MOA03-MOA07
    inpatient_remarks: tuple[str, ...] = ()  # MIA05, MIA20-MIA23
    statement_from: date | None = None  # DTM*232
    statement_to: date | None = None  # DTM*233
    received: date | None = None  # DTM*050
    coverage_expiration: date | None = None  # DTM*036
    references: tuple[tuple[str, str], ...] = ()  # REF (qualifier, value)
    amounts: tuple[tuple[str, Decimal], ...] = ()  # AMT (qualifier, amount): AU coverage, I interest...
    lines: tuple[ServiceLinePayment, ...] = ()

    @property
    def remark_codes(self) -> tuple[str, ...]:
        return self.outpatient_remarks + self.inpatient_remarks

    @property
    def is_reversal(self) -> bool:
        return self.status == REVERSAL

    @property
    def is_denial(self) -> bool:
        return self.status == DENIED

    @property
    def adjusted(self) -> Decimal:
        """Claim-level plus line-level adjustments."""
        return sum((a.amount for a in self.adjustments), ZERO) + sum((ln.adjusted for ln in self.lines), ZERO)

    def __repr__(self) -> str:
        return f"ClaimPayment(status={self.status!r}, lines={len(self.lines)}, adjustments={len(self.adjustments)})"


@dataclass(frozen=True, repr=False)
class ProviderAdjustment:
    """One PLB adjustment: provider id (PLB01), fiscal period date (PLB02), reason (WO, L6, FB, 72...), reference
    (e.g. the payer claim control number being recouped) and amount (positive reduces the payment)."""

    provider_id: str
    fiscal_period: date
    reason: str
    reference: str | None
    amount: Decimal

    def __repr__(self) -> str:
        return f"ProviderAdjustment(reason={self.reason!r})"


@dataclass(frozen=True, repr=False)
class RemittanceKey:
    """What makes a payment unique across files: the payer's id and its check or EFT trace number (TRN02).
    Import the same key twice and the second is a duplicate."""

    payer_id: str
    trace_number: str

    def __repr__(self) -> str:
        return "RemittanceKey(...)"


@dataclass(frozen=True, repr=False)
class Remittance:
    """One 835 transaction set (ST/SE): one payment or advice from one payer to one payee. Values are PHI and
    financial data."""

    interchange_control: str  # ISA13
    group_control: str  # GS06
    transaction_control: str  # ST02
    sender_id: str  # ISA06 (trimmed)
    receiver_id: str  # ISA08 (trimmed)
    created: date  # GS04
    handling_code: str  # BPR01: I remittance with payment, H advice only, C payment with remittance...
    payment_amount: Decimal  # BPR02
    credit_debit: str  # BPR03
    payment_method: str  # BPR04: ACH, CHK, BOP, FWT, NON
    payment_date: date  # BPR16: check issue or EFT effective date
    trace_number: str  # TRN02: check or EFT trace number
    originating_company_id: str  # TRN03
    payer_name: str  # N1*PR N102
    payee_name: str  # N1*PE N102
    payee_id_qualifier: str  # N1*PE N103: XX NPI, FI tax id, XV
    payee_identifier: str  # N1*PE N104
    payment_format: str | None = None  # BPR05: CCP, CTX
    originating_company_supplemental: str | None = None  # TRN04
    production_date: date | None = None  # DTM*405
    payer_id_qualifier: str | None = None  # N1*PR N103
    payer_identifier: str | None = None  # N1*PR N104
    payer_references: tuple[tuple[str, str], ...] = ()  # REF 2U, EO, HI, NF (qualifier, value)
    payee_references: tuple[tuple[str, str], ...] = ()  # REF TJ, PQ, 0B, D3 (qualifier, value)
    claims: tuple[ClaimPayment, ...] = ()
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()

    @property
    def payer_id(self) -> str:
        """REF*2U when given, else N104 of N1*PR, else TRN03 (the payer's originating company id)."""
        ref = next((v for q, v in self.payer_references if q == "2U"), None)
        return ref or self.payer_identifier or self.originating_company_id

    @property
    def key(self) -> RemittanceKey:
        return RemittanceKey(self.payer_id, self.trace_number)

    @property
    def payee_npi(self) -> str | None:
        return self.payee_identifier if self.payee_id_qualifier == "XX" else None

    @property
    def payee_tax_id(self) -> str | None:
        if self.payee_id_qualifier == "FI":
            return self.payee_identifier
        return next((v for q, v in self.payee_references if q == "TJ"), None)

    def __repr__(self) -> str:
        return (
            f"Remittance(method={self.payment_method!r}, claims={len(self.claims)}, "
            f"provider_adjustments={len(self.provider_adjustments)})"
        )


# --- balancing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceProblem:
    """An amount that does not add up, by position (0-based claim and line index in ``Remittance.claims``)."""

    rule: Literal["line", "claim", "payment"]
    claim_index: int | None = None
    line_index: int | None = None

    def describe(self) -> str:
        if self.rule == "line":
            return f"claim {self.claim_index} line {self.line_index}: SVC02 != SVC03 + line adjustments"
        if self.rule == "claim":
            return f"claim {self.claim_index}: CLP03 != CLP04 + claim and line adjustments"
        return "payment: BPR02 != sum of CLP04 - sum of PLB amounts"


def line_balanced(line: ServiceLinePayment) -> bool:
    """SVC02 (charge) = SVC03 (paid) + the line's CAS amounts."""
    return line.charge == line.paid + line.adjusted


def claim_balanced(claim: ClaimPayment) -> bool:
    """CLP03 (charge) = CLP04 (paid) + claim CAS + every line's CAS."""
    return claim.charge == claim.paid + claim.adjusted


def payment_total(claims: Iterable[ClaimPayment], adjustments: Iterable[ProviderAdjustment]) -> Decimal:
    """What BPR02 must be: the claims' CLP04 minus the PLB amounts."""
    return sum((c.paid for c in claims), ZERO) - sum((a.amount for a in adjustments), ZERO)


def payment_balanced(remittance: Remittance) -> bool:
    """BPR02 = sum of CLP04 - sum of PLB amounts."""
    return remittance.payment_amount == payment_total(remittance.claims, remittance.provider_adjustments)


def balance_problems(remittance: Remittance) -> tuple[BalanceProblem, ...]:
    """Every line, claim and payment balance that fails, by position only."""
    problems: list[BalanceProblem] = []
    for ci, claim in enumerate(remittance.claims):
        problems += [BalanceProblem("line", ci, li) for li, line in enumerate(claim.lines) if not line_balanced(line)]
        if not claim_balanced(claim):
            problems.append(BalanceProblem("claim", ci))
    if not payment_balanced(remittance):
        problems.append(BalanceProblem("payment"))
    return tuple(problems)


# --- reading ---------------------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RemittanceRejected("835 file is not text") from None
    return text.lstrip("\ufeff")


def _split(text: str) -> list[list[str]]:
    """Segments as element lists, by the delimiters of a fixed-length ISA; [] when there is none."""
    if len(text) < ISA_LENGTH or not text.startswith("ISA"):
        return []
    element, terminator = text[3], text[105]
    return [raw.strip().split(element) for raw in text.split(terminator) if raw.strip()]


def _envelope_issues(segments: list[list[str]]) -> list[X12Issue]:
    """GS01/GS08 and ST01/ST03 must name the 835 X221A1. ST03 is required by the guide but pyx12's map marks it
    unused, so it is checked here (absent or right) and pyx12's finding about it is dropped (``_map_quirk``)."""
    rules = {"GS": ((1, ("HP",)), (8, (IMPLEMENTATION,))), "ST": ((1, ("835",)), (3, ("", IMPLEMENTATION)))}
    issues = []
    for line, seg in enumerate(segments, start=1):
        for pos, allowed in rules.get(seg[0], ()):
            value = seg[pos].strip() if pos < len(seg) else ""
            if value not in allowed:
                issues.append(X12Issue("element", "7" if value else "1", seg[0], line=line, element_position=pos))
    return issues


def _map_quirk(issue: X12Issue) -> bool:
    """Findings of pyx12's 835 map that contradict the guide: ST03 (required by the guide) marked unused, and a
    second PLB (the guide allows any number) counted as a second footer loop."""
    st03 = issue.segment_id == "ST" and issue.element_position == 3 and issue.code == "10"
    plb = issue.segment_id == "PLB" and issue.level == "segment" and issue.code == "4"
    return st03 or plb


def validate_835(data: bytes) -> X12Report:
    """pyx12 validation against the 835 map plus the envelope rules of ``validate_x12`` and the 835 identifiers
    (``_envelope_issues``). The report lists problems by segment id, position and code, never by value."""
    text = _decode(data)
    segments = _split(text)
    ids = {line: seg[0] for line, seg in enumerate(segments, start=1) if seg[0] in SEGMENT_IDS_835}
    issues = [
        replace(i, segment_id=ids[i.line]) if i.segment_id is None and i.line in ids else i
        for i in validate_x12(text).issues
    ]
    return X12Report(tuple(_envelope_issues(segments) + [i for i in issues if not _map_quirk(i)]))


def parse_835_all(data: bytes) -> tuple[Remittance, ...]:
    """Every transaction set of a valid 835 interchange, in file order. Raises ``RemittanceRejected`` (positions
    and codes, no values) when the file fails validation; nothing is returned from a bad file."""
    report = validate_835(data)
    if not report.valid:
        raise RemittanceRejected("835 file failed X12 validation", report=report)
    return tuple(_Reader(_decode(data)).read())


def parse_835(data: bytes) -> Remittance:
    """The one transaction set of a valid 835 file (see ``parse_835_all`` for files with several payments)."""
    remittances = parse_835_all(data)
    if len(remittances) != 1:
        raise RemittanceRejected("835 file holds more than one transaction set; read it with parse_835_all")
    return remittances[0]


_LINE_DATES = {"472": "service_date", "150": "service_start", "151": "service_end"}
_CLAIM_DATES = {"232": "statement_from", "233": "statement_to", "050": "received", "036": "coverage_expiration"}


class _Reader:
    """Walks the segments of a validated interchange (pyx12 has checked loops, usage and codes)."""

    def __init__(self, text: str) -> None:
        self.element, self.component, self.terminator = text[3], text[104], text[105]
        self.segments = [s.strip("\r\n").split(self.element) for s in text.split(self.terminator) if s.strip()]
        self.line = 0
        self.seg: list[str] = []

    # element access, with errors that name positions only
    def fail(self, message: str, i: int, code: str) -> NoReturn:
        issue = X12Issue("element", code, self.seg[0], line=self.line, element_position=i)
        raise RemittanceRejected(f"835 file {message}", report=X12Report((issue,)))

    def opt(self, i: int) -> str | None:
        value = self.seg[i].strip() if i < len(self.seg) else ""
        return value or None

    def req(self, i: int) -> str:
        value = self.opt(i)
        if value is None:
            self.fail("is missing a required element", i, "1")
        return value

    def money(self, i: int) -> Decimal:
        return self._decimal(self.req(i), i)

    def opt_money(self, i: int) -> Decimal | None:
        value = self.opt(i)
        return None if value is None else self._decimal(value, i)

    def _decimal(self, value: str, i: int) -> Decimal:
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            self.fail("has an invalid number", i, "6")
        return number

    def day(self, i: int) -> date:
        value = self.req(i)
        try:
            if len(value) == 8 and value.isdigit():
                return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            pass
        self.fail("has an invalid date", i, "8")

    def procedure(self, i: int) -> Procedure:
        parts = self.req(i).split(self.component)
        part = [p.strip() or None for p in parts] + [None] * 8
        if part[0] is None or part[1] is None:
            self.fail("is missing a required element", i, "1")
        return Procedure(part[0], part[1], tuple(m for m in part[2:6] if m), part[6])

    def adjustments(self) -> list[Adjustment]:
        group = self.req(1)
        out = []
        for i in range(2, min(len(self.seg), 19), 3):
            if self.opt(i) is None:
                continue
            out.append(Adjustment(group, self.req(i), self.money(i + 1), self.opt_money(i + 2)))
        return out

    def name(self) -> PersonName:
        return PersonName(*(self.req(1), self.req(2)), *(self.opt(i) for i in (3, 4, 5, 7, 8, 9)))

    # the walk
    def read(self) -> Iterable[Remittance]:
        isa, gs = [""] * 17, [""] * 9  # replaced by the ISA and GS segments
        rem: dict[str, Any] | None = None
        claim: dict[str, Any] | None = None
        line: dict[str, Any] | None = None
        party: str | None = None  # "PR" or "PE" after the N1 of loop 1000A/1000B

        def close_line() -> None:
            nonlocal line
            if claim is not None and line is not None:
                claim["lines"].append(ServiceLinePayment(**_frozen(line)))
            line = None

        def close_claim() -> None:
            nonlocal claim
            close_line()
            if rem is not None and claim is not None:
                rem["claims"].append(ClaimPayment(**_frozen(claim)))
            claim = None

        for number, segment in enumerate(self.segments, start=1):
            self.line, self.seg = number, segment
            sid = segment[0].strip()
            if sid == "ISA":
                isa = self.seg
            elif sid == "GS":
                gs = self.seg
            elif sid == "ST":
                # fmt: off
                rem = {"interchange_control": isa[13].strip(), "sender_id": isa[6].strip(),
                       "receiver_id": isa[8].strip(), "group_control": gs[6].strip(),
                       "created": datetime.strptime(gs[4].strip(), "%Y%m%d").date(),
                       "transaction_control": self.req(2),
                       **_lists("payer_references", "payee_references", "claims", "provider_adjustments")}
                # fmt: on
                party, claim, line = None, None, None
            elif rem is None:
                continue
            elif sid == "BPR":
                # fmt: off
                rem.update(handling_code=self.req(1), payment_amount=self.money(2), credit_debit=self.req(3),
                           payment_method=self.req(4), payment_format=self.opt(5), payment_date=self.day(16))
                # fmt: on
            elif sid == "TRN":
                trace = {"trace_number": self.req(2), "originating_company_id": self.req(3)}
                rem.update(trace, originating_company_supplemental=self.opt(4))
            elif sid == "N1":
                party = self.req(1)
                if party == "PR":
                    rem.update(payer_name=self.req(2), payer_id_qualifier=self.opt(3), payer_identifier=self.opt(4))
                elif party == "PE":
                    rem.update(payee_name=self.req(2), payee_id_qualifier=self.req(3), payee_identifier=self.req(4))
            elif sid == "LX":
                close_claim()
                party = None
            elif sid == "CLP":
                close_claim()
                # fmt: off
                claim = {"patient_control_number": self.req(1), "status": self.req(2), "charge": self.money(3),
                         "paid": self.money(4), "patient_responsibility": self.opt_money(5),
                         "filing_indicator": self.req(6), "payer_claim_control_number": self.req(7),
                         "facility_type": self.opt(8), "frequency": self.opt(9),
                         **_lists("adjustments", "outpatient_remarks", "inpatient_remarks", "references", "amounts",
                                  "lines")}
                # fmt: on
            elif sid == "SVC" and claim is not None:
                close_line()
                # fmt: off
                line = {"procedure": self.procedure(1), "charge": self.money(2), "paid": self.money(3),
                        "revenue_code": self.opt(4), "units": self.opt_money(5),
                        "submitted": self.procedure(6) if self.opt(6) else None,
                        "submitted_units": self.opt_money(7),
                        **_lists("adjustments", "references", "amounts", "remark_codes", "pharmacy_reject_codes")}
                # fmt: on
            elif sid == "CAS":
                target = line if line is not None else claim
                if target is not None:
                    target["adjustments"] += self.adjustments()
            elif sid == "NM1" and claim is not None:
                role = {"QC": "patient", "IL": "subscriber", "74": "corrected"}.get(self.req(1))
                if role is not None:
                    claim[role] = self.name()
            elif sid == "MOA" and claim is not None:
                claim["outpatient_remarks"] += [v for v in (self.opt(i) for i in range(3, 8)) if v]
            elif sid == "MIA" and claim is not None:
                claim["inpatient_remarks"] += [v for v in (self.opt(i) for i in (5, 20, 21, 22, 23)) if v]
            elif sid == "DTM":
                self._date(rem, claim, line)
            elif sid == "REF":
                pair = (self.req(1), self.req(2))
                if line is not None:
                    if pair[0] == "6R":
                        line["control_number"] = pair[1]
                    else:
                        line["references"].append(pair)
                elif claim is not None:
                    claim["references"].append(pair)
                elif party == "PR":
                    rem["payer_references"].append(pair)
                elif party == "PE":
                    rem["payee_references"].append(pair)
            elif sid == "AMT":
                target = line if line is not None else claim
                if target is not None:
                    target["amounts"].append((self.req(1), self.money(2)))
            elif sid == "LQ" and line is not None:
                key = "remark_codes" if self.req(1) == "HE" else "pharmacy_reject_codes"
                line[key].append(self.req(2))
            elif sid == "PLB":
                close_claim()
                rem["provider_adjustments"] += self.provider_adjustments()
            elif sid == "SE":
                close_claim()
                try:
                    remittance = Remittance(**_frozen(rem))
                except TypeError:  # a required header segment is absent (pyx12 reports these first)
                    raise RemittanceRejected("835 transaction set is missing a required segment") from None
                yield remittance
                rem = None

    def _date(self, rem: dict[str, Any], claim: dict[str, Any] | None, line: dict[str, Any] | None) -> None:
        qualifier = self.req(1)
        if line is not None:
            key, target = _LINE_DATES.get(qualifier), line
        elif claim is not None:
            key, target = _CLAIM_DATES.get(qualifier), claim
        else:
            key, target = ("production_date" if qualifier == "405" else None), rem
        if key is not None:
            target[key] = self.day(2)

    def provider_adjustments(self) -> list[ProviderAdjustment]:
        provider, period = self.req(1), self.day(2)
        out = []
        for i in range(3, min(len(self.seg), 15), 2):
            if self.opt(i) is None:
                continue
            reason, _, reference = self.req(i).partition(self.component)
            out.append(ProviderAdjustment(provider, period, reason, reference.strip() or None, self.money(i + 1)))
        return out


def _lists(*names: str) -> dict[str, list[Any]]:
    return {name: [] for name in names}


def _frozen(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
