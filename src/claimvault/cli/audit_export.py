"""``claimvault audit export``: send the sequenced audit log to a SIEM or an audit repository, from a named,
resumable cursor, as FHIR R4 AuditEvent bundles, JSON lines or RFC 5424 syslog over TLS.

The command drains pending events into the log first, then sends batches after the cursor; the cursor moves after
each batch that was delivered. Events hold ids and codes only; nothing here prints or logs their contents. The
export is itself audited (``export`` on ``audit_events``) under a system context holding ``audit:read``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from claimvault.accounts.services import get_organization_by_slug
from claimvault.cli.common import clean_errors, console, err_console, runtime
from claimvault.cli.declare import no_protected_data
from claimvault.errors import ConfigurationError
from claimvault.security.audit.export.cursor import check_format, check_name
from claimvault.security.audit.export.service import DEFAULT_BATCH, plan_export, run_export
from claimvault.security.audit.export.sinks import DirectorySink, Sink, StreamSink, SyslogSink
from claimvault.security.audit.export.syslog import (
    MESSAGE_BODIES,
    SyslogTLSConnection,
    check_app_name,
    tls_context,
)
from claimvault.security.context import system_context
from claimvault.security.permissions import Permission

COMMAND = "audit export"


def _sink(
    fmt: str,
    *,
    out: str | None,
    host: str | None,
    port: int,
    ca_file: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    app_name: str,
    message: str,
) -> Sink:
    if fmt == "syslog":
        if not host:
            raise ConfigurationError("--format syslog needs --host (and usually --ca-file).")
        if message not in MESSAGE_BODIES:
            raise ConfigurationError("--message must be 'json' or 'fhir'.")
        context = tls_context(ca_file=ca_file, client_cert=client_cert, client_key=client_key)
        connection = SyslogTLSConnection(host=host, port=port, context=context)
        return SyslogSink(connection, app_name=app_name, body=message)
    if not out:
        raise ConfigurationError(f"--format {fmt} needs --out (a directory, or '-' for standard output).")
    if out == "-":
        return StreamSink(sys.stdout.buffer, fmt=fmt, node=app_name)
    return DirectorySink(Path(out), fmt=fmt, node=app_name)


@no_protected_data
@clean_errors
def export(
    fmt: str = typer.Option(..., "--format", help="fhir (R4 AuditEvent batch bundles), jsonl, or syslog (TLS)."),
    cursor: str = typer.Option(..., "--cursor", help="Name of the resumable cursor (one per destination)."),
    org: str | None = typer.Option(None, "--org", help="Only this organization's events (slug). Default: all."),
    out: str | None = typer.Option(None, "--out", help="fhir/jsonl: a directory for one file per batch, or '-'."),
    host: str | None = typer.Option(None, "--host", help="syslog: the receiver's host name (checked against TLS)."),
    port: int = typer.Option(6514, "--port", help="syslog: the receiver's TLS port (RFC 5425: 6514)."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="syslog: CA bundle to trust (default: system)."),
    client_cert: Path | None = typer.Option(None, "--client-cert", help="syslog: client certificate (mutual TLS)."),
    client_key: Path | None = typer.Option(None, "--client-key", help="syslog: the client certificate's key."),
    app_name: str = typer.Option("claimvault", "--app-name", help="syslog APP-NAME; FHIR source observer id."),
    message: str = typer.Option("json", "--message", help="syslog MSG: json (the JSON line) or fhir (AuditEvent)."),
    batch: int = typer.Option(DEFAULT_BATCH, "--batch", min=1, help="Events per batch (per file, per cursor move)."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Send at most this many events in this run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send and move nothing."),
) -> None:
    """Export the audit log after the cursor, batch by batch; rerun to resume where the last run stopped."""
    check_format(fmt)
    check_name(cursor)
    check_app_name(app_name)
    screen: Console = err_console if out == "-" else console
    with runtime() as rt:
        organization_id = get_organization_by_slug(db=rt.db, slug=org).id if org else None
        if rt.sequencer is not None:
            rt.sequencer.drain()
        if dry_run:
            plan = plan_export(db=rt.db, cursor=cursor, fmt=fmt, organization_id=organization_id, limit=limit)
            state = "" if plan.cursor.exists else " (new cursor)"
            if plan.count:
                screen.print(
                    f"Dry run: cursor '{cursor}'{state} at position {plan.cursor.next_position} would send "
                    f"{plan.count} event(s), positions {plan.first}-{plan.last}. Nothing was sent or moved."
                )
            else:
                screen.print(f"Dry run: cursor '{cursor}'{state} is up to date; nothing would be sent.")
            return
        ctx = system_context(COMMAND, organization_id=organization_id, permissions={Permission.AUDIT_READ})
        sink = _sink(
            fmt,
            out=out,
            host=host,
            port=port,
            ca_file=ca_file,
            client_cert=client_cert,
            client_key=client_key,
            app_name=app_name,
            message=message,
        )
        try:
            with Progress(TextColumn("Exporting"), BarColumn(), MofNCompleteColumn(), console=screen) as bar:
                task = bar.add_task("export", total=None)
                result = run_export(
                    db=rt.db,
                    ctx=ctx,
                    cursor=cursor,
                    fmt=fmt,
                    organization_id=organization_id,
                    sink=sink,
                    batch_size=batch,
                    limit=limit,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            sink.close()
    if result.count:
        screen.print(
            f"Exported {result.count} event(s) in {result.batches} batch(es), positions {result.first}-{result.last}; "
            f"cursor '{cursor}' is now at {result.next_position}."
        )
    else:
        screen.print(f"Cursor '{cursor}' is up to date at {result.next_position}; nothing to send.")
