"""The reports as tables (``Sheet``: a title, notes, a header, rows, a total row and the charts worth drawing) and
as CSV. CSV cells are safe to open in a spreadsheet: text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading ``'`` (amounts and counts are ours and stay numbers, a credit stays ``-5.00``).
Only the by-patient aging sheet carries patient names; every other sheet holds codes, payer names and amounts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from claimvault.billing.reports.activity import CollectionsReport, DenialsReport
from claimvault.billing.reports.aging import BUCKETS, RESPONSIBILITIES, AgingReport, DaysInAR

Cell = str | int | Decimal | None
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
AGING_BASIS = "Age = as-of date minus the claim's first billing date (first version of the claim sent to the payer)."


@dataclass(frozen=True)
class Chart:
    """A bar chart: ``series`` names with one value per category; ``stacked`` stacks the series."""

    title: str
    categories: tuple[str, ...]
    series: tuple[tuple[str, tuple[Decimal, ...]], ...]
    stacked: bool = False
    horizontal: bool = False


@dataclass(frozen=True)
class Sheet:
    title: str
    notes: tuple[str, ...]
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    totals: tuple[tuple[Cell, ...], ...] = ()
    charts: tuple[Chart, ...] = field(default_factory=tuple)
    contains_phi: bool = False


def safe_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return str(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(sheet: Sheet) -> bytes:
    """The sheet's header, rows and total rows as CSV (UTF-8, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in sheet.header])
    for row in (*sheet.rows, *sheet.totals):
        writer.writerow([safe_cell(c) for c in row])
    return buffer.getvalue().encode("utf-8")


def aging_sheet(report: AgingReport) -> Sheet:
    by_payer = report.by == "payer"
    first = ("Payer code", "Payer") if by_payer else ("Patient id", "Patient")
    header = (*first, "Responsibility", *BUCKETS, "Total", "Claims")
    rows: tuple[tuple[Cell, ...], ...] = tuple(
        (r.code, r.label, r.responsibility, *r.buckets, r.total, r.claims) for r in report.rows
    )
    totals: list[tuple[Cell, ...]] = []
    for responsibility in RESPONSIBILITIES:
        buckets = report.bucket_totals(responsibility)
        claims = sum(r.claims for r in report.rows if r.responsibility == responsibility)
        totals.append(("TOTAL", "", responsibility, *buckets, sum(buckets, Decimal("0.00")), claims))
    both = tuple(a + b for a, b in zip(report.bucket_totals("insurance"), report.bucket_totals("patient"), strict=True))
    totals.append(("TOTAL", "", "all", *both, report.insurance_total + report.patient_total, None))
    charts = [
        Chart(
            "A/R by age bucket: insurance and patient responsibility",
            BUCKETS,
            tuple((r.title(), report.bucket_totals(r)) for r in RESPONSIBILITIES),
            stacked=True,
        )
    ]
    if by_payer:
        insurance = [r for r in report.rows if r.responsibility == "insurance"]
        categories = (*(r.code for r in insurance), "Patients")
        patient = report.bucket_totals("patient")
        series = tuple((bucket, (*(r.buckets[i] for r in insurance), patient[i])) for i, bucket in enumerate(BUCKETS))
        charts.append(Chart("A/R by payer and age bucket (patient responsibility together)", categories, series, True))
    who = "payer" if by_payer else "patient"
    return Sheet(
        title=f"A/R aging by {who}",
        notes=(f"As of {report.as_of.isoformat()} (end of day, UTC).", AGING_BASIS),
        header=header,
        rows=rows,
        totals=tuple(totals),
        charts=tuple(charts),
        contains_phi=not by_payer,
    )


def denials_sheet(report: DenialsReport) -> Sheet:
    header = ("Section", "Code", "Name", "Denials", "Amount")
    rows: list[tuple[Cell, ...]] = [("reason", d.code, "", d.count, d.amount) for d in report.by_reason]
    rows += [("payer", d.code, d.name, d.count, d.amount) for d in report.by_payer]
    chart = Chart(
        "Denied amount by reason (CARC group-code)",
        tuple(d.code for d in report.by_reason),
        (("Amount", tuple(d.amount for d in report.by_reason)),),
        horizontal=True,
    )
    return Sheet(
        title="Denials by reason and payer",
        notes=(
            f"Denials queued {report.start.isoformat()} to {report.as_of.isoformat()}, not reversed since.",
            "A denial with several reasons counts under each reason; the payer total counts it once.",
        ),
        header=header,
        rows=tuple(rows),
        totals=(("TOTAL", "", "", report.count, report.amount),),
        charts=(chart,) if report.by_reason else (),
    )


def collections_sheet(report: CollectionsReport) -> Sheet:
    header = ("Section", "Period or payer code", "Payer", "Insurance", "Patient", "Total")
    rows: list[tuple[Cell, ...]] = [("month", m.month, "", m.insurance, m.patient, m.total) for m in report.months]
    rows += [("payer", p.code, p.name, p.insurance, None, p.insurance) for p in report.by_payer]
    chart = Chart(
        "Collections by month",
        tuple(m.month for m in report.months),
        (
            ("Insurance", tuple(m.insurance for m in report.months)),
            ("Patient", tuple(m.patient for m in report.months)),
        ),
    )
    total = report.insurance + report.patient
    return Sheet(
        title="Collections",
        notes=(
            f"Payments received {report.start.isoformat()} to {report.as_of.isoformat()} (UTC).",
            "Insurance: payer payments net of reversals. Patient: patient payments net of refunds.",
        ),
        header=header,
        rows=tuple(rows),
        totals=(("TOTAL", "", "", report.insurance, report.patient, total),),
        charts=(chart,),
    )


def days_in_ar_sheet(report: DaysInAR) -> Sheet:
    rows: Sequence[tuple[Cell, ...]] = (
        ("A/R insurance", report.insurance),
        ("A/R patient", report.patient),
        ("A/R total", report.receivables),
        (f"Charges billed in the last {report.period_days} days", report.charges),
        ("Average daily charges", report.average_daily_charges),
        ("Days in A/R", report.days if report.days is not None else "n/a"),
    )
    return Sheet(
        title="Days in A/R",
        notes=(
            f"As of {report.as_of.isoformat()} (end of day, UTC); trailing period {report.period_days} days.",
            "Days in A/R = total A/R / (charges first billed in the period / days in the period), rounded to 0.1 day.",
        ),
        header=("Measure", "Value"),
        rows=tuple(rows),
    )
