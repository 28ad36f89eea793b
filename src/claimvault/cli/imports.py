"""``claimvault import``: migrate data from other systems. ``import fhir`` writes a FHIR R4 bundle (Synthea or an
EHR export) all or nothing under an audited system context naming the command; it prints counts and value-free
problem reports only (entries, element paths, existing record ids), never patient data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.fhir.bundle import read_bundle
from claimvault.billing.fhir.importer import ImportRefused, ImportResult, apply_plan, problem_line
from claimvault.billing.fhir.plan import BundleRejected, Problem
from claimvault.cli.common import clean_errors, console, err_console, runtime
from claimvault.cli.declare import uses_permissions
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

app = typer.Typer(help="Import data from other systems (FHIR R4 bundles).", no_args_is_help=True)

MAX_BUNDLE_BYTES = 256 * 1024 * 1024  # a Synthea patient history is a few MiB; a whole EHR export is split
MAX_SHOWN_PROBLEMS = 200
IMPORT_PERMISSIONS = {
    Permission.PATIENT_CREATE,
    Permission.COVERAGE_MANAGE,
    Permission.ENCOUNTER_MANAGE,
    Permission.PROVIDER_READ,
    Permission.PAYER_READ,
}


def _refuse(title: str, problems: tuple[Problem, ...]) -> typer.Exit:
    err_console.print(f"[red]{title}[/red] ({len(problems)} problem(s)); nothing was written.", highlight=False)
    for problem in problems[:MAX_SHOWN_PROBLEMS]:
        err_console.print(f"  {problem_line(problem)}", highlight=False, markup=False)
    if len(problems) > MAX_SHOWN_PROBLEMS:
        err_console.print(f"  ... and {len(problems) - MAX_SHOWN_PROBLEMS} more", highlight=False)
    return typer.Exit(1)


def _print_result(result: ImportResult) -> None:
    def pair(created: int, existing: int) -> str:
        return f"{created} new, {existing} imported before"

    prefix = "Dry run (nothing written): would import" if result.dry_run else "Imported"
    console.print(f"{prefix}:", highlight=False)
    console.print(
        f"  patients: {pair(result.patients.created, result.patients.existing)},"
        f" {result.patients_attached} attached to existing patients",
        highlight=False,
    )
    console.print(
        f"  coverages: {pair(result.coverages.created, result.coverages.existing)},"
        f" {result.coverages_linked_to_payer} linked to a configured payer",
        highlight=False,
    )
    console.print(
        f"  encounters: {pair(result.encounters.created, result.encounters.existing)},"
        f" {result.unbillable_encounters} unbillable until coded",
        highlight=False,
    )
    console.print(
        f"  diagnoses: {pair(result.diagnoses.created, result.diagnoses.existing)},"
        f" {result.diagnoses_needing_coding} need ICD-10-CM coding",
        highlight=False,
    )
    if result.skipped:
        skipped = ", ".join(f"{kind} {count}" for kind, count in sorted(result.skipped.items()))
        console.print(f"  not imported: {skipped}", highlight=False)
    if result.warnings:
        console.print(f"  {result.warnings} value(s) left out by the reader (invalid or unusable)", highlight=False)
    if not result.dry_run and not result.changed:
        console.print("This bundle was imported before; nothing changed.", highlight=False)


@app.command("fhir")
@uses_permissions(*IMPORT_PERMISSIONS)
@clean_errors
def fhir(
    bundle: Annotated[Path, typer.Argument(help="A FHIR R4/R4B Bundle (JSON).", exists=True, dir_okay=False)],
    org: Annotated[str, typer.Option("--org", help="Organization slug.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count; write nothing.")] = False,
    attach_duplicates: Annotated[
        bool,
        typer.Option(
            "--attach-duplicates",
            help="A bundle patient matching exactly one existing patient gets its coverages and encounters"
            " attached to that patient instead of refusing the import.",
        ),
    ] = False,
    billing_provider: Annotated[
        str | None,
        typer.Option(
            "--billing-provider",
            help="NPI of the billing provider for the encounters (default: the organization's only billing"
            " provider, else the one with the encounter's organization NPI).",
        ),
    ] = None,
) -> None:
    """Import a FHIR bundle's patients, coverages, encounters and diagnoses, all or nothing. Importing the same
    bundle again changes nothing. Non-ICD-10-CM diagnoses (SNOMED CT) are kept and flagged for coding."""
    size = bundle.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        err_console.print(
            f"[red]Error:[/red] the bundle is {size // (1024 * 1024)} MiB; at most"
            f" {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB are read. Split the export.",
            highlight=False,
        )
        raise typer.Exit(1)
    try:
        plan = read_bundle(bundle.read_bytes())
    except BundleRejected as rejected:
        raise _refuse("The bundle was rejected", rejected.problems) from None
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("import fhir", organization_id=organization.id, permissions=IMPORT_PERMISSIONS)
        try:
            with (
                Progress(
                    TextColumn("importing"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=err_console,
                    transient=True,
                ) as bar,
                open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate,
            ):
                task = bar.add_task("records", total=None)
                result = apply_plan(
                    gate=gate,
                    plan=plan,
                    billing_provider_npi=billing_provider.strip() if billing_provider else None,
                    attach_duplicates=attach_duplicates,
                    dry_run=dry_run,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except ImportRefused as refused:
            raise _refuse("The import was refused", refused.problems) from None
    _print_result(result)
