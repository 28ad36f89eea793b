"""Builds a patient's accounting of disclosures from decrypted values: the six-year window, exemptions already
filtered by the caller, suspended entries withheld, the optional 164.528(b)(3) summary, and the PDF rendering.

The PDF is built in memory and returned as bytes; it is never written to disk or logged.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from claimvault.privacy.disclosures.schemas import (
    Accounting,
    AccountingEntry,
    AccountingOrganization,
    AccountingPeriod,
)

ACCOUNTING_YEARS = 6


@dataclass(frozen=True)
class AccountingInput:
    organization_id: uuid.UUID
    organization_name: str
    patient_id: uuid.UUID
    as_of: date
    generated_at: datetime
    summarize: bool
    suspended: frozenset[uuid.UUID] | set[uuid.UUID]


def window_start(as_of: date) -> date:
    """Six years before ``as_of``, that day included (29 February falls back to the 28th: the longer window)."""
    try:
        return as_of.replace(year=as_of.year - ACCOUNTING_YEARS)
    except ValueError:
        return as_of.replace(year=as_of.year - ACCOUNTING_YEARS, day=28)


def _key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _entry(values: Mapping[str, Any]) -> AccountingEntry:
    return AccountingEntry(
        disclosed_on=values["disclosed_on"],
        recipient_name=values.get("recipient_name"),
        recipient_address=values.get("recipient_address"),
        description=values.get("description"),
        purpose=values.get("purpose"),
        purpose_code=values["purpose_code"],
        last_disclosed_on=values["disclosed_on"],
    )


def _summarize(entries: Iterable[AccountingEntry]) -> list[AccountingEntry]:
    """Several disclosures to one recipient for one purpose become the first one's entry, with how many there were
    and the date of the last (164.528(b)(3)). ``entries`` are in date order, and so is the result."""
    groups: dict[tuple[str, str, str, str], AccountingEntry] = {}
    for e in entries:
        key = (_key(e.recipient_name), _key(e.recipient_address), e.purpose_code, _key(e.purpose))
        first = groups.get(key)
        if first is None:
            groups[key] = e.model_copy()
        else:
            first.disclosure_count += 1
            first.last_disclosed_on = e.disclosed_on
    return list(groups.values())


def build_accounting(source: AccountingInput, disclosures: Sequence[Mapping[str, Any]]) -> Accounting:
    """``disclosures``: decrypted, non-exempt rows of the patient in date order."""
    start = window_start(source.as_of)
    entries = [
        _entry(values)
        for values in disclosures
        if values.get("disclosed_on") is not None  # a crypto-shredded patient's dates are gone
        and start <= values["disclosed_on"] <= source.as_of
        and values.get("suspension_id") not in source.suspended
    ]
    if source.summarize:
        entries = _summarize(entries)
    return Accounting(
        organization=AccountingOrganization(id=source.organization_id, name=source.organization_name),
        patient_id=source.patient_id,
        period=AccountingPeriod(start=start, end=source.as_of),
        generated_at=source.generated_at,
        summarized=source.summarize,
        entry_count=len(entries),
        entries=entries,
    )


def _p(text: str | None, style: Any) -> Paragraph:
    return Paragraph(escape(text or "-"), style)


def render_pdf(accounting: Accounting) -> bytes:
    """The accounting as a PDF, for the patient. Page streams are left uncompressed so the text layer stays
    searchable by simple tools; document properties carry no patient data."""
    styles = getSampleStyleSheet()
    body, small = styles["BodyText"], styles["BodyText"].clone("small", fontSize=8, leading=10)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=0.6 * inch,
        rightMargin=0.6 * inch,
        title="Accounting of disclosures",
        author=accounting.organization.name,
        creator="ClaimVault",
        pageCompression=0,
    )
    period = accounting.period
    story: list[Any] = [
        Paragraph(escape(accounting.title), styles["Title"]),
        _p(f"Organization: {accounting.organization.name}", body),
        _p(f"Patient record: {accounting.patient_id}", body),
        _p(f"Period: {period.start.isoformat()} to {period.end.isoformat()} ({accounting.regulation})", body),
        _p(f"Generated: {accounting.generated_at.strftime('%Y-%m-%d %H:%M UTC')}", body),
        _p(f"Disclosures listed: {accounting.entry_count}", body),
        Spacer(1, 0.2 * inch),
    ]
    if not accounting.entries:
        story.append(_p("No disclosures subject to accounting were made in this period.", body))
    else:
        header = ["Date", "Recipient", "Address", "Information disclosed", "Purpose"]
        rows: list[list[Any]] = [[_p(h, small) for h in header]]
        for e in accounting.entries:
            when = e.disclosed_on.isoformat() if e.disclosed_on else "-"
            if e.disclosure_count > 1 and e.last_disclosed_on:
                when += f" (first of {e.disclosure_count}; last {e.last_disclosed_on.isoformat()})"
            rows.append(
                [
                    _p(when, small),
                    _p(e.recipient_name, small),
                    _p(e.recipient_address, small),
                    _p(e.description, small),
                    _p(e.purpose, small),
                ]
            )
        table = Table(rows, colWidths=[1.0 * inch, 1.4 * inch, 1.5 * inch, 1.7 * inch, 1.7 * inch], repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(table)
    doc.build(story)
    return buffer.getvalue()
