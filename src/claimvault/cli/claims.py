"""``claimvault claims``: scrub claims, release 837P files, import acknowledgements. Each command runs under an
audited system context naming it, through the PHI gate; nothing here prints PHI (claim numbers are ours)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.claims.acknowledgements import import_ack
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.service import scrub_claims
from claimvault.cli.common import clean_errors, console, err_console, runtime
from claimvault.cli.declare import uses_permissions
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

app = typer.Typer(help="Claims: scrub, release 837P files, import 999/277CA acknowledgements.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization slug.")]


@app.command()
@uses_permissions(Permission.CLAIM_MANAGE, Permission.CLAIM_READ)
@clean_errors
def scrub(
    org: OrgOption,
    today: Annotated[str | None, typer.Option("--today", help="Scrub as of this date (YYYY-MM-DD).")] = None,
) -> None:
    """Scrub every draft, scrubbed or ready claim: clean ones become ready, ones with errors stay in draft."""
    as_of = date.fromisoformat(today) if today else None
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            "claims scrub",
            organization_id=organization.id,
            permissions={Permission.CLAIM_MANAGE, Permission.CLAIM_READ},
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            results = scrub_claims(gate=gate, today=as_of)
    table = Table("claim", "status", "errors", "warnings", "rules")
    for r in results:
        table.add_row(
            r.control_number, r.status, str(r.errors), str(r.warnings), ",".join(sorted({f.rule for f in r.findings}))
        )
    console.print(table)
    ready = sum(r.status == "ready" for r in results)
    console.print(f"{len(results)} claim(s) scrubbed: {ready} ready, {sum(r.errors > 0 for r in results)} with errors.")


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(content)


@app.command("export-837")
@uses_permissions(Permission.CLAIM_SUBMIT, Permission.DISCLOSURE_RECORD)
@clean_errors
def export_837(
    org: OrgOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for the released files (created 0700).")],
    payer: Annotated[str | None, typer.Option("--payer", help="Only this payer id.")] = None,
) -> None:
    """Release every ready claim: one pyx12-validated 837P file per payer (0600), audited as a disclosure for
    payment. A file that fails validation is not written; its claims stay ready and the reasons are shown."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            "claims export-837",
            organization_id=organization.id,
            permissions={Permission.CLAIM_SUBMIT, Permission.DISCLOSURE_RECORD},
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            result = export_837p(gate=gate, blobs=rt.blobs, payer=payer)
            for released in result.released:  # written inside the transaction: a failed write releases nothing
                name = f"837P-{released.payer_id}-{released.interchange_control:09d}.x12"
                _write_private(out / name, released.content)
                console.print(f"{name}: {released.claim_count} claim(s)")
    for refused in result.refused:
        err_console.print(
            f"[red]Refused[/red] payer {refused.payer_id} ({refused.claim_count} claims): {refused.report.summary()}"
        )
    for skipped in result.skipped:
        err_console.print(f"Payer {skipped} has no trading partner: its ready claims stay ready.")
    if result.refused:
        raise typer.Exit(1)


@app.command("import-ack")
@uses_permissions(Permission.CLAIM_SUBMIT)
@clean_errors
def import_ack_command(
    file: Annotated[Path, typer.Argument(help="A 999 or 277CA file.", exists=True, dir_okay=False)],
    org: OrgOption,
) -> None:
    """Apply a 999 (transaction accepted or rejected) or 277CA (claims accepted or rejected, with reasons)."""
    data = file.read_bytes()
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            "claims import-ack", organization_id=organization.id, permissions={Permission.CLAIM_SUBMIT}
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            result = import_ack(gate=gate, blobs=rt.blobs, data=data)
    if result.already_imported:
        console.print(f"This {result.kind} was imported before; nothing changed.")
        return
    console.print(
        f"{result.kind}: {len(result.accepted)} accepted, {len(result.rejected)} rejected,"
        f" {len(result.pending)} pending, {result.unmatched} unmatched,"
        f" {len(result.not_applied)} not applicable to the claim's status."
    )
