"""Settings: every knob comes from ``CLAIMVAULT_*`` environment variables or an optional settings file.

Production mode (``CLAIMVAULT_ENV=production``) refuses to start with an unsafe setting unless that setting is
explicitly allowed, and the refusal names exactly which setting is unsafe and how to allow it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from claimvault.errors import ConfigurationError

DEFAULT_SECRET_KEY = "claimvault-development-secret-do-not-use-in-production"  # noqa: S105 - flagged below


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class UnsafeSetting(StrEnum):
    """Names accepted by ``CLAIMVAULT_ALLOW_UNSAFE`` (comma-separated) in production."""

    NO_TLS = "no_tls"
    SQLITE = "sqlite"
    DEV_CERTIFICATE = "dev_certificate"
    DEFAULT_SECRET = "default_secret"  # noqa: S105 - the name of an unsafe setting, not a secret
    NON_LOOPBACK_WITHOUT_TLS = "non_loopback_without_tls"
    DEBUG_LOGGING = "debug_logging"
    DATABASE_TLS = "database_tls"
    AUDIT_CHECKPOINTS_IN_VAR = "audit_checkpoints_in_var"
    DATABASE_ROLE = "database_role"


def _settings_file() -> str | None:
    return os.environ.get("CLAIMVAULT_SETTINGS_FILE") or None


class Settings(BaseSettings):
    """All configuration. Paths default to ``./var/`` under the working directory."""

    model_config = SettingsConfigDict(env_prefix="CLAIMVAULT_", extra="ignore", env_file=None)

    env: Environment = Environment.DEVELOPMENT
    var_dir: Path = Path("var")

    # Storage
    database_url: str = ""  # empty: SQLite at var/claimvault.db
    migration_database_url: str = ""  # the schema owner's URL; empty: database_url
    db_app_role: str = "claimvault_app"  # PostgreSQL role the app connects as (granted DML, subject to RLS)
    db_pool_size: int = 10

    # Keys
    key_provider: Literal["local", "passphrase", "vault", "aws_kms"] = "local"
    keyring_path: Path | None = None  # empty: var/keys/keyring.json
    keyring_passphrase: SecretStr | None = None  # key_provider=passphrase: the KEK is derived from it (scrypt)
    vault_url: str = "http://127.0.0.1:8200"
    vault_token: SecretStr | None = None
    vault_transit_mount: str = "transit"
    vault_transit_key: str = "claimvault"
    aws_kms_key_id: str = ""
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None  # a KMS-compatible endpoint (tests use a local fake)

    # Files (attachments, statements, X12), encrypted at rest
    blob_backend: Literal["local", "s3"] = "local"
    blob_dir: Path | None = None  # empty: var/blobs
    s3_bucket: str = ""
    s3_prefix: str = "claimvault/"
    s3_endpoint_url: str | None = None

    # HTTP / TLS
    bind_host: str = "127.0.0.1"
    port: int = 8443
    tls_enabled: bool = True
    tls_cert_file: Path | None = None  # empty: generated dev certificate under var/tls/
    tls_key_file: Path | None = None
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)

    # Two-person rule: refunds, write-offs and adjustments at or above this amount wait for a second person
    approval_threshold: Decimal = Field(default=Decimal("100.00"), gt=0, max_digits=12, decimal_places=2)

    # Sessions
    session_idle_timeout_seconds: int = 15 * 60
    session_absolute_timeout_seconds: int = 12 * 60 * 60
    session_cookie_name: str = "cv_session"

    # Password hashing (Argon2id); tests lower these through configuration.
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65_536
    argon2_parallelism: int = 1  # 1: bounded work per check under attack

    # WebAuthn: the relying party is the hostname users type (WebAuthn refuses IP addresses)
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "ClaimVault"
    webauthn_origin: str = "https://localhost:8443"

    # Brute-force protection
    throttle_backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_concurrent_password_checks: int = 4

    # Audit log: sequencing and signed checkpoints
    audit_checkpoint_dir: Path | None = None  # empty: var/audit-checkpoints (keep it elsewhere in production)
    audit_signing_key_path: Path | None = None  # empty: var/keys/audit-checkpoint.key
    audit_checkpoint_interval_seconds: int = 300  # serve writes a checkpoint this often when the log grew

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    allow_unsafe: Annotated[list[UnsafeSetting], NoDecode] = Field(default_factory=list)

    @field_validator("trusted_proxies", "allow_unsafe", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                return json.loads(stripped)  # JSON list form
            return [part.strip() for part in stripped.split(",") if part.strip()]
        return value

    # Derived paths -------------------------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'claimvault.db').resolve()}"

    @property
    def resolved_migration_url(self) -> str:
        return self.migration_database_url or self.resolved_database_url

    @property
    def resolved_keyring_path(self) -> Path:
        return self.keyring_path or self.var_dir / "keys" / "keyring.json"

    @property
    def resolved_audit_checkpoint_dir(self) -> Path:
        return self.audit_checkpoint_dir or self.var_dir / "audit-checkpoints"

    @property
    def resolved_audit_signing_key_path(self) -> Path:
        return self.audit_signing_key_path or self.var_dir / "keys" / "audit-checkpoint.key"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.var_dir / "blobs"

    @property
    def shred_ledger_path(self) -> Path:
        """Beside the keys, outside database backups: restoring an old backup re-applies it."""
        return self.resolved_keyring_path.parent / "shred-ledger.jsonl"

    @property
    def resolved_tls_cert_file(self) -> Path:
        return self.tls_cert_file or self.var_dir / "tls" / "localhost-cert.pem"

    @property
    def resolved_tls_key_file(self) -> Path:
        return self.tls_key_file or self.var_dir / "tls" / "localhost-key.pem"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def demo_credentials_path(self) -> Path:
        return self.var_dir / "demo-credentials.txt"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and, if ``CLAIMVAULT_SETTINGS_FILE`` names one, a dotenv-style file."""
    file = _settings_file()
    if file and not Path(file).is_file():
        raise ConfigurationError("CLAIMVAULT_SETTINGS_FILE names a file that does not exist.")
    return Settings(_env_file=file, **overrides)


