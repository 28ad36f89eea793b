"""``claimvault keys``: rotate the key-encryption key, show key status, export/import the local keyring, and
re-encrypt stored values under the newest data keys.

Rotation makes a new KEK version and re-wraps every stored data key online (data keys themselves do not
change, so reads and writes continue). The export is a separate file, never part of a database backup, sealed
with AES-256-GCM under a key derived with scrypt from a passphrase. Every operation is audited under a system
context naming the command; none of them shows or logs key material.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from claimvault.accounts.sessions import now_utc
from claimvault.cli.common import clean_errors, console, runtime, settings
from claimvault.cli.declare import no_protected_data, uses_permissions
from claimvault.errors import ConfigurationError
from claimvault.runtime import Runtime
from claimvault.security.audit import build_event, record
from claimvault.security.context import SystemContext, system_context
from claimvault.security.crypto.provider import (
    LocalKeyring,
    PassphraseKeyring,
    RotatingKeyProvider,
    open_export,
    seal_export,
    write_private_file,
)
from claimvault.security.crypto.rotation import rewrap_all, stored_keys, values_per_key
from claimvault.security.permissions import Permission

app = typer.Typer(help="Keys: KEK rotation, key status, keyring export and import.", no_args_is_help=True)

EXPORT_PASSPHRASE_ENV = "CLAIMVAULT_EXPORT_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
MIN_EXPORT_PASSPHRASE = 12


# Helpers ------------------------------------------------------------------------------------------------------
def _audit(rt: Runtime, ctx: SystemContext, action: str, detail: dict[str, Any]) -> None:
    with rt.db.session(tenant_id=None) as s:
        record(s, build_event(ctx, action=action, permission=Permission.KEY_MANAGE.value, detail=detail))


def _ctx(command: str) -> SystemContext:
    return system_context(command, organization_id=None, permissions={Permission.KEY_MANAGE})


def _rotating(rt: Runtime) -> RotatingKeyProvider:
    provider = rt.keys.provider
    if not isinstance(provider, RotatingKeyProvider):
        raise ConfigurationError("The configured key provider does not support rotation.")
    return provider


def _age(when: datetime | None) -> str:
    if when is None:
        return "unknown"
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    days = (now_utc() - when).days
    return f"{days} d" if days else "today"


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _passphrase(*, confirm: bool) -> str:
    value = os.environ.get(EXPORT_PASSPHRASE_ENV) or typer.prompt(
        "Export passphrase", hide_input=True, confirmation_prompt=confirm
    )
    if len(value) < MIN_EXPORT_PASSPHRASE:
        raise ConfigurationError(f"The export passphrase must be at least {MIN_EXPORT_PASSPHRASE} characters.")
    return str(value)


# Commands -----------------------------------------------------------------------------------------------------
@app.command("rotate")
@no_protected_data
@clean_errors
def rotate(
    rewrap_only: bool = typer.Option(
        False, "--rewrap-only", help="Make no new KEK version; finish re-wrapping under the current one."
    ),
) -> None:
    """Make a new KEK version and re-wrap every data key under it, online. Rerun to resume."""
    with runtime() as rt:
        provider = _rotating(rt)
        ctx = _ctx("keys rotate")
        previous = provider.current_kek_id()
        current = previous if rewrap_only else provider.rotate()
        with _progress("Re-wrapping data keys") as update:
            report = rewrap_all(db=rt.db, keys=rt.keys, progress=update)
        _audit(
            rt,
            ctx,
            "keys.rotate",
            {"previous_kek": previous, "kek": current, "rewrapped": report.rewrapped, "new_version": not rewrap_only},
        )
    console.print(f"Current KEK: {current} (previous {previous}).")
    console.print(f"Re-wrapped {report.rewrapped} data key(s); {report.already_current} were already current.")


@app.command("status")
@no_protected_data
@clean_errors
def status() -> None:
    """KEK versions with their ages; every data key with its version, state, age, KEK and values protected."""
    with runtime() as rt:
        provider = _rotating(rt)
        versions = provider.versions()
        keys = stored_keys(db=rt.db)
        counts = values_per_key(db=rt.db)
        _audit(rt, _ctx("keys status"), "keys.status", {"data_keys": len(keys)})
    per_kek = Counter(k.kek_id for k in keys)
    kek_table = Table("KEK version", "current", "created", "age", "data keys wrapped", title="Key-encryption keys")
    for v in versions:
        created = v.created_at.strftime("%Y-%m-%d %H:%M UTC") if v.created_at else "unknown"
        kek_table.add_row(v.kek_id, "yes" if v.current else "no", created, _age(v.created_at), str(per_kek[v.kek_id]))
    console.print(kek_table)
    dek_table = Table("owner", "purpose", "version", "active", "age", "KEK", "values", title="Data keys")
    for k in keys:
        values = "-" if k.purpose == "index" else str(counts.get(k.id, 0))
        dek_table.add_row(
            k.owner, k.purpose, str(k.version), "yes" if k.is_active else "no", _age(k.created_at), k.kek_id, values
        )
    console.print(dek_table)
    stale = sum(n for kek, n in per_kek.items() if kek != provider.current_kek_id())
    if stale:
        console.print(f"{stale} data key(s) are wrapped by an older KEK: run 'claimvault keys rotate --rewrap-only'.")


@app.command("export")
@no_protected_data
@clean_errors
def export(out: Path = typer.Option(..., "--out", help="File to write (0600); must not exist yet.")) -> None:
    """Export the local keyring, sealed with a passphrase (or CLAIMVAULT_EXPORT_PASSPHRASE). Keep it apart from
    database backups."""
    current = settings()
    if current.key_provider not in {"local", "passphrase"}:
        raise ConfigurationError("Cloud KEKs never leave the key management service; there is nothing to export.")
    passphrase = _passphrase(confirm=True)
    with runtime(current) as rt:
        provider = rt.keys.provider
        if not isinstance(provider, LocalKeyring | PassphraseKeyring):
            raise ConfigurationError("The configured key provider has no exportable keyring.")
        kind = "local" if isinstance(provider, LocalKeyring) else "passphrase"
        try:
            write_private_file(out, seal_export(provider.document(), kind=kind, passphrase=passphrase), exclusive=True)
        except FileExistsError:
            raise ConfigurationError("The export file already exists; choose a new path.") from None
        _audit(rt, _ctx("keys export"), "keys.export", {"kind": kind, "versions": len(provider.versions())})
    console.print(f"Keyring exported to {out.resolve()} (0600). Store it apart from database backups.")


@app.command("import")
@no_protected_data
@clean_errors
def import_(
    source: Path = typer.Option(..., "--in", help="An export file written by 'claimvault keys export'."),
) -> None:
    """Restore a keyring from an export file to the configured keyring path (which must not exist yet)."""
    current = settings()
    if current.key_provider not in {"local", "passphrase"}:
        raise ConfigurationError("Importing a keyring needs CLAIMVAULT_KEY_PROVIDER=local or passphrase.")
    try:
        data = source.read_bytes()
    except OSError:
        raise ConfigurationError("The export file cannot be read.") from None
    kind, document = open_export(data, passphrase=_passphrase(confirm=False))
    if kind != current.key_provider:
        raise ConfigurationError("The export holds a different kind of keyring than CLAIMVAULT_KEY_PROVIDER.")
    path = current.resolved_keyring_path
    try:
        write_private_file(path, document, exclusive=True)
    except FileExistsError:
        raise ConfigurationError("A keyring already exists at the configured path; move it away first.") from None
    with runtime(current) as rt:
        _audit(rt, _ctx("keys import"), "keys.import", {"kind": kind})
    console.print(f"Keyring restored to {path.resolve()} (0600).")


@app.command("reencrypt")
@uses_permissions(Permission.KEY_MANAGE)
@clean_errors
def reencrypt(batch_size: int = typer.Option(200, help="Rows re-encrypted per transaction.")) -> None:
    """Re-encrypt stored protected values under each organization's newest data key, through the PHI gate."""
    from claimvault.security.crypto.reencrypt import run_reencryption

    with runtime() as rt:
        ctx = system_context("keys reencrypt", organization_id=None, permissions={Permission.KEY_MANAGE})
        with _progress("Re-encrypting values") as update:
            result = run_reencryption(db=rt.db, keys=rt.keys, batch_size=batch_size, progress=update, ctx=ctx)
        _audit(
            rt,
            ctx,
            "keys.reencrypt",
            {"rows": result.rows_reencrypted, "patient_keys_rewrapped": result.patient_keys_rewrapped},
        )
    console.print(
        f"Re-encrypted {result.rows_reencrypted} row(s) in {result.organizations} organization(s); "
        f"re-wrapped {result.patient_keys_rewrapped} patient key(s)."
    )
