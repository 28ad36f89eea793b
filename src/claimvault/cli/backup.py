"""``claimvault backup``: create, verify and restore encrypted, authenticated backups.

These commands touch no protected data field-wise: the archive is ciphertext end to end (protected columns are
already encrypted in the snapshot, and the whole archive is sealed again under a fresh key wrapped by the key
provider), nothing is decrypted through the PHI gate, and nothing from the database is printed. Each create and
restore is recorded in the audit trail as ``backup.create`` / ``backup.restore`` under a system context.
"""

from __future__ import annotations

from pathlib import Path

import typer

from claimvault.cli.common import clean_errors, console, err_console, settings
from claimvault.cli.declare import no_protected_data
from claimvault.config import Settings
from claimvault.security.crypto.archive import ArchiveCipher
from claimvault.security.crypto.provider import build_key_provider
from claimvault.storage import backup as backups

app = typer.Typer(help="Encrypted, authenticated backups of the database and the blob store.", no_args_is_help=True)


def _cipher(current: Settings) -> ArchiveCipher:
    return ArchiveCipher(build_key_provider(current))


def _audit(current: Settings, action: str, detail: dict[str, str | None]) -> None:
    """Record the backup or restore in the audit trail (ids, times and versions only)."""
    from claimvault.runtime import build_runtime
    from claimvault.security.audit import build_event, record
    from claimvault.security.context import system_context

    rt = build_runtime(current)
    try:
        ctx = system_context(f"backup {action}", organization_id=None, permissions=set())
        with rt.db.session(tenant_id=None) as session:
            record(session, build_event(ctx, action=f"backup.{action}", entity_type="backup", detail=detail))
    finally:
        rt.close()


def _reapply_ledger(current: Settings) -> str:
    """Re-apply the shred ledger (kept beside the keys, never in backups) to the restored database."""
    try:
        from claimvault.security.crypto.shredding import reapply_shred_ledger
    except ImportError:
        return "WARNING: shred-ledger re-application is not available in this build; shredded data is NOT re-shredded."
    from claimvault.runtime import build_runtime

    rt = build_runtime(current)
    try:
        result = reapply_shred_ledger(db=rt.db, keys=rt.keys, ledger_path=current.shred_ledger_path)
    finally:
        rt.close()
    if isinstance(result, int) and not isinstance(result, bool):
        return f"shred ledger re-applied ({result} shredded patients had come back and were shredded again)"
    return "shred ledger re-applied"


@app.command()
@no_protected_data
@clean_errors
def create(file: Path = typer.Argument(..., help="Where to write the archive (must not exist yet).")) -> None:
    """Write an encrypted archive of the database and blobs (keys and the shred ledger are never included)."""
    current = settings()
    with console.status("backing up") as status:
        summary = backups.create_backup(
            settings=current, cipher=_cipher(current), path=file, progress=lambda m: status.update(m)
        )
    _audit(current, "create", {"archive_id": summary.archive_id, "schema": summary.manifest.alembic_revision})
    console.print(
        f"Backup written: {summary.path} (archive {summary.archive_id}, {summary.manifest.blob_count} blobs, "
        f"schema {summary.manifest.alembic_revision}). Restoring it needs this installation's keyring or KMS key."
    )


@app.command()
@no_protected_data
@clean_errors
def verify(file: Path = typer.Argument(..., help="The archive to check.")) -> None:
    """Authenticate every chunk and check every checksum, without restoring anything."""
    current = settings()
    with console.status("verifying") as status:
        manifest = backups.verify_backup(
            settings=current, cipher=_cipher(current), path=file, progress=lambda m: status.update(m)
        )
    console.print(
        f"Backup verified: created {manifest.created_at}, ClaimVault {manifest.claimvault_version}, "
        f"{manifest.db_dialect}, schema {manifest.alembic_revision}, {len(manifest.entries)} entries."
    )


@app.command()
@no_protected_data
@clean_errors
def restore(
    file: Path = typer.Argument(..., help="The archive to restore."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Verify the archive, then REPLACE the database and blob store with it. Stop the service first."""
    current = settings()
    if not yes and not typer.confirm("This replaces the current database and blob store. Continue?"):
        err_console.print("Restore cancelled; nothing was changed.")
        raise typer.Exit(1)
    with console.status("restoring") as status:
        summary = backups.restore_backup(
            settings=current,
            cipher=_cipher(current),
            path=file,
            after_restore=lambda: _reapply_ledger(current),
            progress=lambda m: status.update(m),
        )
    _audit(
        current,
        "restore",
        {
            "archive_id": summary.archive_id,
            "backup_created_at": summary.manifest.created_at,
            "schema": summary.manifest.alembic_revision,
        },
    )
    console.print(
        f"Backup restored: archive {summary.archive_id} from {summary.manifest.created_at}"
        + (" (schema migrated to the current version)" if summary.migrated else "")
        + "."
    )
    for note in summary.notes:
        console.print(f"- {note}")