@dataclass(frozen=True)
class Finding:
    setting: UnsafeSetting
    message: str


def unsafe_findings(settings: Settings) -> list[Finding]:
    """Every unsafe choice in ``settings``, whether or not it has been allowed."""
    from claimvault.web.tls import (
        is_dev_certificate,
    )  # local import: config must not pull the web layer early

    found: list[Finding] = []
    if not settings.tls_enabled:
        found.append(Finding(UnsafeSetting.NO_TLS, "CLAIMVAULT_TLS_ENABLED is false: traffic would be unencrypted."))
        if settings.bind_host not in {"127.0.0.1", "::1", "localhost"}:
            found.append(
                Finding(
                    UnsafeSetting.NON_LOOPBACK_WITHOUT_TLS,
                    "CLAIMVAULT_BIND_HOST is not a loopback address while TLS is off.",
                )
            )
    if settings.uses_sqlite:
        found.append(
            Finding(
                UnsafeSetting.SQLITE,
                "CLAIMVAULT_DATABASE_URL is SQLite: use PostgreSQL (row-level security, backups, concurrency).",
            )
        )
    if settings.tls_enabled:
        if settings.tls_cert_file is None or settings.tls_key_file is None:
            found.append(
                Finding(
                    UnsafeSetting.DEV_CERTIFICATE,
                    "CLAIMVAULT_TLS_CERT_FILE/CLAIMVAULT_TLS_KEY_FILE are not set: the generated development "
                    "certificate would be used.",
                )
            )
        elif is_dev_certificate(settings.tls_cert_file):
            found.append(
                Finding(
                    UnsafeSetting.DEV_CERTIFICATE,
                    "CLAIMVAULT_TLS_CERT_FILE is the generated development certificate.",
                )
            )
    if settings.secret_key.get_secret_value() == DEFAULT_SECRET_KEY or len(settings.secret_key.get_secret_value()) < 32:
        found.append(
            Finding(
                UnsafeSetting.DEFAULT_SECRET,
                "CLAIMVAULT_SECRET_KEY is the built-in default or shorter than 32 characters.",
            )
        )
    if not settings.uses_sqlite and make_url(settings.resolved_database_url).query.get("sslmode") != "verify-full":
        found.append(
            Finding(
                UnsafeSetting.DATABASE_TLS,
                "CLAIMVAULT_DATABASE_URL does not set sslmode=verify-full: the database connection would not "
                "verify the server's certificate.",
            )
        )
    checkpoints = settings.resolved_audit_checkpoint_dir.resolve()
    if checkpoints.is_relative_to(settings.var_dir.resolve()):
        found.append(
            Finding(
                UnsafeSetting.AUDIT_CHECKPOINTS_IN_VAR,
                "CLAIMVAULT_AUDIT_CHECKPOINT_DIR is inside the var directory: keep audit checkpoints on storage "
                "the application host cannot rewrite.",
            )
        )
    if settings.log_level == "DEBUG":
        found.append(
            Finding(UnsafeSetting.DEBUG_LOGGING, "CLAIMVAULT_LOG_LEVEL is DEBUG: library debug output is verbose.")
        )
    return found


def check_production_safety(settings: Settings) -> None:
    """Refuse unsafe production settings that have not been explicitly allowed. No-op outside production."""
    if settings.env is not Environment.PRODUCTION:
        return
    refused = [f for f in unsafe_findings(settings) if f.setting not in settings.allow_unsafe]
    if refused:
        raise _refusal(refused)


def _refusal(refused: list[Finding]) -> ConfigurationError:
    lines = "; ".join(
        f"{f.message} (to accept it anyway, add '{f.setting.value}' to CLAIMVAULT_ALLOW_UNSAFE)" for f in refused
    )
    return ConfigurationError(f"Refusing to start in production with unsafe settings: {lines}")


def check_database_role(settings: Settings, problems: list[str]) -> None:
    """Refuse, in production, an application connection that row-level security would not bind (``problems`` from
    ``claimvault.storage.database.connection_role_problems``), unless ``database_role`` is allowed."""
    if (
        settings.env is not Environment.PRODUCTION
        or not problems
        or UnsafeSetting.DATABASE_ROLE in settings.allow_unsafe
    ):
        return
    raise _refusal([Finding(UnsafeSetting.DATABASE_ROLE, "; ".join(problems))])
