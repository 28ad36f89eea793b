"""Key providers behind one interface: the local keyring (versioned rotation, 0600, reload after another
process rotates), the passphrase keyring (scrypt, verifier, clear refusal of a wrong passphrase), Vault transit
against an in-process fake Vault spoken to by the real hvac client, and AWS KMS against moto."""

from __future__ import annotations

import base64
import json
import secrets
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from claimvault.config import Settings
from claimvault.errors import ConfigurationError
from claimvault.security.crypto.provider import (
    KeyUnwrapError,
    LocalKeyring,
    PassphraseKeyring,
    RotatingKeyProvider,
    build_key_provider,
)

CTX = b"claimvault/dek/v1|test-context"
KEY = secrets.token_bytes(32)
CHEAP_N = 2**10


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Local keyring ------------------------------------------------------------------------------------------------
def test_local_rotation_appends_a_version_and_keeps_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    ring = LocalKeyring.create(path)
    old_id, old_wrapped = ring.wrap(KEY, context=CTX)
    assert old_id == "local-1"

    assert ring.rotate() == "local-2"
    assert ring.current_kek_id() == "local-2" and _mode(path) == 0o600
    new_id, new_wrapped = ring.wrap(KEY, context=CTX)
    assert new_id == "local-2"
    assert ring.unwrap(old_id, old_wrapped, context=CTX) == KEY
    assert ring.unwrap(new_id, new_wrapped, context=CTX) == KEY
    with pytest.raises(KeyUnwrapError):  # each version is a distinct key
        ring.unwrap("local-1", new_wrapped, context=CTX)
    with pytest.raises(KeyUnwrapError):
        ring.unwrap(new_id, new_wrapped, context=CTX + b"x")
    assert [(v.kek_id, v.current) for v in ring.versions()] == [("local-1", False), ("local-2", True)]
    assert all(v.created_at is not None for v in ring.versions())
    assert isinstance(ring, RotatingKeyProvider)
    assert LocalKeyring(path).current_kek_id() == "local-2"
    assert not [p for p in path.parent.iterdir() if p.name != "keyring.json"]  # no temporary file left


