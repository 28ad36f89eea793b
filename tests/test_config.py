"""Settings from the environment and a settings file, and production mode's refusal of unsafe settings."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from claimvault.config import (
    DEFAULT_SECRET_KEY,
    Environment,
    Settings,
    UnsafeSetting,
    check_database_role,
    check_production_safety,
    load_settings,
    unsafe_findings,
)
from claimvault.errors import ConfigurationError
from claimvault.web.tls import ensure_dev_certificate, is_dev_certificate

SAFE_SECRET = "prod-secret-7f3c9a1e5b2d8f4a6c0e9b7d3f1a5c8e"  # 48 characters, distinctive enough to search for
SHORT_SECRET = "short-secret-marker-2024"  # under 32 characters
POSTGRES_URL = "postgresql+psycopg://claimvault@db.internal.example:5432/claimvault?sslmode=verify-full"  # never used


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings() reads CLAIMVAULT_* variables: start every test from none of them."""
    for name in list(os.environ):
        if name.startswith("CLAIMVAULT_"):
            monkeypatch.delenv(name)


# Certificates ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def _write_real_certificate(directory: Path) -> CertPair:
    """A certificate that is not the generated development one: different subject organization."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "claimvault.example.org"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Health Billing LLC"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("claimvault.example.org")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = CertPair(directory / "server-cert.pem", directory / "server-key.pem")
    pair.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pair.key.chmod(0o600)
    return pair


@dataclass(frozen=True)
class Certs:
    real: CertPair
    dev: CertPair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    root = tmp_path_factory.mktemp("config-certs")
    real = _write_real_certificate(root / "real")
    dev = CertPair(root / "dev" / "localhost-cert.pem", root / "dev" / "localhost-key.pem")
    assert ensure_dev_certificate(dev.cert, dev.key) is True
    # The fixtures themselves must be what they claim, or every case below tests nothing.
    assert not is_dev_certificate(real.cert) and is_dev_certificate(dev.cert)
    return Certs(real=real, dev=dev)


def _safe_kwargs(certs: Certs, tmp_path: Path) -> dict[str, Any]:
    return {
        "env": Environment.PRODUCTION,
        "var_dir": tmp_path / "var",
        "database_url": POSTGRES_URL,
        "tls_enabled": True,
        "tls_cert_file": certs.real.cert,
        "tls_key_file": certs.real.key,
        "secret_key": SAFE_SECRET,
        "bind_host": "127.0.0.1",
        "log_level": "INFO",
        "audit_checkpoint_dir": tmp_path / "worm" / "checkpoints",
    }


# Production refusal ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsafe:
    overrides: Callable[[Certs, Path], dict[str, Any]]
    env_var: str
    token: UnsafeSetting
    already_allowed: tuple[UnsafeSetting, ...] = field(default=())


UNSAFE_CASES = {
    "no_tls": Unsafe(lambda c, t: {"tls_enabled": False}, "CLAIMVAULT_TLS_ENABLED", UnsafeSetting.NO_TLS),
    "sqlite_url": Unsafe(
        lambda c, t: {"database_url": f"sqlite:///{t / 'prod.db'}"}, "CLAIMVAULT_DATABASE_URL", UnsafeSetting.SQLITE
    ),
    "sqlite_default": Unsafe(lambda c, t: {"database_url": ""}, "CLAIMVAULT_DATABASE_URL", UnsafeSetting.SQLITE),
    "dev_certificate_unset": Unsafe(
        lambda c, t: {"tls_cert_file": None, "tls_key_file": None},
        "CLAIMVAULT_TLS_CERT_FILE",
        UnsafeSetting.DEV_CERTIFICATE,
    ),
    "dev_certificate_generated": Unsafe(
        lambda c, t: {"tls_cert_file": c.dev.cert, "tls_key_file": c.dev.key},
        "CLAIMVAULT_TLS_CERT_FILE",
        UnsafeSetting.DEV_CERTIFICATE,
    ),
    "default_secret": Unsafe(
        lambda c, t: {"secret_key": DEFAULT_SECRET_KEY}, "CLAIMVAULT_SECRET_KEY", UnsafeSetting.DEFAULT_SECRET
    ),
    "short_secret": Unsafe(
        lambda c, t: {"secret_key": SHORT_SECRET}, "CLAIMVAULT_SECRET_KEY", UnsafeSetting.DEFAULT_SECRET
    ),
    # Binding beyond loopback is only unsafe without TLS, so "no TLS" is accepted first to isolate this finding.
    "non_loopback_without_tls": Unsafe(
        lambda c, t: {"tls_enabled": False, "bind_host": "0.0.0.0"},  # noqa: S104 - the unsafe choice under test
        "CLAIMVAULT_BIND_HOST",
        UnsafeSetting.NON_LOOPBACK_WITHOUT_TLS,
        already_allowed=(UnsafeSetting.NO_TLS,),
    ),
    "debug_logging": Unsafe(lambda c, t: {"log_level": "DEBUG"}, "CLAIMVAULT_LOG_LEVEL", UnsafeSetting.DEBUG_LOGGING),
    "database_without_verify_full": Unsafe(
        lambda c, t: {"database_url": POSTGRES_URL.replace("verify-full", "require")},
        "CLAIMVAULT_DATABASE_URL",
        UnsafeSetting.DATABASE_TLS,
    ),
    "audit_checkpoints_in_var": Unsafe(
        lambda c, t: {"audit_checkpoint_dir": None},
        "CLAIMVAULT_AUDIT_CHECKPOINT_DIR",
        UnsafeSetting.AUDIT_CHECKPOINTS_IN_VAR,
    ),
    "database_without_sslmode": Unsafe(
        lambda c, t: {"database_url": POSTGRES_URL.split("?")[0]}, "CLAIMVAULT_DATABASE_URL", UnsafeSetting.DATABASE_TLS
    ),
}


def _unsafe_settings(case: Unsafe, certs: Certs, tmp_path: Path, *, allow: tuple[UnsafeSetting, ...] = ()) -> Settings:
    kwargs = {**_safe_kwargs(certs, tmp_path), **case.overrides(certs, tmp_path)}
    return Settings(**kwargs, allow_unsafe=[*case.already_allowed, *allow])


def test_fully_safe_production_settings_start(certs: Certs, tmp_path: Path) -> None:
    settings = Settings(**_safe_kwargs(certs, tmp_path))
    assert unsafe_findings(settings) == []
    check_production_safety(settings)  # no error


def test_binding_beyond_loopback_is_safe_with_tls(certs: Certs, tmp_path: Path) -> None:
    settings = Settings(**{**_safe_kwargs(certs, tmp_path), "bind_host": "0.0.0.0"})  # noqa: S104
    check_production_safety(settings)


@pytest.mark.parametrize("name", list(UNSAFE_CASES))
def test_production_refuses_each_unsafe_setting_until_allowed(name: str, certs: Certs, tmp_path: Path) -> None:
    case = UNSAFE_CASES[name]
    settings = _unsafe_settings(case, certs, tmp_path)
    # Exactly one unsafe choice beyond those already accepted: the case isolates one setting.
    assert [f.setting for f in unsafe_findings(settings) if f.setting not in case.already_allowed] == [case.token]

    with pytest.raises(ConfigurationError) as refused:
        check_production_safety(settings)
    message = str(refused.value)
    assert case.env_var in message
    assert f"'{case.token.value}'" in message and "CLAIMVAULT_ALLOW_UNSAFE" in message
    secret = settings.secret_key.get_secret_value()
    assert secret not in message
    assert SAFE_SECRET not in message and SHORT_SECRET not in message and DEFAULT_SECRET_KEY not in message

    # Allowing every other unsafe setting does not help: the allow token is specific.
    others = tuple(u for u in UnsafeSetting if u is not case.token)
    with pytest.raises(ConfigurationError):
        check_production_safety(_unsafe_settings(case, certs, tmp_path, allow=others))

    check_production_safety(_unsafe_settings(case, certs, tmp_path, allow=(case.token,)))  # starts


def test_refusal_lists_every_unsafe_setting_at_once(tmp_path: Path) -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        var_dir=tmp_path / "var",
        tls_enabled=False,
        bind_host="0.0.0.0",  # noqa: S104
        log_level="DEBUG",
    )
    with pytest.raises(ConfigurationError) as refused:
        check_production_safety(settings)
    message = str(refused.value)
    for env_var in (
        "CLAIMVAULT_TLS_ENABLED",
        "CLAIMVAULT_BIND_HOST",
        "CLAIMVAULT_DATABASE_URL",
        "CLAIMVAULT_SECRET_KEY",
        "CLAIMVAULT_LOG_LEVEL",
    ):
        assert env_var in message
    assert DEFAULT_SECRET_KEY not in message


@pytest.mark.parametrize("env", [Environment.DEVELOPMENT, Environment.TEST])
def test_non_production_never_refuses(env: Environment, tmp_path: Path) -> None:
    settings = Settings(
        env=env,
        var_dir=tmp_path / "var",
        tls_enabled=False,
        bind_host="0.0.0.0",  # noqa: S104
        secret_key="x",
        log_level="DEBUG",
    )
    assert {f.setting for f in unsafe_findings(settings)} == {
        UnsafeSetting.NO_TLS,
        UnsafeSetting.NON_LOOPBACK_WITHOUT_TLS,
        UnsafeSetting.SQLITE,
        UnsafeSetting.AUDIT_CHECKPOINTS_IN_VAR,
        UnsafeSetting.DEFAULT_SECRET,
        UnsafeSetting.DEBUG_LOGGING,
    }
    check_production_safety(settings)
    check_production_safety(Settings(env=env, var_dir=tmp_path / "var"))  # all defaults


def test_production_refusal_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAIMVAULT_ENV", "production")
    monkeypatch.setenv("CLAIMVAULT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLAIMVAULT_SECRET_KEY", SAFE_SECRET)
    with pytest.raises(ConfigurationError) as refused:
        check_production_safety(load_settings())
    assert "CLAIMVAULT_DATABASE_URL" in str(refused.value) and SAFE_SECRET not in str(refused.value)


# create_app refuses before anything touches storage -------------------------------------------------------------


class _ReachedRuntime(Exception):
    pass


@pytest.fixture
def runtime_tripwire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Settings]]:
    """Replace create_app's runtime builder (where the database and keyring are opened) with a tripwire."""
    calls: list[Settings] = []

    def tripwire(settings: Settings, **_: Any) -> Any:
        calls.append(settings)
        raise _ReachedRuntime

    monkeypatch.setattr("claimvault.web.app.build_runtime", tripwire)
    yield calls


