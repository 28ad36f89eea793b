"""``claimvault codes``: load CMS code-set files (and a licensed CPT file) as versions in force from a date, list
the versions, and check one code on a date of service.

Reference data only (no patient data), so these commands declare ``no_protected_data``; a load is recorded in
the audit trail as ``codeset.load`` under a system context naming the command.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from claimvault.billing.codesets.formats import KIND_NAMES, Kind, procedure_kind
from claimvault.billing.codesets.loader import load_code_set
from claimvault.billing.codesets.lookup import DatabaseCodeLookup
from claimvault.billing.codesets.versions import list_versions
from claimvault.cli.common import clean_errors, console, runtime
from claimvault.cli.declare import no_protected_data
from claimvault.security.context import system_context

codes_app = typer.Typer(
    help="Code sets: HCPCS Level II, CPT (licensed file), ICD-10-CM, NCCI PTP edits and MUE limits, by date.",
    no_args_is_help=True,
)
DATE_FORMATS = ["%Y-%m-%d"]


class KindChoice(StrEnum):
    hcpcs = "hcpcs"
    cpt = "cpt"
    ncci_ptp = "ncci-ptp"
    mue = "mue"
    icd10cm = "icd10cm"

    @property
    def kind(self) -> Kind:
        return self.value.replace("-", "_")  # type: ignore[return-value]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@codes_app.command("load")
@no_protected_data
@clean_errors
def load(
    file: Path = typer.Argument(..., help="The file to load (see the README for the accepted layouts)."),
    kind: KindChoice = typer.Option(..., "--kind", help="What the file holds."),
    effective: datetime = typer.Option(..., "--effective", formats=DATE_FORMATS, help="First date in force."),
    until: datetime | None = typer.Option(
        None, "--until", formats=DATE_FORMATS, help="Last date in force (inclusive); open-ended by default."
    ),
    label: str | None = typer.Option(None, "--label", help="A name for the version, e.g. 'NCCI PTP 2026 Q1'."),
) -> None:
    """Load FILE as a new version of a code set. Loading the same file again adds nothing."""
    with runtime() as rt, Progress(
        TextColumn("loading {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(file.name, total=None)
        result = load_code_set(
            db=rt.db,
            kind=kind.kind,
            path=file,
            effective_from=effective.date(),
            effective_to=_day(until),
            label=label,
            ctx=system_context("codes load", organization_id=None, permissions=set()),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    version = result.version
    if not result.created:
        console.print(f"Already loaded as '{version.label}' ({version.row_count} rows); nothing added.")
        return
    until_text = version.effective_to.isoformat() if version.effective_to else "open-ended"
    console.print(
        f"Loaded '{version.label}': {version.row_count} rows, in force {version.effective_from.isoformat()} "
        f"to {until_text}."
    )


@codes_app.command("versions")
@no_protected_data
@clean_errors
def versions() -> None:
    """List code-set versions with the dates they are in force (the built-in ICD-10-CM release included)."""
    with runtime() as rt, rt.db.session(tenant_id=None, read_only=True) as session:
        found = list_versions(session)
    table = Table("kind", "label", "from", "to", "rows", "source", "sha-256", "loaded")
    for v in found:
        table.add_row(
            KIND_NAMES[v.kind],
            v.label,
            v.effective_from.isoformat(),
            v.effective_to.isoformat() if v.effective_to else "open",
            str(v.row_count) if not v.builtin else "built-in",
            v.source_name,
            v.source_sha256[:12] if v.source_sha256 else "",
            v.loaded_at.strftime("%Y-%m-%d %H:%M") if v.loaded_at else "",
        )
    Console(width=max(console.width, 200)).print(table)  # hashes and file names: never squeezed to 80 columns


@codes_app.command("check")
@no_protected_data
@clean_errors
def check(
    code: str = typer.Argument(..., help="A CPT, HCPCS Level II or ICD-10-CM code."),
    on: datetime = typer.Option(..., "--on", formats=DATE_FORMATS, help="Date of service."),
) -> None:
    """Check CODE on a date of service with the versions in force that day (and show its MUE limit)."""
    day = on.date()
    with runtime() as rt, rt.db.session(tenant_id=None, read_only=True) as session:
        lookup = DatabaseCodeLookup(session)
        is_procedure = procedure_kind(code) is not None
        result = lookup.procedure(code, day) if is_procedure else lookup.diagnosis(code, day)
        limit = lookup.mue(code, day) if is_procedure else None
    what = "procedure" if is_procedure else "diagnosis"
    console.print(f"{code.strip().upper()} ({what}) on {day.isoformat()}: {result.status}", highlight=False)
    if result.version:
        console.print(f"version: {result.version}", highlight=False)
    if limit is not None:
        console.print(
            f"MUE: {limit.max_units} units (adjudication indicator {limit.adjudication_indicator}, {limit.version})",
            highlight=False,
        )
    if result.status != "valid":
        raise typer.Exit(1)
