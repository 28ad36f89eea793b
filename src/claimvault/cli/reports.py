"""``claimvault reports``: A/R aging (by payer or by patient), denials, collections and days in A/R for one
organization, as CSV (stdout by default) or PDF (``--out`` needed). Runs under an audited system context naming the
command with ``report:read``, through the PHI gate; only ``ar-aging --by patient`` decrypts (patient names, one
audited export read). Files are created readable by their owner only (0600)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.reports.activity import collections, denials
from claimvault.billing.reports.aging import ar_aging, days_in_ar
from claimvault.billing.reports.pdf import render_pdf
from claimvault.billing.reports.sheets import (
    Sheet,
    aging_sheet,
    collections_sheet,
    days_in_ar_sheet,
    denials_sheet,
    to_csv,
)
from claimvault.cli.common import clean_errors, console, runtime
from claimvault.cli.declare import uses_permissions
from claimvault.errors import ValidationFailed
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

app = typer.Typer(help="A/R reports: aging, denials, collections, days in A/R.", no_args_is_help=True)

Format = Literal["csv", "pdf"]
OrgOption = Annotated[str, typer.Option("--org", help="Organization slug.")]
FormatOption = Annotated[str, typer.Option("--format", help="csv or pdf.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Report date YYYY-MM-DD (default: today, UTC).")]
OutOption = Annotated[Path | None, typer.Option("--out", help="Write here (0600); CSV defaults to stdout.")]
FromOption = Annotated[str | None, typer.Option("--from", help="Period start YYYY-MM-DD.")]


def _day(text: str | None, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("Dates are written YYYY-MM-DD.") from None


def _format(text: str) -> Format:
    if text not in ("csv", "pdf"):
        raise ValidationFailed("The format is csv or pdf.")
    return "pdf" if text == "pdf" else "csv"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable and writable by the owner only (an existing file is narrowed first)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)


def _check(fmt: str, out: Path | None) -> str:
    chosen = _format(fmt)
    if chosen == "pdf" and out is None:
        raise ValidationFailed("A PDF needs --out FILE.")
    return chosen


def _emit(sheet: Sheet, organization: str, chosen: str, out: Path | None) -> None:
    data = render_pdf(sheet, organization=organization) if chosen == "pdf" else to_csv(sheet)
    if out is None:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    write_private(out, data)
    console.print(f"{sheet.title}: {len(sheet.rows)} row(s) written to {out}.")


def _today() -> date:
    return datetime.now(UTC).date()


@app.command("ar-aging")
@uses_permissions(Permission.REPORT_READ)
@clean_errors
def ar_aging_command(
    org: OrgOption,
    fmt: FormatOption = "csv",
    by: Annotated[str, typer.Option("--by", help="payer or patient (patient names: audited).")] = "payer",
    as_of: AsOfOption = None,
    out: OutOption = None,
) -> None:
    """A/R aging in 0-30, 31-60, 61-90, 91-120 and 120+ day buckets, insurance and patient responsibility."""
    if by not in ("payer", "patient"):
        raise ValidationFailed("--by is payer or patient.")
    day = _day(as_of, _today())
    command = f"reports ar-aging --by {by}"
    by_value: Literal["payer", "patient"] = "patient" if by == "patient" else "payer"
    chosen = _check(fmt, out)
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(command, organization_id=organization.id, permissions={Permission.REPORT_READ})
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            sheet = aging_sheet(ar_aging(gate=gate, as_of=day, by=by_value))
    _emit(sheet, organization.name, chosen, out)


@app.command("denials")
@uses_permissions(Permission.REPORT_READ)
@clean_errors
def denials_command(
    org: OrgOption, fmt: FormatOption = "csv", start: FromOption = None, as_of: AsOfOption = None, out: OutOption = None
) -> None:
    """Denials by reason (CARC group and code) and by payer; the period defaults to the 90 days ending --as-of."""
    day = _day(as_of, _today())
    first = _day(start, day - timedelta(days=89))
    chosen = _check(fmt, out)
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("reports denials", organization_id=organization.id, permissions={Permission.REPORT_READ})
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            sheet = denials_sheet(denials(gate=gate, start=first, as_of=day))
    _emit(sheet, organization.name, chosen, out)


@app.command("collections")
@uses_permissions(Permission.REPORT_READ)
@clean_errors
def collections_command(
    org: OrgOption, fmt: FormatOption = "csv", start: FromOption = None, as_of: AsOfOption = None, out: OutOption = None
) -> None:
    """Payments collected by month (insurance, patient) and by payer; the period defaults to the 12 months ending
    --as-of (from the first day of the month eleven months earlier)."""
    day = _day(as_of, _today())
    months_back = day.year * 12 + day.month - 1 - 11
    first = _day(start, date(months_back // 12, months_back % 12 + 1, 1))
    chosen = _check(fmt, out)
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            "reports collections", organization_id=organization.id, permissions={Permission.REPORT_READ}
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            sheet = collections_sheet(collections(gate=gate, start=first, as_of=day))
    _emit(sheet, organization.name, chosen, out)


@app.command("days-in-ar")
@uses_permissions(Permission.REPORT_READ)
@clean_errors
def days_in_ar_command(
    org: OrgOption,
    fmt: FormatOption = "csv",
    period: Annotated[int, typer.Option("--days", help="Trailing period for average daily charges.")] = 90,
    as_of: AsOfOption = None,
    out: OutOption = None,
) -> None:
    """Days in A/R: total A/R / average daily charges over the trailing --days days."""
    day = _day(as_of, _today())
    chosen = _check(fmt, out)
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            "reports days-in-ar", organization_id=organization.id, permissions={Permission.REPORT_READ}
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            sheet = days_in_ar_sheet(days_in_ar(gate=gate, as_of=day, period_days=period))
    _emit(sheet, organization.name, chosen, out)