def test_another_process_sees_the_rotation(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    server = LocalKeyring.create(path)
    operator = LocalKeyring(path)  # a second process: 'claimvault keys rotate'
    operator.rotate()
    kek_id, wrapped = operator.wrap(KEY, context=CTX)
    assert server.unwrap(kek_id, wrapped, context=CTX) == KEY  # unknown version: re-read the file
    assert server.wrap(KEY, context=CTX)[0] == "local-2"  # new data keys go under the new KEK


# Passphrase keyring -------------------------------------------------------------------------------------------
def test_passphrase_keyring_right_and_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    passphrase = "MARKER-correct horse battery"
    ring = PassphraseKeyring.create(path, passphrase, scrypt_n=CHEAP_N)
    kek_id, wrapped = ring.wrap(KEY, context=CTX)
    assert _mode(path) == 0o600
    text = path.read_text()
    assert "MARKER" not in text and base64.b64encode(KEY).decode() not in text
    assert json.loads(text)["kdf"] == {"name": "scrypt", "n": CHEAP_N, "r": 8, "p": 1}

    again = PassphraseKeyring(path, passphrase)
    assert again.unwrap(kek_id, wrapped, context=CTX) == KEY

    with pytest.raises(ConfigurationError) as refused:
        PassphraseKeyring(path, "MARKER-wrong passphrase")
    assert "passphrase" in str(refused.value) and "MARKER" not in str(refused.value)
    assert refused.value.__cause__ is None


def test_passphrase_rotation_uses_a_new_salt(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = PassphraseKeyring.create(path, "a long enough passphrase", scrypt_n=CHEAP_N)
    old = ring.wrap(KEY, context=CTX)
    assert ring.rotate() == "pass-2"
    new = ring.wrap(KEY, context=CTX)
    assert new[0] == "pass-2"
    versions = json.loads(path.read_text())["versions"]
    assert versions["pass-1"]["salt"] != versions["pass-2"]["salt"]
    reopened = PassphraseKeyring(path, "a long enough passphrase")
    assert reopened.unwrap(*old, context=CTX) == KEY and reopened.unwrap(*new, context=CTX) == KEY
    with pytest.raises(KeyUnwrapError):
        reopened.unwrap("pass-1", new[1], context=CTX)


def test_build_key_provider_chooses_by_setting(tmp_path: Path) -> None:
    local = build_key_provider(Settings(var_dir=tmp_path / "a"), create=True)
    assert isinstance(local, LocalKeyring)
    missing = Settings(var_dir=tmp_path / "b", key_provider="passphrase")
    with pytest.raises(ConfigurationError, match="PASSPHRASE"):
        build_key_provider(missing, create=True)
    settings = Settings(var_dir=tmp_path / "c", key_provider="passphrase", keyring_passphrase="pp-" * 6)
    PassphraseKeyring.create(settings.resolved_keyring_path, "pp-" * 6, scrypt_n=CHEAP_N)
    assert isinstance(build_key_provider(settings), PassphraseKeyring)
    production = settings.model_copy(update={"env": "production"})
    with pytest.raises(ConfigurationError, match="scrypt"):  # a cheap test cost is refused in production
        build_key_provider(production)


def test_default_scrypt_cost_is_production_strength(tmp_path: Path) -> None:
    ring = PassphraseKeyring.create(tmp_path / "k.json", "a long enough passphrase")
    assert ring.scrypt_n >= 2**15


# Vault transit against a fake Vault ---------------------------------------------------------------------------
class FakeVault:
    """The transit endpoints the provider uses, with real AES-GCM per key version, honouring the token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.keys: dict[str, list[bytes]] = {}
        self.created: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str]] = []

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")  # v1 transit <op> <name> [rotate]
        if len(parts) < 4 or parts[:2] != ["v1", "transit"]:
            return 404, {"errors": []}
        op, name = parts[2], parts[3]
        if op == "keys" and len(parts) == 5 and parts[4] == "rotate" and method == "POST":
            if name not in self.keys:
                return 404, {"errors": []}
            self.keys[name].append(AESGCM.generate_key(256))
            self.created[name].append(1_700_000_000 + len(self.keys[name]))
            return 204, {}
        if op == "keys" and method == "POST":
            self.keys.setdefault(name, [AESGCM.generate_key(256)])
            self.created.setdefault(name, [1_700_000_000])
            return 204, {}
        if name not in self.keys:
            return 404, {"errors": []}
        versions = self.keys[name]
        if op == "keys" and method == "GET":
            stamps = {str(i + 1): t for i, t in enumerate(self.created[name])}
            return 200, {
                "data": {"name": name, "type": "aes256-gcm96", "latest_version": len(versions), "keys": stamps}
            }
        if op == "encrypt":
            nonce = secrets.token_bytes(12)
            ct = AESGCM(versions[-1]).encrypt(nonce, base64.b64decode(body["plaintext"]), None)
            return 200, {"data": {"ciphertext": f"vault:v{len(versions)}:" + base64.b64encode(nonce + ct).decode()}}
        if op == "decrypt":
            _, version, blob = body["ciphertext"].split(":", 2)
            raw = base64.b64decode(blob)
            try:
                plain = AESGCM(versions[int(version[1:]) - 1]).decrypt(raw[:12], raw[12:], None)
            except Exception:
                return 400, {"errors": ["cipher: message authentication failed"]}
            return 200, {"data": {"plaintext": base64.b64encode(plain).decode()}}
        return 404, {"errors": []}


@pytest.fixture
def fake_vault() -> Iterator[tuple[str, FakeVault]]:
    vault = FakeVault(token="s.test-token")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            vault.requests.append((method, self.path))
            if self.headers.get("X-Vault-Token") != vault.token:
                status, reply = 403, {"errors": ["permission denied"]}
            else:
                status, reply = vault.handle(method, self.path, body)
            data = json.dumps(reply).encode() if status != 204 else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", vault
    finally:
        server.shutdown()
        server.server_close()


def _vault_settings(tmp_path: Path, url: str, token: str) -> Settings:
    return Settings(var_dir=tmp_path, key_provider="vault", vault_url=url, vault_token=token)


def test_vault_transit_wrap_unwrap_rotate(tmp_path: Path, fake_vault: tuple[str, FakeVault]) -> None:
    from claimvault.security.crypto.vault import VaultTransitProvider

    url, vault = fake_vault
    settings = _vault_settings(tmp_path, url, vault.token)
    with pytest.raises(ConfigurationError, match="does not exist"):
        build_key_provider(settings)
    provider = build_key_provider(settings, create=True)
    assert isinstance(provider, VaultTransitProvider) and isinstance(provider, RotatingKeyProvider)
    assert provider.current_kek_id() == "vault:claimvault:v1"

    kek_id, wrapped = provider.wrap(KEY, context=CTX)
    assert kek_id == "vault:claimvault:v1" and KEY not in wrapped
    assert provider.unwrap(kek_id, wrapped, context=CTX) == KEY
    with pytest.raises(KeyUnwrapError):  # the context is bound
        provider.unwrap(kek_id, wrapped, context=CTX + b"other")
    with pytest.raises(KeyUnwrapError):  # the kek id must match the ciphertext's version
        provider.unwrap("vault:claimvault:v2", wrapped, context=CTX)

    assert provider.rotate() == "vault:claimvault:v2"
    new_id, new_wrapped = provider.wrap(KEY, context=CTX)
    assert new_id == "vault:claimvault:v2"
    assert provider.unwrap(kek_id, wrapped, context=CTX) == KEY  # old versions still decrypt
    assert provider.unwrap(new_id, new_wrapped, context=CTX) == KEY
    assert [(v.kek_id, v.current) for v in provider.versions()] == [
        ("vault:claimvault:v1", False),
        ("vault:claimvault:v2", True),
    ]
    assert ("POST", "/v1/transit/keys/claimvault/rotate") in vault.requests


def test_vault_wrong_token_is_a_clear_error(tmp_path: Path, fake_vault: tuple[str, FakeVault]) -> None:
    url, _ = fake_vault
    with pytest.raises(ConfigurationError) as refused:
        build_key_provider(_vault_settings(tmp_path, url, "s.MARKER-wrong"), create=True)
    assert "MARKER" not in str(refused.value)
    with pytest.raises(ConfigurationError, match="TOKEN"):
        build_key_provider(Settings(var_dir=tmp_path, key_provider="vault", vault_url=url))


# AWS KMS against moto -----------------------------------------------------------------------------------------
@pytest.fixture
def kms_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    boto3 = pytest.importorskip("boto3")
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        yield client.create_key(Description="claimvault test KEK")["KeyMetadata"]["KeyId"]


def test_aws_kms_wrap_unwrap_with_encryption_context(tmp_path: Path, kms_key: str) -> None:
    from claimvault.security.crypto.aws_kms import AwsKmsProvider

    settings = Settings(var_dir=tmp_path, key_provider="aws_kms", aws_kms_key_id=kms_key)
    provider = build_key_provider(settings)
    assert isinstance(provider, AwsKmsProvider) and isinstance(provider, RotatingKeyProvider)
    kek_id, wrapped = provider.wrap(KEY, context=CTX)
    assert kek_id == f"kms:{kms_key}" and KEY not in wrapped
    assert provider.unwrap(kek_id, wrapped, context=CTX) == KEY
    with pytest.raises(KeyUnwrapError):  # the EncryptionContext must match
        provider.unwrap(kek_id, wrapped, context=CTX + b"other")
    with pytest.raises(KeyUnwrapError):
        provider.unwrap(kek_id, wrapped[:-1] + bytes([wrapped[-1] ^ 1]), context=CTX)
    assert provider.rotate() == kek_id  # KMS-managed rotation keeps the key id
    assert provider.unwrap(kek_id, wrapped, context=CTX) == KEY
    assert [v.kek_id for v in provider.versions()] == [kek_id]


def test_aws_kms_unknown_key_is_a_clear_error(tmp_path: Path, kms_key: str) -> None:
    settings = Settings(var_dir=tmp_path, key_provider="aws_kms", aws_kms_key_id="alias/absent")
    with pytest.raises(ConfigurationError, match="KMS"):
        build_key_provider(settings).wrap(KEY, context=CTX)
