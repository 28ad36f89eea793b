"""Key providers: where the key-encryption key (KEK) lives. One small interface, several implementations.

The embedded default is a local keyring file (0600) holding versioned KEKs. Cloud adapters (Vault transit,
AWS KMS) implement the same ``KeyProvider`` protocol; data keys are only ever stored wrapped by it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from claimvault.errors import ConfigurationError


class KeyUnwrapError(Exception):
    """A wrapped key could not be unwrapped (wrong KEK, wrong context, or tampered)."""


class KeyProvider(Protocol):
    def current_kek_id(self) -> str: ...

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Wrap ``key`` under the current KEK, bound to ``context``; return (kek id, wrapped bytes)."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes: ...


class LocalKeyring:
    """KEKs in a local JSON file with 0600 permissions; AES-256-GCM wrapping with the context as AAD."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text("utf-8"))
            self._keys = {kid: base64.b64decode(v["key"]) for kid, v in raw["keys"].items()}
            self._current = raw["current"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise ConfigurationError("The local keyring file is missing or unreadable.") from None
        if (
            not isinstance(self._current, str)
            or self._current not in self._keys
            or any(len(k) != 32 for k in self._keys.values())
        ):
            raise ConfigurationError("The local keyring file is malformed.")

    @classmethod
    def create(cls, path: Path) -> LocalKeyring:
        """Create a keyring with one fresh KEK. The file is created 0600 and never exists wider."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {
            "format": 1,
            "current": "local-1",
            "keys": {
                "local-1": {
                    "key": base64.b64encode(secrets.token_bytes(32)).decode(),
                    "created_at": datetime.now(UTC).isoformat(),
                }
            },
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        return cls(path)

    @classmethod
    def open_or_create(cls, path: Path) -> LocalKeyring:
        return cls(path) if path.exists() else cls.create(path)

    def current_kek_id(self) -> str:
        return self._current

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(12)
        return self._current, nonce + AESGCM(self._keys[self._current]).encrypt(nonce, key, context)

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        kek = self._keys.get(kek_id)
        if kek is None:
            raise KeyUnwrapError("unknown key-encryption key version")
        try:
            return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], context)
        except InvalidTag as exc:
            raise KeyUnwrapError("data key failed authentication") from exc