@pytest.mark.parametrize("name", ["sqlite_default", "no_tls", "dev_certificate_unset", "short_secret"])
def test_create_app_refuses_unsafe_production_before_storage(
    name: str, certs: Certs, tmp_path: Path, runtime_tripwire: list[Settings]
) -> None:
    from claimvault.web.app import create_app

    settings = _unsafe_settings(UNSAFE_CASES[name], certs, tmp_path)
    with pytest.raises(ConfigurationError) as refused:
        create_app(settings=settings)
    assert UNSAFE_CASES[name].env_var in str(refused.value)
    assert runtime_tripwire == []
    assert not (tmp_path / "var").exists()  # no SQLite file, no keyring, no TLS material was created


def test_create_app_with_safe_production_settings_reaches_the_runtime(
    certs: Certs, tmp_path: Path, runtime_tripwire: list[Settings]
) -> None:
    """Control for the test above: the tripwire is where the app would open storage."""
    from claimvault.web.app import create_app

    settings = Settings(**_safe_kwargs(certs, tmp_path))
    with pytest.raises(_ReachedRuntime):
        create_app(settings=settings)
    assert runtime_tripwire == [settings]


def test_create_app_from_environment_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime_tripwire: list[Settings]
) -> None:
    from claimvault.web.app import create_app

    monkeypatch.setenv("CLAIMVAULT_ENV", "production")
    monkeypatch.setenv("CLAIMVAULT_VAR_DIR", str(tmp_path / "var"))
    with pytest.raises(ConfigurationError):
        create_app()
    assert runtime_tripwire == [] and not (tmp_path / "var").exists()


