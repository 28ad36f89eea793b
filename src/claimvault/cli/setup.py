"""``claimvault init``: create ./var, local keys, the development certificate and the schema (idempotent)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from claimvault.config import Settings
from claimvault.runtime import build_key_provider
from claimvault.security.audit.checkpoints import CheckpointSigner, public_key_path
from claimvault.storage.migrate import upgrade
from claimvault.web.tls import ensure_dev_certificate


def initialise(settings: Settings) -> list[str]:
    """Prepare everything the service needs; return human-readable lines about what was created."""
    done: list[str] = []
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.var_dir, 0o700)
    keyring = settings.resolved_keyring_path
    if not keyring.exists():
        build_key_provider(settings, create=True)
        done.append(f"created local keyring {keyring} (0600)")
    if (
        settings.tls_enabled
        and settings.tls_cert_file is None
        and ensure_dev_certificate(settings.resolved_tls_cert_file, settings.resolved_tls_key_file)
    ):
        done.append(f"generated development certificate {settings.resolved_tls_cert_file}")
    signing_key = settings.resolved_audit_signing_key_path
    created = not signing_key.exists()
    signer = CheckpointSigner.load_or_create(signing_key)
    if created:
        done.append(f"created audit checkpoint signing key {signing_key} (0600)")
    done.append(
        f"audit checkpoint public key {public_key_path(signing_key)}, fingerprint {signer.fingerprint}: "
        "keep a copy outside this machine for `claimvault audit verify --public-key FILE`"
    )
    upgrade(settings.resolved_migration_url, app_role=settings.db_app_role)
    if settings.uses_sqlite:
        database = make_url(settings.resolved_database_url).database
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{database}{suffix}") if database else None
            if path is not None and path.exists():
                os.chmod(path, 0o600)
    done.append("database schema is current")
    return done
