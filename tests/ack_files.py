"""Seeded generators of synthetic X12 005010 acknowledgements: the 999 (X231A1) and the 277CA (X214), accepted,
rejected and partly accepted, echoing the control numbers and claim numbers of a batch we sent. Every value is
made up here (faker, seeded); the files validate with pyx12 with zero errors. Tests and the demo reuse these."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from faker import Faker

STAMP = datetime(2025, 3, 14, 9, 30)


@dataclass(frozen=True)
class Delimiters:
    """The four separators an ISA announces; ``newline`` adds a line break after each segment terminator."""

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    newline: bool = True


STANDARD = Delimiters()
ODD = Delimiters(element="|", component=">", repetition="!", segment="\n", newline=False)


def _luhn_npi(rng: random.Random) -> str:
    """A synthetic 10-digit NPI with a valid check digit (Luhn over the ``80840`` prefix)."""
    body = "1" + "".join(str(rng.randrange(10)) for _ in range(8))
    digits = [int(d) for d in "80840" + body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _money(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.01")).normalize(), "f")
    return text


class _Writer:
    def __init__(self, d: Delimiters) -> None:
        self.d = d
        self.segments: list[str] = []

    def seg(self, *elements: str | Sequence[str]) -> None:
        parts = [e if isinstance(e, str) else self.d.component.join(e) for e in elements]
        while parts and parts[-1] == "":
            parts.pop()
        self.segments.append(self.d.element.join(parts))

    def text(self) -> str:
        sep = self.d.segment + ("\n" if self.d.newline and self.d.segment != "\n" else "")
        return sep.join(self.segments) + sep


def _envelope(
    w: _Writer,
    *,
    functional_id: str,
    version: str,
    interchange_control: int,
    group_control: int,
    when: datetime,
) -> None:
    d = w.d
    isa = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        "EXAMPLEPAYER".ljust(15),
        "ZZ",
        "CLAIMVAULT".ljust(15),
        when.strftime("%y%m%d"),
        when.strftime("%H%M"),
        d.repetition,
        "00501",
        f"{interchange_control:09d}",
        "0",
        "T",
        d.component,
    ]
    w.segments.append(d.element.join(isa))
    w.seg("GS", functional_id, "EXAMPLEPAYER", "CLAIMVAULT", when.strftime("%Y%m%d"), when.strftime("%H%M"),
          str(group_control), "X", version)  # fmt: skip


def _close(w: _Writer, *, st_start: int, st_control: str, group_control: int, interchange_control: int) -> None:
    count = len(w.segments) - st_start + 1
    w.seg("SE", str(count), st_control)
    w.seg("GE", "1", str(group_control))
    w.seg("IEA", "1", f"{interchange_control:09d}")


def _control(n: int) -> str:
    return f"{n:04d}"


def make_999(
    *,
    group_control: int,
    transaction_controls: Sequence[int],
    rejected: Collection[int] = frozenset(),
    claim_refs: Mapping[int, str] | None = None,
    interchange_control: int = 901,
    ack_group_control: int = 9001,
    delimiters: Delimiters = STANDARD,
    when: datetime = STAMP,
) -> str:
    """A 999 answering our 837P group ``group_control`` (GS06): one AK2 per ST02 in ``transaction_controls``,
    IK5 ``R`` with segment and element errors for those in ``rejected``, ``A`` for the others; AK9 is ``A``, ``P``
    (partly accepted) or ``R``. ``claim_refs`` adds a CTX naming the claim (CLM01) an error sits in."""
    unknown = set(rejected) - set(transaction_controls)
    if unknown:
        raise ValueError("rejected names transaction sets that are not acknowledged")
    w = _Writer(delimiters)
    _envelope(w, functional_id="FA", version="005010X231A1", interchange_control=interchange_control,
              group_control=ack_group_control, when=when)  # fmt: skip
    st_start = len(w.segments)
    w.seg("ST", "999", "0001", "005010X231A1")
    w.seg("AK1", "HC", str(group_control), "005010X222A1")
    for control in transaction_controls:
        w.seg("AK2", "837", _control(control), "005010X222A1")
        if control in rejected:
            # A required element missing in the subscriber's NM1 (loop 2010), then the transaction set rejected.
            w.seg("IK3", "NM1", "8", "2010", "8")
            if claim_refs and control in claim_refs:
                w.seg("CTX", ["CLM01", claim_refs[control]])
            w.seg("IK4", ["9"], "67", "1")
            w.seg("IK5", "R", "5")
        else:
            w.seg("IK5", "A")
    accepted = len(transaction_controls) - len(set(rejected))
    if not rejected:
        code = "A"
    elif accepted == 0:
        code = "R"
    else:
        code = "P"
    n = str(len(transaction_controls))
    w.seg("AK9", code, n, n, str(accepted))
    _close(w, st_start=st_start, st_control="0001", group_control=ack_group_control,
           interchange_control=interchange_control)  # fmt: skip
    return w.text()


def _totals(
    w: _Writer,
    n_accepted: int,
    n_rejected: int,
    accepted: Decimal,
    rejected: Decimal,
    *,
    quantity_codes: tuple[str, str],
) -> None:
    if n_accepted:
        w.seg("QTY", quantity_codes[0], str(n_accepted))
    if n_rejected:
        w.seg("QTY", quantity_codes[1], str(n_rejected))
    if n_accepted:
        w.seg("AMT", "YU", _money(accepted))
    if n_rejected:
        w.seg("AMT", "YY", _money(rejected))


def make_277ca(
    *,
    claims: Sequence[tuple[str, Decimal]],
    rejected: Mapping[str, tuple[str, str] | tuple[str, str, str]] | None = None,
    seed: int = 277,
    interchange_control: int = 902,
    group_control: int = 9002,
    delimiters: Delimiters = STANDARD,
    when: datetime = STAMP,
) -> str:
    """A 277CA for our claims ``(patient control number = CLM01, total charge)``: accepted ones get ``A2:20`` and a
    payer claim control number (REF*1K); those in ``rejected`` get their ``(category, status[, entity])`` and the
    ``U`` action. Patient names and member ids are synthetic (faker, ``seed``)."""
    rejected = dict(rejected or {})
    numbers = [c for c, _ in claims]
    if set(rejected) - set(numbers):
        raise ValueError("rejected names claims that are not acknowledged")
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    day = when.strftime("%Y%m%d")
    accepted_total = sum((amount for number, amount in claims if number not in rejected), Decimal("0"))
    rejected_total = sum((amount for number, amount in claims if number in rejected), Decimal("0"))
    n_rejected = sum(1 for number in numbers if number in rejected)
    n_accepted = len(numbers) - n_rejected

    w = _Writer(delimiters)
    _envelope(w, functional_id="HN", version="005010X214", interchange_control=interchange_control,
              group_control=group_control, when=when)  # fmt: skip
    st_start = len(w.segments)
    w.seg("ST", "277", "0001", "005010X214")
    w.seg("BHT", "0085", "08", f"CA{rng.randrange(10**8):08d}", day, when.strftime("%H%M"), "TH")
    w.seg("HL", "1", "", "20", "1")
    w.seg("NM1", "PR", "2", "EXAMPLE CARE PLAN", "", "", "", "", "PI", f"{rng.randrange(10**5):05d}")
    w.seg("TRN", "1", f"{rng.randrange(10**9):09d}")
    w.seg("DTP", "050", "D8", day)
    w.seg("DTP", "009", "D8", day)
    w.seg("HL", "2", "1", "21", "1")
    w.seg("NM1", "41", "2", "CLAIMVAULT", "", "", "", "", "46", "CLAIMVAULT01")
    w.seg("TRN", "2", f"{rng.randrange(10**9):09d}")
    w.seg("STC", ["A1", "19", "PR"], day, "WQ", _money(accepted_total + rejected_total))
    _totals(w, n_accepted, n_rejected, accepted_total, rejected_total, quantity_codes=("90", "AA"))
    w.seg("HL", "3", "2", "19", "1")
    w.seg("NM1", "85", "2", "EXAMPLE CLINIC", "", "", "", "", "XX", _luhn_npi(rng))
    w.seg("TRN", "1", "0")
    w.seg("STC", ["A1", "19", "PR"], "", "WQ", _money(accepted_total + rejected_total))
    _totals(w, n_accepted, n_rejected, accepted_total, rejected_total, quantity_codes=("QA", "QC"))
    hl = 3
    service_day = date(2025, 3, 3)
    for number, amount in claims:
        hl += 1
        w.seg("HL", str(hl), "3", "PT")
        w.seg("NM1", "QC", "1", fake.last_name().upper(), fake.first_name().upper(), "", "", "",
              "MI", f"XQ{rng.randrange(10**9):09d}")  # fmt: skip
        w.seg("TRN", "2", number)
        reason = rejected.get(number)
        if reason is None:
            w.seg("STC", ["A2", "20", "PR"], day, "WQ", _money(amount))
            w.seg("REF", "1K", f"{rng.randrange(10**13):013d}")
        else:
            w.seg("STC", list(reason), day, "U", _money(amount))
        w.seg("REF", "D9", f"CH{rng.randrange(10**10):010d}")
        w.seg("DTP", "472", "D8", datetime.combine(service_day, time()).strftime("%Y%m%d"))
    _close(w, st_start=st_start, st_control="0001", group_control=group_control,
           interchange_control=interchange_control)  # fmt: skip
    return w.text()
