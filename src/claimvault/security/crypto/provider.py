"""Key providers: where the key-encryption key (KEK) lives. One small interface, several implementations.

The embedded default is a local keyring file (0600) holding versioned KEKs; ``PassphraseKeyring`` derives its
KEKs with scrypt from a passphrase and keeps only salts and verifiers on disk. Cloud adapters (Vault transit in
``vault.py``, AWS KMS in ``aws_kms.py``) implement the same protocol; data keys are only ever stored wrapped by
it. Rotation appends a new KEK version and keeps the old ones for unwrapping until data keys are re-wrapped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from claimvault.errors import ConfigurationError

if TYPE_CHECKING:
    from claimvault.config import Settings

PRODUCTION_SCRYPT_N = 2**15
EXPORT_FORMAT = "claimvault-key-export/1"
EXPORT_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_VERIFIER_LABEL = b"claimvault/passphrase-keyring/verifier/v1"


class KeyUnwrapError(Exception):
    """A wrapped key could not be unwrapped (wrong KEK, wrong context, or tampered)."""


@dataclass(frozen=True)
class KekVersion:
    kek_id: str
    created_at: datetime | None
    current: bool


class KeyProvider(Protocol):
    def current_kek_id(self) -> str: ...

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Wrap ``key`` under the current KEK, bound to ``context``; return (kek id, wrapped bytes)."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes: ...


@runtime_checkable
class RotatingKeyProvider(KeyProvider, Protocol):
    """A provider that can make a new KEK version and list its versions (every built-in provider)."""

    def rotate(self) -> str:
        """Make a new KEK version current; return its id. Older versions stay usable for unwrapping."""
        ...

    def versions(self) -> list[KekVersion]: ...


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only (0600) at every moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    os.chmod(path, 0o600)


def _next_version(prefix: str, existing: list[str]) -> str:
    numbers = [int(k.removeprefix(prefix)) for k in existing if k.startswith(prefix) and k[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1}"


class _FileKeyring:
    """Shared plumbing for keyrings kept in one JSON file: reload when another process rotated it."""

    path: Path
    _current: str
    _stamp: tuple[int, int]

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._load()

    def _load(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_ino)
            doc = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            raise ConfigurationError("The local keyring file is missing or unreadable.") from None
        self._parse(doc)
        self._stamp = stamp

    def _parse(self, doc: Any) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        """Re-read the file if it changed (a ``keys rotate`` in another process)."""
        try:
            st = self.path.stat()
            changed = (st.st_mtime_ns, st.st_ino) != self._stamp
        except OSError:
            return
        if changed:
            with self._lock:
                self._load()

    def current_kek_id(self) -> str:
        self._refresh()
        return self._current


class LocalKeyring(_FileKeyring):
    """KEKs in a local JSON file with 0600 permissions; AES-256-GCM wrapping with the context as AAD."""

    PREFIX = "local-"

    def _parse(self, doc: Any) -> None:
        try:
            keys = {kid: base64.b64decode(v["key"], validate=True) for kid, v in doc["keys"].items()}
            created = {kid: _parse_time(v.get("created_at")) for kid, v in doc["keys"].items()}
            current = doc["current"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigurationError("The local keyring file is missing or unreadable.") from None
        if not isinstance(current, str) or current not in keys or any(len(k) != 32 for k in keys.values()):
            raise ConfigurationError("The local keyring file is malformed.")
        self._doc, self._keys, self._created, self._current = doc, keys, created, current

    @classmethod
    def create(cls, path: Path) -> LocalKeyring:
        """Create a keyring with one fresh KEK. The file is created 0600 and never exists wider."""
        doc = {
            "format": 1,
            "current": "local-1",
            "keys": {"local-1": {"key": base64.b64encode(secrets.token_bytes(32)).decode(), "created_at": _now()}},
        }
        write_private_file(path, json.dumps(doc).encode(), exclusive=True)
        return cls(path)

    @classmethod
    def open_or_create(cls, path: Path) -> LocalKeyring:
        return cls(path) if path.exists() else cls.create(path)

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        self._refresh()
        kek_id = self._current
        nonce = secrets.token_bytes(12)
        return kek_id, nonce + AESGCM(self._keys[kek_id]).encrypt(nonce, key, context)

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        if kek_id not in self._keys:
            self._refresh()
        kek = self._keys.get(kek_id)
        if kek is None:
            raise KeyUnwrapError("unknown key-encryption key version")
        try:
            return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], context)
        except InvalidTag as exc:
            raise KeyUnwrapError("data key failed authentication") from exc

    def rotate(self) -> str:
        """Append a fresh KEK version and make it current; old versions stay for unwrapping."""
        with self._lock:
            self._load()
            doc = json.loads(json.dumps(self._doc))
            new_id = _next_version(self.PREFIX, list(doc["keys"]))
            doc["keys"][new_id] = {"key": base64.b64encode(secrets.token_bytes(32)).decode(), "created_at": _now()}
            doc["current"] = new_id
            write_private_file(self.path, json.dumps(doc).encode())
            self._load()
            return new_id

    def versions(self) -> list[KekVersion]:
        self._refresh()
        return [KekVersion(k, self._created.get(k), k == self._current) for k in self._keys]

    def document(self) -> bytes:
        """The keyring file's bytes (for ``keys export``)."""
        return self.path.read_bytes()


