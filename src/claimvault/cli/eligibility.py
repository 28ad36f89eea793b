"""``claimvault eligibility``: check a patient's coverage with a 270/271 exchange and print the status and the
plan's figures (copay, deductible, coinsurance, out-of-pocket). Runs under an audited system context naming the
command, through the PHI gate; never prints names, member ids, birth dates or the plan's name."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.clearinghouse.drop_dir import DropDirectory
from claimvault.billing.eligibility.schemas import ERROR_CODES, EligibilityResultOut, describe_reason
from claimvault.billing.eligibility.service import check_eligibility
from claimvault.billing.eligibility.transport import ClearinghouseEligibility, EligibilityTransport, FakeClearinghouse
from claimvault.cli.common import clean_errors, console, err_console, runtime
from claimvault.cli.declare import no_protected_data, uses_permissions
from claimvault.errors import ValidationFailed
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

app = typer.Typer(help="Eligibility: 270 inquiries and 271 answers, kept with the coverage.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization slug.")]


@app.callback()
@no_protected_data
def eligibility() -> None:
    """Eligibility: 270 inquiries and 271 answers, kept with the coverage."""


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(f"The {what} is not a valid id.") from None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ValidationFailed("The date must be YYYY-MM-DD.") from None


def _transport(kind: str, drop_dir: Path | None, wait: float) -> EligibilityTransport:
    if kind == "fake":
        return FakeClearinghouse()
    if drop_dir is None:
        raise ValidationFailed("--drop-dir is required with --transport drop-dir.")
    return ClearinghouseEligibility(DropDirectory(drop_dir), wait_seconds=wait)


def _money(value: object) -> str:
    return "-" if value is None else f"{value}"


def show(result: EligibilityResultOut) -> None:
    """Status and plan figures only: no identifiers of the patient."""
    console.print(f"Eligibility: {result.status} (service date {result.service_date}, check {result.id})")
    if result.status in ("active", "inactive"):
        console.print(f"  copay: {_money(result.copay)}")
        console.print(f"  deductible: {_money(result.deductible)} (remaining {_money(result.deductible_remaining)})")
        percent = "-" if result.coinsurance_percent is None else f"{result.coinsurance_percent}%"
        console.print(f"  coinsurance: {percent}")
        console.print(f"  out-of-pocket maximum: {_money(result.out_of_pocket)}")
    for code in result.reject_reasons:
        err_console.print(f"Rejected by the payer: AAA {code} ({describe_reason(code)}).")
    if result.error_code:
        err_console.print(f"Check failed: {result.error_code} ({ERROR_CODES.get(result.error_code, 'unknown')}).")


@app.command()
@uses_permissions(Permission.ELIGIBILITY_CHECK)
@clean_errors
def check(
    patient_id: Annotated[str, typer.Argument(help="The patient's id.")],
    org: OrgOption,
    coverage: Annotated[str | None, typer.Option("--coverage", help="Coverage id (default: the one in force).")] = None,
    day: Annotated[str | None, typer.Option("--date", help="Service date asked about (YYYY-MM-DD; today).")] = None,
    transport: Annotated[
        Literal["fake", "drop-dir"], typer.Option("--transport", help="fake (local synthetic payer) or drop-dir.")
    ] = "fake",
    drop_dir: Annotated[Path | None, typer.Option("--drop-dir", help="Clearinghouse drop directory.")] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the 271 (drop-dir).")] = 60.0,
) -> None:
    """Send a 270 for the patient's coverage and show the 271's answer; exit 1 when rejected or failed."""
    pid = _uuid(patient_id, "patient id")
    cid = _uuid(coverage, "coverage id") if coverage else None
    service_date = _day(day)
    channel = _transport(transport, drop_dir, wait)
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            "eligibility check", organization_id=organization.id, permissions={Permission.ELIGIBILITY_CHECK}
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            result = check_eligibility(
                gate=gate, transport=channel, blobs=rt.blobs, patient_id=pid, coverage_id=cid, service_date=service_date
            )
    if transport == "fake":
        console.print("(answered by the local fake clearinghouse: synthetic figures)")
    show(result)
    if result.status in ("rejected", "error"):
        raise typer.Exit(1)
