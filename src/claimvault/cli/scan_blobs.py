"""``claimvault scan-blobs --org SLUG [--all]``: scan an organization's encrypted blob store for PHI, PII and payment
data and keep the results for the compliance views (``GET /api/v1/orgs/{org}/discovery/scans``). Meant for cron or
a systemd timer: incremental by default (blobs already scanned by this engine version under the same profile are
skipped), ``--all`` rescans everything.

It decrypts each file through the PHI gate under an audited system context naming the command (permission
``discovery:scan_store``, which no role holds) and prints counts only, never a value, a preview or a file name.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from claimvault.accounts.services import get_organization_by_slug
from claimvault.cli.common import clean_errors, console, err_console, runtime
from claimvault.cli.declare import uses_permissions
from claimvault.discovery.blob_scan import PERMISSION, BlobScanReport, scan_blob_store
from claimvault.security.context import system_context
from claimvault.security.gate import PHIGate, open_gate

COMMAND = "scan-blobs"


def _summary(report: BlobScanReport) -> str:
    levels = ", ".join(f"{level} {count}" for level, count in report.level_counts.items()) or "none"
    return (
        f"Scan run {report.run_id}: {report.total} stored file(s); {report.scanned} scanned, {report.skipped} already"
        f" scanned (skipped), {report.unreadable} unreadable, {report.failed} failed their integrity check."
        f" Levels of the files scanned: {levels}."
    )


@uses_permissions(PERMISSION)
@clean_errors
def scan_blobs(
    org: Annotated[str, typer.Option("--org", help="Organization slug.")],
    all_: Annotated[
        bool, typer.Option("--all", help="Rescan every stored file, not only those not yet scanned.")
    ] = False,
) -> None:
    """Scan the organization's stored files (decrypted in memory) and keep levels, scores and counts per type."""
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context(
            COMMAND + (" --all" if all_ else ""), organization_id=organization.id, permissions={PERMISSION}
        )

        def gates() -> AbstractContextManager[PHIGate]:
            return open_gate(db=rt.db, keys=rt.keys, ctx=ctx)

        if not err_console.is_terminal:
            report = scan_blob_store(gates=gates, blobs=rt.blobs, full=all_)
        else:
            columns = (TextColumn("Scanning stored files"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=err_console, transient=True) as bar:
                task = bar.add_task("scan", total=None)
                report = scan_blob_store(
                    gates=gates,
                    blobs=rt.blobs,
                    full=all_,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
    console.print(_summary(report))
