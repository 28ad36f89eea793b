"""The ``claimvault`` command: set-up, serving, demo data and organizations.

Commands run against the configured database (``./var/`` under the working directory by default). Commands
that touch protected data go through the PHI gate under an audited system context that names the command.
"""

from __future__ import annotations

import os
from typing import Any

import typer

from claimvault import __version__
from claimvault.cli import (
    access_review,
    audit,
    backup,
    claims,
    codes,
    demo,
    eligibility,
    imports,
    keys,
    orgs,
    remit,
    reports,
    statements,
    users,
)
from claimvault.cli import scan as scan_cli
from claimvault.cli import scan_blobs as scan_blobs_cli
from claimvault.cli import scan_db as scan_db_cli
from claimvault.cli.common import clean_errors, console, settings
from claimvault.cli.declare import no_protected_data
from claimvault.cli.setup import initialise
from claimvault.config import Settings
from claimvault.security.audit.checkpoints import CheckpointSigner, DirectorySink
from claimvault.security.audit.periodic import PeriodicCheckpointer

app = typer.Typer(
    help="ClaimVault: medical billing built so that patient data cannot leak.\n\n"
    "Start with 'claimvault init', then 'claimvault demo seed' and 'claimvault serve' (or just 'make run').",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # tracebacks with locals would print protected values
)
app.add_typer(demo.app, name="demo")
app.add_typer(orgs.app, name="orgs")
app.add_typer(users.app, name="users")
app.add_typer(access_review.app, name="access-review")
app.add_typer(backup.app, name="backup")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(codes.codes_app, name="codes")
app.add_typer(claims.app, name="claims")
app.add_typer(eligibility.app, name="eligibility")
app.add_typer(imports.app, name="import")
app.add_typer(remit.app, name="remit")
app.add_typer(statements.app, name="statements")
app.add_typer(reports.app, name="reports")
app.command("scan")(scan_cli.scan)
app.command("scan-db")(scan_db_cli.scan_db)
app.command("scan-blobs")(scan_blobs_cli.scan_blobs)


@app.command()
@no_protected_data
@clean_errors
def init() -> None:
    """Create ./var/, the local keyring, a development TLS certificate and the database schema. Safe to rerun."""
    for line in initialise(settings()):
        console.print(f"- {line}")
    console.print("ClaimVault is initialised.")


@app.command()
@no_protected_data
@clean_errors
def serve() -> None:
    """Serve the API over HTTPS (https://localhost:8443 by default) until interrupted."""
    from claimvault.runtime import build_runtime
    from claimvault.web.app import create_app

    current = settings()
    rt = build_runtime(current)
    app_ = create_app(settings=current, runtime=rt)
    checkpointer = PeriodicCheckpointer(
        db=rt.db,
        signer=CheckpointSigner.load_or_create(current.resolved_audit_signing_key_path),
        sink=DirectorySink(current.resolved_audit_checkpoint_dir),
        interval=current.audit_checkpoint_interval_seconds,
    )
    if rt.sequencer is not None:  # the server sequences in the background: requests only write pending events
        rt.sequencer.start(on_tick=checkpointer.tick)
    shown_host = "localhost" if current.bind_host in {"127.0.0.1", "::1"} else current.bind_host
    scheme = "https" if current.tls_enabled else "http"
    console.print(f"ClaimVault {__version__} serving {scheme}://{shown_host}:{current.port} (Ctrl-C stops it)")
    if current.demo_credentials_path.exists():
        console.print(f"Demo credentials: {current.demo_credentials_path.resolve()}")
    try:
        _run(current, app_)
    finally:
        if rt.sequencer is not None:
            rt.sequencer.stop()  # a last drain
        checkpointer.tick(force=True)
        rt.close()


def _run(current: Settings, app_: Any) -> None:
    from claimvault.web.server import build_uvicorn_config
    from claimvault.web.server import serve as run_server

    if current.tls_enabled:
        run_server(
            app_,
            host=current.bind_host,
            port=current.port,
            cert_path=current.resolved_tls_cert_file,
            key_path=current.resolved_tls_key_file,
            trusted_proxies=current.trusted_proxies,
            log_level=current.log_level.lower(),
        )
    else:
        import uvicorn

        uvicorn.Server(
            build_uvicorn_config(
                app_,
                host=current.bind_host,
                port=current.port,
                ssl_context=None,
                trusted_proxies=current.trusted_proxies,
                log_level=current.log_level.lower(),
            )
        ).run()


@app.command()
@no_protected_data
def version() -> None:
    """Print the ClaimVault version."""
    console.print(__version__)


def main() -> None:
    os.umask(0o077)  # files ClaimVault creates (database, WAL, keys, logs) are readable by their owner only
    app()
