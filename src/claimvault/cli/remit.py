"""``claimvault remit import``: post an 835 remittance file (or show what it would post with ``--dry-run``). Runs
under an audited system context naming the command, through the PHI gate, in one transaction; prints counts,
codes, our own claim numbers and totals, never PHI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.remittance.importer import import_835
from claimvault.cli.common import clean_errors, console, runtime
from claimvault.cli.declare import uses_permissions
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

app = typer.Typer(help="Remittances: post 835 files.", no_args_is_help=True)


@app.command("import")
@uses_permissions(Permission.REMITTANCE_POST)
@clean_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="An 835 remittance file.", exists=True, dir_okay=False)],
    org: Annotated[str, typer.Option("--org", help="Organization slug.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would post; write nothing.")] = False,
) -> None:
    """Validate (pyx12), balance-check, match and post every claim payment of the file, all or nothing."""
    data = file.read_bytes()
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        command = "remit import --dry-run" if dry_run else "remit import"
        ctx = system_context(command, organization_id=organization.id, permissions={Permission.REMITTANCE_POST})
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            report = import_835(gate=gate, blobs=rt.blobs, data=data, dry_run=dry_run)
    if report.already_imported:
        console.print("This remittance was posted before (same file, or same payer and trace number): nothing posted.")
        return
    prefix = "Dry run, nothing written. Would post" if dry_run else "Posted"
    console.print(
        f"{prefix}: {report.posted} claim payment(s) ({report.reversals} reversal(s)); "
        f"{report.duplicates} skipped as already posted; {len(report.unmatched)} unmatched; "
        f"{report.denials_queued} denial(s) queued; {report.lines_unmatched} line(s) posted at claim level."
    )
    if report.transaction_sets_already_posted:
        console.print(f"{report.transaction_sets_already_posted} payment(s) in the file were posted before: skipped.")
    console.print(
        f"Totals: paid {report.paid}, adjusted {report.adjusted}, patient responsibility "
        f"{report.patient_responsibility}, provider adjustments {report.provider_adjustments}, "
        f"payments {report.payment_amount}."
    )
    for item in report.unmatched:
        console.print(
            f"Unmatched: payment {item.transaction} claim payment {item.position} (CLP02 {item.status_code}): "
            f"{item.reason}"
        )
    if report.status_refused:
        console.print(f"Status kept (lifecycle): {', '.join(report.status_refused)}")
