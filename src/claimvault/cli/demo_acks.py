"""Synthetic X12 005010 acknowledgements from the demo's make-believe clearinghouse: a 999 (X231A1) accepting
every transaction of one of our 837P groups, and a 277CA (X214) accepting or rejecting claims by their patient
control number (CLM01). Every value is made up here (seeded); ``import_ack`` validates them with pyx12."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from faker import Faker

from claimvault.discovery.validators import npi_valid

RejectReason = tuple[str, str, str]  # STC01: category (508), status (507), entity (98)


class _Segments:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, *elements: str | Sequence[str]) -> None:
        parts = [e if isinstance(e, str) else ":".join(e) for e in elements]
        while parts and parts[-1] == "":
            parts.pop()
        self.items.append("*".join(parts))

    def text(self) -> str:
        return "~\n".join(self.items) + "~\n"


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def _open(s: _Segments, *, functional_id: str, version: str, interchange: int, group: int, when: datetime) -> None:
    s.items.append(
        "*".join(
            ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "DEMOCLEARING".ljust(15), "ZZ", "DEMOPRACTICE".ljust(15),
             when.strftime("%y%m%d"), when.strftime("%H%M"), "^", "00501", f"{interchange:09d}", "0", "T", ":"]
        )
    )  # fmt: skip
    s.add("GS", functional_id, "DEMOCLEARING", "DEMOPRACTICE", when.strftime("%Y%m%d"), when.strftime("%H%M"),
          str(group), "X", version)  # fmt: skip


def _close(s: _Segments, *, st_start: int, interchange: int, group: int) -> None:
    s.add("SE", str(len(s.items) - st_start + 1), "0001")
    s.add("GE", "1", str(group))
    s.add("IEA", "1", f"{interchange:09d}")


def make_999(*, group_control: int, transaction_controls: Sequence[int], interchange: int, when: datetime) -> bytes:
    """A 999 accepting every transaction set (ST02) of our 837P group ``group_control`` (GS06)."""
    s = _Segments()
    _open(s, functional_id="FA", version="005010X231A1", interchange=interchange, group=interchange, when=when)
    st_start = len(s.items)
    s.add("ST", "999", "0001", "005010X231A1")
    s.add("AK1", "HC", str(group_control), "005010X222A1")
    for control in transaction_controls:
        s.add("AK2", "837", f"{control:04d}", "005010X222A1")
        s.add("IK5", "A")
    n = str(len(transaction_controls))
    s.add("AK9", "A", n, n, n)
    _close(s, st_start=st_start, interchange=interchange, group=interchange)
    return s.text().encode("ascii")


def _npi(rng: random.Random) -> str:
    body = "1" + "".join(str(rng.randrange(10)) for _ in range(8))
    return next(body + str(d) for d in range(10) if npi_valid(body + str(d)))


def _totals(s: _Segments, counts: tuple[int, int], amounts: tuple[Decimal, Decimal], codes: tuple[str, str]) -> None:
    for count, code in zip(counts, codes, strict=True):
        if count:
            s.add("QTY", code, str(count))
    for count, amount, code in zip(counts, amounts, ("YU", "YY"), strict=True):
        if count:
            s.add("AMT", code, _money(amount))


def make_277ca(
    *,
    claims: Sequence[tuple[str, Decimal, date]],
    rejected: Mapping[str, RejectReason],
    interchange: int,
    when: datetime,
    seed: int,
) -> bytes:
    """A 277CA for ``(CLM01, total charge, date of service)`` triples: ``A2:20`` with a payer claim number
    (REF*1K) for each claim, or the ``rejected`` reason and the ``U`` action. Patient names and ids in it are
    invented (faker, ``seed``)."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    day = when.strftime("%Y%m%d")
    n_rej = sum(1 for number, _, _ in claims if number in rejected)
    counts = (len(claims) - n_rej, n_rej)
    amounts = (
        sum((a for n, a, _ in claims if n not in rejected), Decimal(0)),
        sum((a for n, a, _ in claims if n in rejected), Decimal(0)),
    )
    total = _money(amounts[0] + amounts[1])
    s = _Segments()
    _open(s, functional_id="HN", version="005010X214", interchange=interchange, group=interchange, when=when)
    st_start = len(s.items)
    s.add("ST", "277", "0001", "005010X214")
    s.add("BHT", "0085", "08", f"CA{rng.randrange(10**8):08d}", day, when.strftime("%H%M"), "TH")
    s.add("HL", "1", "", "20", "1")
    s.add("NM1", "PR", "2", "DEMO CLEARINGHOUSE", "", "", "", "", "PI", f"{rng.randrange(10**5):05d}")
    s.add("TRN", "1", f"{rng.randrange(10**9):09d}")
    s.add("DTP", "050", "D8", day)
    s.add("DTP", "009", "D8", day)
    s.add("HL", "2", "1", "21", "1")
    s.add("NM1", "41", "2", "DEMO FAMILY PRACTICE", "", "", "", "", "46", "DEMOSUB01")
    s.add("TRN", "2", f"{rng.randrange(10**9):09d}")
    s.add("STC", ["A1", "19", "PR"], day, "WQ", total)
    _totals(s, counts, amounts, ("90", "AA"))
    s.add("HL", "3", "2", "19", "1")
    s.add("NM1", "85", "2", "DEMO FAMILY PRACTICE", "", "", "", "", "XX", _npi(rng))
    s.add("TRN", "1", "0")
    s.add("STC", ["A1", "19", "PR"], "", "WQ", total)
    _totals(s, counts, amounts, ("QA", "QC"))
    for hl, (number, amount, service_date) in enumerate(claims, start=4):
        s.add("HL", str(hl), "3", "PT")
        s.add("NM1", "QC", "1", fake.last_name().upper(), fake.first_name().upper(), "", "", "",
              "MI", f"XQ{rng.randrange(10**9):09d}")  # fmt: skip
        s.add("TRN", "2", number)
        reason = rejected.get(number)
        if reason is None:
            s.add("STC", ["A2", "20", "PR"], day, "WQ", _money(amount))
            s.add("REF", "1K", f"{rng.randrange(10**13):013d}")
        else:
            s.add("STC", list(reason), day, "U", _money(amount))
        s.add("REF", "D9", f"CH{rng.randrange(10**10):010d}")
        s.add("DTP", "472", "D8", service_date.strftime("%Y%m%d"))
    _close(s, st_start=st_start, interchange=interchange, group=interchange)
    return s.text().encode("ascii")
