"""``claimvault statements run``: the batch of patient statements of one organization for one day. Runs under an
audited system context naming the command, through the PHI gate; optionally writes the PDFs (0600) into a private
(0700) directory, named by statement id. Prints counts and totals, never names or other PHI."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.statements.service import (
    practice_info_from_billing_provider,
    run_statements,
    statement_pdf,
)
from claimvault.cli.common import clean_errors, console, runtime
from claimvault.cli.declare import uses_permissions
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

app = typer.Typer(help="Patient statements: batch runs.", no_args_is_help=True)


@app.callback()
def statements() -> None:
    """Patient statements: batch runs (kept a command group, so ``run`` is named even when used on its own)."""


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@app.command("run")
@uses_permissions(Permission.STATEMENT_RUN)
@clean_errors
def run_command(
    org: Annotated[str, typer.Option("--org", help="Organization slug.")],
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Statement date (default: today, UTC).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the new PDFs here (directory 0700, files 0600).")
    ] = None,
    portal_url: Annotated[str | None, typer.Option("--portal-url", help="Where patients pay online.")] = None,
) -> None:
    """One statement per patient with a positive balance and none of this date yet (a second run adds nothing)."""
    day: date = as_of.date() if as_of else datetime.now(UTC).date()
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("statements run", organization_id=organization.id, permissions={Permission.STATEMENT_RUN})
        with (
            Progress(
                TextColumn("Statements"), BarColumn(), MofNCompleteColumn(), console=console, transient=True
            ) as bar,
            open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate,
        ):
            task = bar.add_task("statements", total=None)
            practice = practice_info_from_billing_provider(gate=gate, portal_url=portal_url)
            result = run_statements(
                gate=gate,
                blobs=rt.blobs,
                as_of=day,
                practice_info=practice,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        written = 0
        if out is not None and result.statement_ids:
            target = _private_dir(out)
            export_ctx = system_context(
                "statements run --out", organization_id=organization.id, permissions={Permission.STATEMENT_RUN}
            )
            with open_gate(db=rt.db, keys=rt.keys, ctx=export_ctx) as gate:
                for statement_id in result.statement_ids:
                    data = statement_pdf(gate=gate, blobs=rt.blobs, statement_id=statement_id)
                    _write_private(target / f"statement-{statement_id}.pdf", data)
                    written += 1
    console.print(
        f"Statements dated {result.statement_date.isoformat()}: {result.statements_created} created; "
        f"{result.already_issued} already issued that day; {result.zero_or_credit} with a zero or credit balance "
        f"(none sent); {result.unreadable} unreadable (shredded). Total due on new statements: {result.total_due}."
    )
    if out is not None:
        console.print(f"{written} PDF file(s) written.")
