"""Renders one patient statement as a PDF (reportlab), from values already decrypted by the statement service:
practice header and remit-to address, the patient's name and address, statement date and account number, the
balance per encounter (procedure codes only, never descriptors), aging, amount due, how to pay, and a tear-off
remittance stub. Built in memory and returned as bytes; never written to disk or logged here."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

AGING_LABELS = ("Current (0-30 days)", "31-60 days", "61-90 days", "Over 90 days")


@dataclass(frozen=True)
class PracticeInfo:
    """Who the statement is from and how to pay. ``remit_to`` defaults to the practice address."""

    name: str
    address_lines: tuple[str, ...]
    phone: str | None = None
    payable_to: str | None = None  # checks payable to (default: the practice name)
    portal_url: str | None = None
    remit_to_lines: tuple[str, ...] = ()
    office_hours: str | None = None

    @property
    def check_payee(self) -> str:
        return self.payable_to or self.name

    @property
    def remit_to(self) -> tuple[str, ...]:
        return self.remit_to_lines or (self.name, *self.address_lines)


@dataclass(frozen=True)
class EncounterBalance:
    """One encounter with an open patient balance. ``procedures``: codes with modifiers ("99213-25")."""

    service_date: date | None
    procedures: tuple[str, ...]
    charges: Decimal
    insurance_paid: Decimal
    adjusted: Decimal
    patient_paid: Decimal
    patient_balance: Decimal


@dataclass(frozen=True)
class StatementDocument:
    practice: PracticeInfo
    account_number: str
    statement_date: date
    patient_name: str
    patient_address: tuple[str, ...]
    encounters: Sequence[EncounterBalance]
    aging: tuple[Decimal, Decimal, Decimal, Decimal]
    amount_due: Decimal
    due_by: date | None = None
    messages: tuple[str, ...] = field(default_factory=tuple)


def money(amount: Decimal) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def _p(text: str | None, style: Any) -> Paragraph:
    return Paragraph(escape(text or "-"), style)


def _lines(lines: Sequence[str], style: Any) -> Paragraph:
    return Paragraph("<br/>".join(escape(x) for x in lines if x), style)


def _grid(rows: list[list[Any]], widths: list[float], *, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey))
    table.setStyle(TableStyle(style))
    return table


def _how_to_pay(doc: StatementDocument, body: Any) -> list[Any]:
    practice = doc.practice
    ways = []
    if practice.portal_url:
        ways.append(f"Online: {practice.portal_url} (have your account number {doc.account_number} ready)")
    if practice.phone:
        hours = f", {practice.office_hours}" if practice.office_hours else ""
        ways.append(f"By phone: {practice.phone}{hours}")
    ways.append(
        f"By check or money order payable to {practice.check_payee}; write your account number "
        f"{doc.account_number} on it and mail it with the stub below to: {', '.join(practice.remit_to)}"
    )
    return [_p("How to pay", body), *(_p(f"- {w}", body) for w in ways)]


def _stub(doc: StatementDocument, small: Any, body: Any) -> KeepTogether:
    practice = doc.practice
    rows = [
        [_p("Account number", small), _p(doc.account_number, body)],
        [_p("Statement date", small), _p(doc.statement_date.isoformat(), body)],
        [_p("Amount due", small), _p(money(doc.amount_due), body)],
        [_p("Amount enclosed", small), _p("$ ____________", body)],
        [_p("Make checks payable to", small), _p(practice.check_payee, body)],
    ]
    addresses = Table(
        [[_lines(["Remit to:", *practice.remit_to], body), _lines([doc.patient_name, *doc.patient_address], body)]],
        colWidths=[3.6 * inch, 3.6 * inch],
    )
    return KeepTogether(
        [
            Spacer(1, 0.25 * inch),
            _p(
                "- - - - - - - - - - Please detach and return this portion with your payment - - - - - - - - - -", small
            ),
            Spacer(1, 0.1 * inch),
            _grid(rows, [2.0 * inch, 5.2 * inch], header=False),
            Spacer(1, 0.1 * inch),
            addresses,
        ]
    )


def render_statement(doc: StatementDocument) -> bytes:
    """The statement as PDF bytes. Page streams are left uncompressed so the text stays searchable by simple
    tools (the stored copy is encrypted); document properties carry no patient data."""
    styles = getSampleStyleSheet()
    body, small = styles["BodyText"], styles["BodyText"].clone("small", fontSize=8, leading=10)
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=0.6 * inch,
        rightMargin=0.6 * inch,
        topMargin=0.5 * inch,
        bottomMargin=0.5 * inch,
        title="Patient statement",
        author=doc.practice.name,
        creator="ClaimVault",
        pageCompression=0,
    )
    practice = doc.practice
    header = Table(
        [
            [
                _lines([practice.name, *practice.address_lines, practice.phone or ""], body),
                _lines(
                    [
                        "STATEMENT",
                        f"Statement date: {doc.statement_date.isoformat()}",
                        f"Account number: {doc.account_number}",
                        f"Amount due: {money(doc.amount_due)}",
                        *([f"Please pay by: {doc.due_by.isoformat()}"] if doc.due_by else []),
                    ],
                    body,
                ),
            ]
        ],
        colWidths=[3.8 * inch, 3.4 * inch],
    )
    story: list[Any] = [
        header,
        Spacer(1, 0.2 * inch),
        _lines([doc.patient_name, *doc.patient_address], body),
        Spacer(1, 0.2 * inch),
    ]
    rows: list[list[Any]] = [
        [
            _p(h, small)
            for h in ("Date of service", "Procedures", "Charges", "Insurance paid", "Adjusted", "You paid", "You owe")
        ]
    ]
    for e in doc.encounters:
        rows.append(
            [
                _p(e.service_date.isoformat() if e.service_date else "-", small),
                _p(", ".join(e.procedures) or "-", small),
                *(_p(money(v), small) for v in (e.charges, e.insurance_paid, e.adjusted, e.patient_paid)),
                _p(money(e.patient_balance), small),
            ]
        )
    widths = [0.95 * inch, 1.75 * inch, 0.9 * inch, 0.95 * inch, 0.85 * inch, 0.85 * inch, 0.95 * inch]
    story += [_grid(rows, widths), Spacer(1, 0.2 * inch), _p("Aging of your balance", body)]
    aging = [[_p(label, small) for label in AGING_LABELS], [_p(money(v), small) for v in doc.aging]]
    story += [_grid(aging, [1.8 * inch] * 4), Spacer(1, 0.15 * inch)]
    story.append(Paragraph(f"<b>Amount due: {escape(money(doc.amount_due))}</b>", body))
    story += [_p(m, body) for m in doc.messages]
    story += [Spacer(1, 0.15 * inch), *_how_to_pay(doc, body), _stub(doc, small, body)]
    pdf.build(story)
    return buffer.getvalue()
