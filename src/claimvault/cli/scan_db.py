"""``claimvault scan-db URL``: sample the tables of a PostgreSQL, SQLite or MySQL/MariaDB database, report for
every column its hints, hit rate, best type, level, score and protection (ClaimVault ciphertext, other binary or
plaintext), print a table or JSON, and exit 1 when ``--fail-on LEVEL`` is reached.

It reads raw stored bytes through its own read-only connection and never decrypts (ciphertext is recognised by
its structure), so it declares ``no_protected_data``; its output carries counts, types, scores and redacted
previews, never a value, and the URL's password is masked wherever the URL is shown.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from claimvault.cli.common import clean_errors, console, err_console
from claimvault.cli.declare import no_protected_data
from claimvault.discovery.classification import Level
from claimvault.discovery.database import DEFAULT_SAMPLE, MAX_SAMPLE, DatabaseScan, scan_database


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _run(url: str, schema: str | None, tables: list[str], sample: int) -> DatabaseScan:
    if not err_console.is_terminal:
        return scan_database(url, schema=schema, tables=tables, sample=sample)
    columns = (TextColumn("Scanning tables"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("scan-db", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return scan_database(url, schema=schema, tables=tables, sample=sample, progress=advance)


def _print_table(scan: DatabaseScan) -> None:
    table = Table(title=f"Database scan: {scan.url} (level {scan.level}, score {scan.score})")
    for name in ("Table", "Column", "Level", "Score", "Protection", "Best type", "Hit rate", "Hints", "Rows"):
        table.add_column(name)
    for t in scan.tables:
        rows = "" if t.row_estimate is None else f"{'' if t.row_estimate_exact else '~'}{t.row_estimate}"
        if t.status != "scanned":
            table.add_row(t.qualified_name, "-", "-", "-", t.status, t.reason or "-", "-", "-", rows)
            continue
        for c in t.columns:
            flag = " [red](unprotected)[/red]" if c.unprotected else ""
            table.add_row(
                t.qualified_name, c.name, str(c.level), str(c.score), c.protection + flag, c.best_type or "-",
                f"{c.hit_rate:.0%} of {c.sampled}", ", ".join(c.hints) or "-", rows,
            )  # fmt: skip
    console.print(table)


@no_protected_data
@clean_errors
def scan_db(
    url: str = typer.Argument(
        ..., help="SQLAlchemy URL: postgresql+psycopg://..., sqlite:///file.db, mysql+pymysql://..."
    ),
    schema: str | None = typer.Option(None, "--schema", help="Only this schema (default: every non-system schema)."),
    table: list[str] = typer.Option([], "--table", help="Only this table (name or schema.name); repeatable."),
    sample: int = typer.Option(
        DEFAULT_SAMPLE, "--sample", min=1, max=MAX_SAMPLE, help="Rows sampled per table (TABLESAMPLE on PostgreSQL)."
    ),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, or json for machines."),
    fail_on: Level | None = typer.Option(
        None, "--fail-on", help="Exit 1 when any column reaches this level (restricted, confidential, internal...)."
    ),
) -> None:
    """Scan a database's columns for PHI, PII and payment data, and whether they hold ClaimVault ciphertext."""
    scan = _run(url, schema, table, sample)
    if format == OutputFormat.json:
        sys.stdout.write(json.dumps(scan.to_json(), indent=2) + "\n")
    else:
        _print_table(scan)
    if fail_on is not None and scan.level.rank >= fail_on.rank:
        raise typer.Exit(1)
