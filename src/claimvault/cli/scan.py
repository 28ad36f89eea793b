"""``claimvault scan PATH...``: scan local files, directories and zip archives for PHI, PII and payment data,
print a table or JSON, and exit 1 when ``--fail-on LEVEL`` is reached (for CI and pre-commit hooks).

It reads local files only, never the database, so it declares ``no_protected_data``; its output carries types,
spans, scores and redacted previews, never a full value.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from claimvault.cli.common import clean_errors, console, err_console
from claimvault.cli.declare import no_protected_data
from claimvault.discovery.classification import Level
from claimvault.discovery.scanner import FileResult, expand_paths, scan_file


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _scan_all(files: list[Path]) -> list[FileResult]:
    results: list[FileResult] = []
    if not err_console.is_terminal:
        for path in files:
            results.extend(scan_file(path))
        return results
    columns = (TextColumn("Scanning"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("scan", total=len(files))
        for path in files:
            results.extend(scan_file(path))
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
        table.add_row(r.path, r.status, str(r.level), str(r.score), summary)
    console.print(table)


@no_protected_data
@clean_errors
def scan(
    paths: list[Path] = typer.Argument(..., help="Files, directories (walked recursively) or zip archives."),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, or json for machines."),
    fail_on: Level | None = typer.Option(
        None, "--fail-on", help="Exit 1 when any file reaches this level (restricted, confidential, internal...)."
    ),
) -> None:
    """Scan files for PHI, PII and payment data; findings show redacted previews only."""
    results = _scan_all(expand_paths(paths))
    if format == OutputFormat.json:
        sys.stdout.write(json.dumps({"files": [r.to_json() for r in results]}, indent=2) + "\n")
    else:
        _print_table(results)
    if fail_on is not None and any(r.level.rank >= fail_on.rank for r in results):
        raise typer.Exit(1)