# Reading settings -----------------------------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAIMVAULT_ENV", "production")
    monkeypatch.setenv("CLAIMVAULT_DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("CLAIMVAULT_PORT", "9443")
    monkeypatch.setenv("CLAIMVAULT_TLS_ENABLED", "false")
    monkeypatch.setenv("CLAIMVAULT_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CLAIMVAULT_SECRET_KEY", SAFE_SECRET)
    monkeypatch.setenv("CLAIMVAULT_VAR_DIR", str(tmp_path / "v"))
    settings = load_settings()
    assert settings.env is Environment.PRODUCTION
    assert settings.database_url == POSTGRES_URL and not settings.uses_sqlite
    assert settings.port == 9443 and settings.tls_enabled is False and settings.log_level == "WARNING"
    assert settings.secret_key.get_secret_value() == SAFE_SECRET
    assert SAFE_SECRET not in repr(settings) and SAFE_SECRET not in str(settings)
    assert settings.resolved_keyring_path == tmp_path / "v" / "keys" / "keyring.json"


def test_defaults_use_sqlite_under_var_dir(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path / "var")
    assert settings.env is Environment.DEVELOPMENT and settings.uses_sqlite
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'var' / 'claimvault.db').resolve()}"
    assert settings.trusted_proxies == [] and settings.allow_unsafe == []


