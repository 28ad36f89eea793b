"""``claimvault scan PATH...``: scan local files, directories and zip archives for PHI, PII and payment data,
print a table, JSON, SARIF 2.1.0 (GitHub code scanning) or a self-contained HTML page, and exit 1 when
``--fail-on LEVEL`` is reached (for CI and pre-commit hooks); usage errors, such as an invalid ``--mrn-format``
template, exit 2.

It reads local files only, never the database, so it declares ``no_protected_data``; its output carries types,
spans, scores and redacted previews, never a full value.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from claimvault.cli.common import clean_errors, console, err_console
from claimvault.cli.declare import no_protected_data
from claimvault.discovery.classification import Level
from claimvault.discovery.profile import InvalidMrnFormat, ScanProfile
from claimvault.discovery.report_formats import render_html, render_json, render_sarif
from claimvault.discovery.scanner import FileResult, expand_paths, scan_file


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    html = "html"


def _profile(templates: list[str] | None) -> ScanProfile:
    """Parse-time check of ``--mrn-format``: an unusable template is a usage error (exit 2) with a safe message."""
    try:
        return ScanProfile(mrn_formats=tuple(templates or ()))
    except InvalidMrnFormat as exc:
        raise typer.BadParameter(exc.message, param_hint="--mrn-format") from None


def _check_mrn_formats(templates: list[str] | None) -> list[str] | None:
    _profile(templates)
    return templates


def _scan_all(files: list[Path], profile: ScanProfile) -> list[FileResult]:
    results: list[FileResult] = []
    if not err_console.is_terminal:
        for path in files:
            results.extend(scan_file(path, profile=profile))
        return results
    columns = (TextColumn("Scanning"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("scan", total=len(files))
        for path in files:
            results.extend(scan_file(path, profile=profile))
            progress.advance(task)
    return results


def _print_table(results: list[FileResult]) -> None:
    table = Table(title="Sensitive-data scan")
    for name in ("Path", "Status", "Level", "Score", "Findings"):
        table.add_column(name)
    for r in results:
        counts: dict[str, int] = {}
        for f in r.findings:
            counts[f.type] = counts.get(f.type, 0) + 1
        summary = ", ".join(f"{t} x{n}" for t, n in sorted(counts.items())) or (r.reason or "-")
        table.add_row(Text(r.path), r.status, str(r.level), str(r.score), Text(summary))  # names are not markup
    console.print(table)


@no_protected_data
@clean_errors
def scan(
    paths: list[Path] = typer.Argument(..., help="Files, directories (walked recursively) or zip archives."),
    format: OutputFormat = typer.Option(
        OutputFormat.table, "--format", help="table; json for machines; sarif for code scanning; html for people."
    ),
    fail_on: Level | None = typer.Option(
        None, "--fail-on", help="Exit 1 when any file reaches this level (restricted, confidential, internal...)."
    ),
    mrn_format: list[str] | None = typer.Option(
        None,
        "--mrn-format",
        help="Your medical record number format, repeatable: 9 a digit, A a letter, X either (MRN-9999999).",
        callback=_check_mrn_formats,
    ),
) -> None:
    """Scan files for PHI, PII and payment data; findings show redacted previews only."""
    results = _scan_all(expand_paths(paths), _profile(mrn_format))
    if format == OutputFormat.json:
        sys.stdout.write(render_json(results))
    elif format == OutputFormat.sarif:
        sys.stdout.write(render_sarif(results))
    elif format == OutputFormat.html:
        sys.stdout.write(render_html(results))
    else:
        _print_table(results)
    if fail_on is not None and any(r.level.rank >= fail_on.rank for r in results):
        raise typer.Exit(1)