class PassphraseKeyring(_FileKeyring):
    """KEKs derived with scrypt from a passphrase. The file holds, per version, a random salt and a verifier
    (an HMAC under the derived key), never key material: a wrong passphrase is refused with a clear error."""

    PREFIX = "pass-"

    def __init__(self, path: Path, passphrase: str) -> None:
        if not passphrase:
            raise ConfigurationError("CLAIMVAULT_KEYRING_PASSPHRASE is required for the passphrase key provider.")
        self._passphrase = passphrase.encode()
        self._derived: dict[str, bytes] = {}
        super().__init__(path)
        self._kek(self._current)  # checks the passphrase now, not at the first unwrap

    def _parse(self, doc: Any) -> None:
        try:
            if doc.get("kind") != "passphrase":
                raise ValueError
            kdf = doc["kdf"]
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            versions = {
                vid: (base64.b64decode(v["salt"], validate=True), base64.b64decode(v["verifier"], validate=True))
                for vid, v in doc["versions"].items()
            }
            created = {vid: _parse_time(v.get("created_at")) for vid, v in doc["versions"].items()}
            current = doc["current"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigurationError("The passphrase keyring file is missing or unreadable.") from None
        if not isinstance(current, str) or current not in versions or n < 2 or n & (n - 1):
            raise ConfigurationError("The passphrase keyring file is malformed.")
        self._doc, self._versions, self._created, self._current = doc, versions, created, current
        self.scrypt_n, self._r, self._p = n, r, p

    @classmethod
    def create(cls, path: Path, passphrase: str, *, scrypt_n: int = PRODUCTION_SCRYPT_N) -> PassphraseKeyring:
        if not passphrase:
            raise ConfigurationError("CLAIMVAULT_KEYRING_PASSPHRASE is required for the passphrase key provider.")
        doc = {
            "format": 1,
            "kind": "passphrase",
            "kdf": {"name": "scrypt", "n": scrypt_n, "r": 8, "p": 1},
            "current": "pass-1",
            "versions": {"pass-1": cls._new_version(passphrase.encode(), scrypt_n, 8, 1)},
        }
        write_private_file(path, json.dumps(doc).encode(), exclusive=True)
        return cls(path, passphrase)

    @staticmethod
    def _new_version(passphrase: bytes, n: int, r: int, p: int) -> dict[str, str]:
        salt = secrets.token_bytes(16)
        kek = _scrypt(passphrase, salt, n, r, p)
        return {
            "salt": base64.b64encode(salt).decode(),
            "verifier": base64.b64encode(hmac.new(kek, _VERIFIER_LABEL, hashlib.sha256).digest()).decode(),
            "created_at": _now(),
        }

    def _kek(self, kek_id: str) -> bytes:
        found = self._derived.get(kek_id)
        if found is not None:
            return found
        if kek_id not in self._versions:
            self._refresh()
        if kek_id not in self._versions:
            raise KeyUnwrapError("unknown key-encryption key version")
        salt, verifier = self._versions[kek_id]
        kek = _scrypt(self._passphrase, salt, self.scrypt_n, self._r, self._p)
        if not hmac.compare_digest(hmac.new(kek, _VERIFIER_LABEL, hashlib.sha256).digest(), verifier):
            raise ConfigurationError("CLAIMVAULT_KEYRING_PASSPHRASE does not match the passphrase keyring.")
        self._derived[kek_id] = kek
        return kek

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        self._refresh()
        kek_id = self._current
        nonce = secrets.token_bytes(12)
        return kek_id, nonce + AESGCM(self._kek(kek_id)).encrypt(nonce, key, context)

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        try:
            return AESGCM(self._kek(kek_id)).decrypt(wrapped[:12], wrapped[12:], context)
        except InvalidTag as exc:
            raise KeyUnwrapError("data key failed authentication") from exc

    def rotate(self) -> str:
        """A new version: a fresh salt (so a new KEK) under the same passphrase."""
        with self._lock:
            self._load()
            doc = json.loads(json.dumps(self._doc))
            new_id = _next_version(self.PREFIX, list(doc["versions"]))
            doc["versions"][new_id] = self._new_version(self._passphrase, self.scrypt_n, self._r, self._p)
            doc["current"] = new_id
            write_private_file(self.path, json.dumps(doc).encode())
            self._load()
            return new_id

    def versions(self) -> list[KekVersion]:
        self._refresh()
        return [KekVersion(k, self._created.get(k), k == self._current) for k in self._versions]

    def document(self) -> bytes:
        return self.path.read_bytes()


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


# Keyring export (``claimvault keys export``): a passphrase-sealed copy kept apart from backups --------------
def _export_key(passphrase: str, salt: bytes, kdf: dict[str, int]) -> bytes:
    return _scrypt(passphrase.encode(), salt, kdf["n"], kdf["r"], kdf["p"])


def seal_export(document: bytes, *, kind: str, passphrase: str) -> bytes:
    """The export file: the keyring document under AES-256-GCM with a scrypt-derived key; header bound as AAD."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {"format": EXPORT_FORMAT, "kind": kind, "kdf": {"name": "scrypt", **EXPORT_SCRYPT}}
    header["salt"] = base64.b64encode(salt).decode()
    aad = json.dumps(header, sort_keys=True).encode()
    body = AESGCM(_export_key(passphrase, salt, EXPORT_SCRYPT)).encrypt(nonce, document, aad)
    sealed = {**header, "nonce": base64.b64encode(nonce).decode(), "ciphertext": base64.b64encode(body).decode()}
    return json.dumps(sealed).encode()


def open_export(data: bytes, *, passphrase: str) -> tuple[str, bytes]:
    """(keyring kind, keyring document) from an export file; a wrong passphrase or damage is one clear error."""
    try:
        sealed = json.loads(data)
        header = {k: sealed[k] for k in ("format", "kind", "kdf", "salt")}
        if header["format"] != EXPORT_FORMAT or header["kind"] not in {"local", "passphrase"}:
            raise ValueError
        kdf = {k: int(header["kdf"][k]) for k in ("n", "r", "p")}
        key = _export_key(passphrase, base64.b64decode(header["salt"]), kdf)
        aad = json.dumps(header, sort_keys=True).encode()
        nonce, body = base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"])
        return str(header["kind"]), AESGCM(key).decrypt(nonce, body, aad)
    except (ValueError, KeyError, TypeError, AttributeError, InvalidTag):
        raise ConfigurationError("The export passphrase is wrong or the export file is damaged.") from None


def build_key_provider(settings: Settings, *, create: bool = False) -> KeyProvider:
    """The provider ``settings.key_provider`` names. ``create`` makes a missing local/passphrase keyring."""
    path = settings.resolved_keyring_path
    kind = settings.key_provider
    if kind == "local":
        return LocalKeyring.open_or_create(path) if create else LocalKeyring(path)
    if kind == "passphrase":
        secret = settings.keyring_passphrase.get_secret_value() if settings.keyring_passphrase else ""
        if create and not path.exists():
            return PassphraseKeyring.create(path, secret)
        keyring = PassphraseKeyring(path, secret)
        if settings.env == "production" and keyring.scrypt_n < PRODUCTION_SCRYPT_N:
            raise ConfigurationError("The passphrase keyring's scrypt cost is below the production minimum (2**15).")
        return keyring
    if kind == "vault":
        from claimvault.security.crypto.vault import VaultTransitProvider

        return VaultTransitProvider.from_settings(settings, create=create)
    if kind == "aws_kms":
        from claimvault.security.crypto.aws_kms import AwsKmsProvider

        return AwsKmsProvider.from_settings(settings)
    raise ConfigurationError("CLAIMVAULT_KEY_PROVIDER must be local, passphrase, vault or aws_kms.")