def test_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "claimvault.env"
    file.write_text(
        "# ClaimVault settings\n"
        "CLAIMVAULT_ENV=production\n"
        f"CLAIMVAULT_DATABASE_URL={POSTGRES_URL}\n"
        "CLAIMVAULT_PORT=9443\n"
        "CLAIMVAULT_LOG_LEVEL=WARNING\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CLAIMVAULT_SETTINGS_FILE", str(file))
    settings = load_settings()
    assert settings.env is Environment.PRODUCTION and settings.database_url == POSTGRES_URL
    assert settings.port == 9443 and settings.log_level == "WARNING"

    monkeypatch.setenv("CLAIMVAULT_PORT", "10443")  # the environment wins over the file
    assert load_settings().port == 10443


def test_missing_settings_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "claimvault.env"
    monkeypatch.setenv("CLAIMVAULT_SETTINGS_FILE", str(missing))
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert "CLAIMVAULT_SETTINGS_FILE" in str(error.value)


def test_json_lists_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMVAULT_TRUSTED_PROXIES", '["10.0.0.1", "10.0.0.2"]')
    monkeypatch.setenv("CLAIMVAULT_ALLOW_UNSAFE", '["sqlite", "no_tls"]')
    settings = load_settings()
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert settings.allow_unsafe == [UnsafeSetting.SQLITE, UnsafeSetting.NO_TLS]


def test_comma_separated_lists_from_keyword_arguments() -> None:
    settings = Settings(trusted_proxies=" 10.0.0.1, 10.0.0.2 ,", allow_unsafe="sqlite,debug_logging")  # type: ignore[arg-type]
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert settings.allow_unsafe == [UnsafeSetting.SQLITE, UnsafeSetting.DEBUG_LOGGING]


def test_comma_separated_lists_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMVAULT_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2")
    monkeypatch.setenv("CLAIMVAULT_ALLOW_UNSAFE", "sqlite,no_tls")
    settings = load_settings()
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert settings.allow_unsafe == [UnsafeSetting.SQLITE, UnsafeSetting.NO_TLS]


def test_single_allow_token_from_environment_lets_production_start(
    monkeypatch: pytest.MonkeyPatch, certs: Certs, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLAIMVAULT_ALLOW_UNSAFE", "debug_logging")
    settings = load_settings(**{**_safe_kwargs(certs, tmp_path), "log_level": "DEBUG"})
    assert settings.allow_unsafe == [UnsafeSetting.DEBUG_LOGGING]
    check_production_safety(settings)


def test_comma_separated_lists_from_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "claimvault.env"
    file.write_text("CLAIMVAULT_TRUSTED_PROXIES=10.0.0.1,10.0.0.2\nCLAIMVAULT_ALLOW_UNSAFE=sqlite\n", encoding="utf-8")
    monkeypatch.setenv("CLAIMVAULT_SETTINGS_FILE", str(file))
    settings = load_settings()
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert settings.allow_unsafe == [UnsafeSetting.SQLITE]


def test_unknown_allow_token_is_rejected() -> None:
    with pytest.raises(ValueError):  # pydantic's ValidationError
        Settings(allow_unsafe=["everything"])  # type: ignore[list-item]


def test_production_refuses_a_database_role_that_row_level_security_would_not_bind(
    certs: Certs, tmp_path: Path
) -> None:
    problems = ["the application's PostgreSQL role owns tables: use the schema owner for migrations only"]
    settings = Settings(**_safe_kwargs(certs, tmp_path))
    with pytest.raises(ConfigurationError) as refused:
        check_database_role(settings, problems)
    assert "owns tables" in str(refused.value) and "'database_role'" in str(refused.value)
    check_database_role(settings, [])  # a proper application role: no error
    allowed = Settings(**_safe_kwargs(certs, tmp_path), allow_unsafe=[UnsafeSetting.DATABASE_ROLE])
    check_database_role(allowed, problems)
    check_database_role(Settings(var_dir=tmp_path), problems)  # development: not refused
