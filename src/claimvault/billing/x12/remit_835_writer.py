"""The 835 (005010X221A1) writer: ``write_835`` turns ``Remittance`` values (the reader's own dataclasses) into an
interchange that pyx12 validates with zero errors, for the demo's fake clearinghouse, tests and benchmarks. The
adjudication helpers (``adjudicate_line``, ``deny_line``, ``claim_payment``, ``reversal_of``) build balanced claim
payments: paid lines with CO-45 and PR-1/2/3, denials (CLP02 4), reversals (CLP02 22, negated amounts).

The writer writes what it is given, balanced or not (tests need unbalanced files too); it refuses only values the
file cannot carry (delimiters in identifiers, fractions of cents, missing required values), naming the field and
never the value; free text (names) is cleaned to the X12 character set in upper case. Payer address, contact and
the bank ids of an ACH BPR come from ``PayerProfile``; the reader does not keep them. More than six PLB
adjustments take a second PLB segment, which pyx12's map (not the guide) flags; ``validate_835`` accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from itertools import groupby

from claimvault.billing.x12.envelope import DEFAULT_DELIMITERS, Delimiters, X12ContentError, clean_text, identifier
from claimvault.billing.x12.remit_835 import (
    DENIED,
    IMPLEMENTATION,
    REVERSAL,
    ZERO,
    Adjustment,
    ClaimPayment,
    PersonName,
    Procedure,
    ProviderAdjustment,
    Remittance,
    ServiceLinePayment,
)

CENT = Decimal("0.01")
MAX_TRIPLETS = 6  # CAS: reason/amount/quantity triplets per segment
MAX_PLB_ADJUSTMENTS = 6  # PLB03/04 .. PLB13/14
MAX_CAS_SEGMENTS = 99
EFT_METHODS = frozenset({"ACH", "BOP", "FWT"})  # BPR05-BPR15 required
PATIENT_REASONS = {"deductible": "1", "coinsurance": "2", "copay": "3"}
# REF qualifiers of loop 2110 that the guide places before REF*6R (Service Identification).
_SERVICE_ID_REFS = frozenset({"1S", "APC", "BB", "E9", "G1", "G3", "LU", "RB"})


@dataclass(frozen=True)
class PayerProfile:
    """What the guide requires of a payer that a ``Remittance`` does not carry. Defaults are synthetic."""

    address_line: str = "100 EXAMPLE PLAZA"
    city: str = "SPRINGFIELD"
    state: str = "IL"
    postal_code: str = "627010000"
    contact_name: str = "EDI SUPPORT"
    contact_phone: str = "8005550100"
    sender_dfi: str = "999999992"  # BPR07: the payer's bank routing number (synthetic)
    sender_account: str = "000000001"  # BPR09
    receiver_dfi: str = "999999993"  # BPR13: the payee's bank (synthetic)
    receiver_account: str = "000000002"  # BPR15
    usage: str = "T"  # ISA15


# --- adjudication helpers --------------------------------------------------------------------------------------


def adjudicate_line(
    *,
    procedure: Procedure,
    charge: Decimal,
    allowed: Decimal,
    patient: Mapping[str, Decimal] | None = None,
    service_date: date | None = None,
    control_number: str | None = None,
    units: Decimal | None = None,
    submitted: Procedure | None = None,
    remark_codes: Sequence[str] = (),
) -> ServiceLinePayment:
    """A paid line: CO-45 for charge above ``allowed``, PR-1/2/3 for the ``patient`` shares (keys deductible,
    coinsurance, copay), paid = allowed - patient shares, AMT*B6 = allowed. Balanced by construction."""
    adjustments: list[Adjustment] = []
    if charge != allowed:
        adjustments.append(Adjustment("CO", "45", charge - allowed))
    shares = patient or {}
    unknown = set(shares) - set(PATIENT_REASONS)
    if unknown:
        raise X12ContentError("patient", "keys must be deductible, coinsurance or copay")
    adjustments += [Adjustment("PR", PATIENT_REASONS[k], v) for k, v in shares.items() if v]
    paid = allowed - sum(shares.values(), ZERO)
    return ServiceLinePayment(
        procedure=procedure,
        charge=charge,
        paid=paid,
        units=units,
        submitted=submitted,
        service_date=service_date,
        adjustments=tuple(adjustments),
        control_number=control_number,
        amounts=(("B6", allowed),),
        remark_codes=tuple(remark_codes),
    )


def deny_line(
    *,
    procedure: Procedure,
    charge: Decimal,
    reason: str = "96",
    group: str = "CO",
    service_date: date | None = None,
    control_number: str | None = None,
    remark_codes: Sequence[str] = (),
) -> ServiceLinePayment:
    """A line paid nothing: the whole charge adjusted as ``group``-``reason`` (CO-96 non-covered by default)."""
    return ServiceLinePayment(
        procedure=procedure,
        charge=charge,
        paid=ZERO,
        service_date=service_date,
        adjustments=(Adjustment(group, reason, charge),),
        control_number=control_number,
        remark_codes=tuple(remark_codes),
    )


def claim_payment(
    *,
    patient_control_number: str,
    payer_claim_control_number: str,
    lines: Sequence[ServiceLinePayment],
    patient: PersonName,
    subscriber: PersonName | None = None,
    status: str | None = None,
    filing_indicator: str = "12",
    facility_type: str = "11",
    frequency: str = "1",
    received: date | None = None,
    outpatient_remarks: Sequence[str] = (),
) -> ClaimPayment:
    """A claim payment from its lines: charge, paid and patient responsibility (the PR adjustments) summed from
    them. ``status`` defaults to 4 (denied) when nothing is paid and every line is adjusted away, else 1."""
    charge = sum((ln.charge for ln in lines), ZERO)
    paid = sum((ln.paid for ln in lines), ZERO)
    pr = sum((a.amount for ln in lines for a in ln.adjustments if a.group == "PR"), ZERO)
    if status is None:
        status = DENIED if paid == 0 and pr == 0 and lines else "1"
    return ClaimPayment(
        patient_control_number=patient_control_number,
        status=status,
        charge=charge,
        paid=paid,
        patient_responsibility=pr,
        filing_indicator=filing_indicator,
        payer_claim_control_number=payer_claim_control_number,
        facility_type=facility_type,
        frequency=frequency,
        patient=patient,
        subscriber=subscriber,
        outpatient_remarks=tuple(outpatient_remarks),
        received=received,
        lines=tuple(lines),
    )


def _negate(adjustments: tuple[Adjustment, ...]) -> tuple[Adjustment, ...]:
    return tuple(replace(a, amount=-a.amount) for a in adjustments)


def reversal_of(claim: ClaimPayment) -> ClaimPayment:
    """The payer taking a claim payment back (CLP02 22): every amount negated, the same payer claim control
    number. A corrected payment (a new ``ClaimPayment``) usually follows in the same file."""
    lines = tuple(
        replace(
            ln,
            charge=-ln.charge,
            paid=-ln.paid,
            adjustments=_negate(ln.adjustments),
            amounts=tuple((q, -v) for q, v in ln.amounts),
        )
        for ln in claim.lines
    )
    return replace(
        claim,
        status=REVERSAL,
        charge=-claim.charge,
        paid=-claim.paid,
        patient_responsibility=None if claim.patient_responsibility is None else -claim.patient_responsibility,
        adjustments=_negate(claim.adjustments),
        amounts=tuple((q, -v) for q, v in claim.amounts),
        lines=lines,
    )


# --- writing ---------------------------------------------------------------------------------------------------


def _d8(day: date) -> str:
    return day.strftime("%Y%m%d")


def _number(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class _Writer:
    def __init__(self, delimiters: Delimiters) -> None:
        self.d = delimiters
        self.segments: list[str] = []

    def add(self, *elements: str | None) -> None:
        values = [e or "" for e in elements]
        while values and not values[-1]:
            values.pop()
        self.segments.append(self.d.element.join(values))

    def composite(self, *parts: str | None) -> str:
        values = [p or "" for p in parts]
        while values and not values[-1]:
            values.pop()
        return self.d.component.join(values)

    # values
    def ident(
        self, value: str | None, *, field: str, max_len: int, min_len: int = 1, pattern: str | None = None
    ) -> str:
        return identifier(value, field=field, max_len=max_len, min_len=min_len, pattern=pattern, delimiters=self.d)

    def opt_ident(self, value: str | None, *, field: str, max_len: int) -> str | None:
        return None if value is None else self.ident(value, field=field, max_len=max_len)

    def text(self, value: str | None, *, field: str, max_len: int, required: bool = True) -> str | None:
        cleaned = clean_text(value or "", max_len=max_len, delimiters=self.d)
        if required and not cleaned:
            raise X12ContentError(field, "is required")
        return cleaned or None

    def money(self, value: Decimal, *, field: str) -> str:
        if not value.is_finite() or value != value.quantize(CENT):
            raise X12ContentError(field, "must be a finite amount in whole cents")
        text = _number(value)
        if len(text.lstrip("-").replace(".", "")) > 18:
            raise X12ContentError(field, "is too large")
        return text

    def opt_money(self, value: Decimal | None, *, field: str) -> str | None:
        return None if value is None else self.money(value, field=field)

    def quantity(self, value: Decimal | None, *, field: str) -> str | None:
        if value is None:
            return None
        if not value.is_finite() or len(_number(value).lstrip("-").replace(".", "")) > 15:
            raise X12ContentError(field, "must be a finite quantity of at most 15 digits")
        return _number(value)

    def procedure(self, p: Procedure, *, field: str) -> str:
        if len(p.modifiers) > 4:
            raise X12ContentError(f"{field}.modifiers", "at most four")
        return self.composite(
            self.ident(p.qualifier, field=f"{field}.qualifier", max_len=2, min_len=2),
            self.ident(p.code, field=f"{field}.code", max_len=48),
            *(self.ident(m, field=f"{field}.modifiers", max_len=2, min_len=2) for m in p.modifiers),
            *([None] * (4 - len(p.modifiers)) if p.description else []),
            self.text(p.description, field=f"{field}.description", max_len=80, required=False),
        )

    # segments
    def adjustments(self, adjustments: Sequence[Adjustment], *, field: str) -> None:
        count = 0
        for group, run in groupby(adjustments, key=lambda a: a.group):
            items = list(run)
            for start in range(0, len(items), MAX_TRIPLETS):
                elements: list[str | None] = [
                    self.ident(group, field=f"{field}.group", max_len=2, min_len=2, pattern="CO|OA|PI|PR")
                ]
                for a in items[start : start + MAX_TRIPLETS]:
                    elements += [
                        self.ident(a.reason, field=f"{field}.reason", max_len=5),
                        self.money(a.amount, field=f"{field}.amount"),
                        self.quantity(a.quantity, field=f"{field}.quantity"),
                    ]
                self.add("CAS", *elements)
                count += 1
        if count > MAX_CAS_SEGMENTS:
            raise X12ContentError(field, "too many CAS segments")

    def name(self, person: PersonName | None, *, field: str) -> None:
        if person is None:
            return
        self.add(
            "NM1",
            self.ident(person.entity, field=f"{field}.entity", max_len=3, min_len=2),
            self.ident(person.entity_type, field=f"{field}.entity_type", max_len=1),
            self.text(person.last, field=f"{field}.last", max_len=60, required=False),
            self.text(person.first, field=f"{field}.first", max_len=35, required=False),
            self.text(person.middle, field=f"{field}.middle", max_len=25, required=False),
            None,
            self.text(person.suffix, field=f"{field}.suffix", max_len=10, required=False),
            self.opt_ident(person.id_qualifier, field=f"{field}.id_qualifier", max_len=2),
            self.opt_ident(person.identifier, field=f"{field}.identifier", max_len=80),
        )

    def refs(self, refs: Sequence[tuple[str, str]], *, field: str) -> None:
        for qualifier, value in refs:
            self.add(
                "REF",
                self.ident(qualifier, field=f"{field}.qualifier", max_len=3, min_len=2),
                self.ident(value, field=f"{field}.value", max_len=50),
            )

    def amounts(self, amounts: Sequence[tuple[str, Decimal]], *, field: str) -> None:
        for qualifier, amount in amounts:
            self.add(
                "AMT",
                self.ident(qualifier, field=f"{field}.qualifier", max_len=3),
                self.money(amount, field=f"{field}.amount"),
            )

    def dates(self, *pairs: tuple[str, date | None]) -> None:
        for qualifier, day in pairs:
            if day is not None:
                self.add("DTM", qualifier, _d8(day))

    def header(self, r: Remittance, profile: PayerProfile) -> None:
        self.add(
            "ST",
            "835",
            self.ident(
                r.transaction_control, field="transaction_control", max_len=9, min_len=4, pattern=r"[0-9A-Za-z]+"
            ),
        )
        trn03 = self.ident(
            r.originating_company_id, field="originating_company_id", max_len=10, min_len=10, pattern=r"1[0-9]{9}"
        )
        trn04 = self.opt_ident(r.originating_company_supplemental, field="originating_company_supplemental", max_len=9)
        bank: list[str | None] = [None] * 10
        if r.payment_method in EFT_METHODS:
            if r.payment_format is None:
                raise X12ContentError("payment_format", "is required for an electronic payment")
            bank = [
                "01",
                self.ident(profile.sender_dfi, field="profile.sender_dfi", max_len=12, min_len=3),
                "DA",
                self.ident(profile.sender_account, field="profile.sender_account", max_len=35),
                trn03,
                trn04,
                "01",
                self.ident(profile.receiver_dfi, field="profile.receiver_dfi", max_len=12, min_len=3),
                "DA",
                self.ident(profile.receiver_account, field="profile.receiver_account", max_len=35),
            ]
        self.add(
            "BPR",
            self.ident(r.handling_code, field="handling_code", max_len=2),
            self.money(r.payment_amount, field="payment_amount"),
            self.ident(r.credit_debit, field="credit_debit", max_len=1),
            self.ident(r.payment_method, field="payment_method", max_len=3, min_len=3),
            self.opt_ident(r.payment_format, field="payment_format", max_len=10),
            *bank,
            _d8(r.payment_date),
        )
        self.add("TRN", "1", self.ident(r.trace_number, field="trace_number", max_len=50), trn03, trn04)
        self.dates(("405", r.production_date))
        self.add(
            "N1",
            "PR",
            self.text(r.payer_name, field="payer_name", max_len=60),
            self.opt_ident(r.payer_id_qualifier, field="payer_id_qualifier", max_len=2),
            self.opt_ident(r.payer_identifier, field="payer_identifier", max_len=80),
        )
        self.add("N3", self.text(profile.address_line, field="profile.address_line", max_len=55))
        self.add(
            "N4",
            self.text(profile.city, field="profile.city", max_len=30),
            self.ident(profile.state, field="profile.state", max_len=2, pattern=r"[A-Z]{2}"),
            self.ident(profile.postal_code, field="profile.postal_code", max_len=9, pattern=r"[0-9]{5}([0-9]{4})?"),
        )
        self.refs(r.payer_references, field="payer_references")
        self.add(
            "PER",
            "BL",
            self.text(profile.contact_name, field="profile.contact_name", max_len=60),
            "TE",
            self.ident(profile.contact_phone, field="profile.contact_phone", max_len=10, pattern=r"[0-9]{10}"),
        )
        self.add(
            "N1",
            "PE",
            self.text(r.payee_name, field="payee_name", max_len=60),
            self.ident(r.payee_id_qualifier, field="payee_id_qualifier", max_len=2, pattern="FI|XV|XX"),
            self.ident(r.payee_identifier, field="payee_identifier", max_len=80),
        )
        self.refs(r.payee_references, field="payee_references")

    def claim(self, c: ClaimPayment, *, field: str) -> None:
        self.add(
            "CLP",
            self.ident(c.patient_control_number, field=f"{field}.patient_control_number", max_len=38),
            self.ident(c.status, field=f"{field}.status", max_len=2),
            self.money(c.charge, field=f"{field}.charge"),
            self.money(c.paid, field=f"{field}.paid"),
            self.opt_money(c.patient_responsibility, field=f"{field}.patient_responsibility"),
            self.ident(c.filing_indicator, field=f"{field}.filing_indicator", max_len=2),
            self.ident(c.payer_claim_control_number, field=f"{field}.payer_claim_control_number", max_len=50),
            self.opt_ident(c.facility_type, field=f"{field}.facility_type", max_len=2),
            self.opt_ident(c.frequency, field=f"{field}.frequency", max_len=1),
        )
        self.adjustments(c.adjustments, field=f"{field}.adjustments")
        if c.patient is None:
            raise X12ContentError(f"{field}.patient", "is required")
        self.name(c.patient, field=f"{field}.patient")
        self.name(c.subscriber, field=f"{field}.subscriber")
        self.name(c.corrected, field=f"{field}.corrected")
        if c.inpatient_remarks:
            remarks = [self.ident(v, field=f"{field}.inpatient_remarks", max_len=5) for v in c.inpatient_remarks]
            if len(remarks) > 5:
                raise X12ContentError(f"{field}.inpatient_remarks", "at most five")
            rest = remarks[1:] + [None] * (4 - len(remarks[1:]))
            self.add("MIA", "0", None, None, None, remarks[0], *([None] * 14), *rest)
        if c.outpatient_remarks:
            if len(c.outpatient_remarks) > 5:
                raise X12ContentError(f"{field}.outpatient_remarks", "at most five")
            self.add(
                "MOA",
                None,
                None,
                *(self.ident(v, field=f"{field}.outpatient_remarks", max_len=5) for v in c.outpatient_remarks),
            )
        self.refs(c.references, field=f"{field}.references")
        self.dates(
            ("232", c.statement_from), ("233", c.statement_to), ("036", c.coverage_expiration), ("050", c.received)
        )
        self.amounts(c.amounts, field=f"{field}.amounts")
        for n, line in enumerate(c.lines):
            self.line(line, field=f"{field}.lines[{n}]")

    def line(self, ln: ServiceLinePayment, *, field: str) -> None:
        self.add(
            "SVC",
            self.procedure(ln.procedure, field=f"{field}.procedure"),
            self.money(ln.charge, field=f"{field}.charge"),
            self.money(ln.paid, field=f"{field}.paid"),
            self.opt_ident(ln.revenue_code, field=f"{field}.revenue_code", max_len=48),
            self.quantity(ln.units, field=f"{field}.units"),
            self.procedure(ln.submitted, field=f"{field}.submitted") if ln.submitted else None,
            self.quantity(ln.submitted_units, field=f"{field}.submitted_units"),
        )
        self.dates(("150", ln.service_start), ("151", ln.service_end), ("472", ln.service_date))
        self.adjustments(ln.adjustments, field=f"{field}.adjustments")
        self.refs([r for r in ln.references if r[0] in _SERVICE_ID_REFS], field=f"{field}.references")
        if ln.control_number is not None:
            self.add("REF", "6R", self.ident(ln.control_number, field=f"{field}.control_number", max_len=50))
        self.refs([r for r in ln.references if r[0] not in _SERVICE_ID_REFS], field=f"{field}.references")
        self.amounts(ln.amounts, field=f"{field}.amounts")
        for code in ln.remark_codes:
            self.add("LQ", "HE", self.ident(code, field=f"{field}.remark_codes", max_len=30))
        for code in ln.pharmacy_reject_codes:
            self.add("LQ", "RX", self.ident(code, field=f"{field}.pharmacy_reject_codes", max_len=30))

    def provider_adjustments(self, items: Sequence[ProviderAdjustment]) -> None:
        for (provider, period), run in groupby(items, key=lambda a: (a.provider_id, a.fiscal_period)):
            group = list(run)
            for start in range(0, len(group), MAX_PLB_ADJUSTMENTS):
                elements: list[str | None] = []
                for a in group[start : start + MAX_PLB_ADJUSTMENTS]:
                    reference = self.opt_ident(a.reference, field="provider_adjustments.reference", max_len=50)
                    elements += [
                        self.composite(self.ident(a.reason, field="provider_adjustments.reason", max_len=2), reference),
                        self.money(a.amount, field="provider_adjustments.amount"),
                    ]
                self.add(
                    "PLB",
                    self.ident(provider, field="provider_adjustments.provider_id", max_len=50),
                    _d8(period),
                    *elements,
                )


def write_835(
    remittances: Remittance | Sequence[Remittance],
    *,
    profile: PayerProfile | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    newline: bool = False,
) -> str:
    """One interchange holding one 835 transaction set per remittance, all sharing the first one's envelope
    (ISA13, GS06, sender, receiver, date). ``newline`` adds a line break after each segment terminator. ST03 is
    left out: the guide requires it, but pyx12's 835 map marks it unused (the reader accepts it either way)."""
    items = [remittances] if isinstance(remittances, Remittance) else list(remittances)
    if not items:
        raise X12ContentError("remittances", "at least one is required")
    first = items[0]
    envelope = ("interchange_control", "group_control", "sender_id", "receiver_id", "created")
    if any(getattr(r, k) != getattr(first, k) for r in items for k in envelope):
        raise X12ContentError("remittances", "must share one interchange envelope")
    if len({r.transaction_control for r in items}) != len(items):
        raise X12ContentError("remittances.transaction_control", "must be unique in the group")
    profile = profile or PayerProfile()
    w = _Writer(delimiters)
    d = delimiters
    sender = w.ident(first.sender_id, field="sender_id", max_len=15, min_len=2)
    receiver = w.ident(first.receiver_id, field="receiver_id", max_len=15, min_len=2)
    isa13 = w.ident(first.interchange_control, field="interchange_control", max_len=9, min_len=9, pattern=r"[0-9]+")
    gs06 = w.ident(first.group_control, field="group_control", max_len=9, pattern=r"[0-9]+")
    isa = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        sender.ljust(15),
        "ZZ",
        receiver.ljust(15),
        first.created.strftime("%y%m%d"),
        "1200",
        d.repetition,
        "00501",
        isa13,
        "0",
        w.ident(profile.usage, field="profile.usage", max_len=1, pattern="P|T"),
        d.component,
    ]
    w.segments.append(d.element.join(isa))
    w.add("GS", "HP", sender, receiver, _d8(first.created), "1200", gs06, "X", IMPLEMENTATION)
    for r in items:
        start = len(w.segments)
        w.header(r, profile)
        if r.claims:
            w.add("LX", "1")
        for n, claim in enumerate(r.claims):
            w.claim(claim, field=f"claims[{n}]")
        w.provider_adjustments(r.provider_adjustments)
        w.add("SE", str(len(w.segments) - start + 1), r.transaction_control)
    w.add("GE", str(len(items)), gs06)
    w.add("IEA", "1", isa13)
    sep = d.segment + ("\n" if newline and d.segment != "\n" else "")
    return sep.join(w.segments) + sep
