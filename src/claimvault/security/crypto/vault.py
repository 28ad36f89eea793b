"""HashiCorp Vault transit as the key provider: the KEK never leaves Vault; data keys are wrapped by
``transit/encrypt`` and unwrapped by ``transit/decrypt``.

Context binding: transit's ``context`` only works with derived keys and ``associated_data`` needs a recent Vault,
so the wrapping context is bound inside the plaintext instead: Vault encrypts ``SHA-256(context) ‖ key`` with
AES-256-GCM (authenticated), and unwrap refuses a result whose digest does not match the expected context. The
key works with any transit key of type ``aes256-gcm96`` (created if missing with ``create=True``).

KEK id: ``vault:<key name>:v<version>`` from the ciphertext's own version prefix. Rotation is transit's
``rotate``; Vault keeps older versions for decryption (unless ``min_decryption_version`` is raised).
``hvac`` is imported lazily: it belongs to the optional ``cloud`` extra.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from claimvault.errors import ConfigurationError
from claimvault.security.crypto.provider import KekVersion, KeyUnwrapError

if TYPE_CHECKING:
    from claimvault.config import Settings

_CIPHERTEXT = re.compile(r"^vault:v(\d+):")
_DIGEST = 32


def _vault_errors() -> tuple[type[BaseException], ...]:
    import hvac.exceptions
    import requests

    return (hvac.exceptions.VaultError, requests.RequestException)


def _created(value: object) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


class VaultTransitProvider:
    """KEK versions of one transit key in Vault."""

    def __init__(self, client: Any, *, key_name: str, mount_point: str = "transit") -> None:
        self._client = client
        self.key_name = key_name
        self.mount_point = mount_point

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = False) -> VaultTransitProvider:
        try:
            import hvac
        except ImportError:
            raise ConfigurationError("The vault key provider needs the 'cloud' extra (hvac).") from None
        token = settings.vault_token.get_secret_value() if settings.vault_token else None
        if not token:
            raise ConfigurationError("CLAIMVAULT_VAULT_TOKEN is required for the vault key provider.")
        provider = cls(
            hvac.Client(url=settings.vault_url, token=token),
            key_name=settings.vault_transit_key,
            mount_point=settings.vault_transit_mount,
        )
        provider.ensure_key(create=create)
        return provider

    def _transit(self) -> Any:
        return self._client.secrets.transit

    def _read(self) -> dict[str, Any]:
        try:
            return dict(self._transit().read_key(name=self.key_name, mount_point=self.mount_point)["data"])
        except _vault_errors():
            raise ConfigurationError("The Vault transit key could not be read (check URL, token and key).") from None

    def ensure_key(self, *, create: bool) -> None:
        """Check the transit key exists; create it (aes256-gcm96) if it does not and ``create`` is set."""
        import hvac.exceptions

        try:
            self._transit().read_key(name=self.key_name, mount_point=self.mount_point)
        except hvac.exceptions.InvalidPath:
            if not create:
                raise ConfigurationError("The Vault transit key does not exist (run 'claimvault init').") from None
            try:
                self._transit().create_key(name=self.key_name, key_type="aes256-gcm96", mount_point=self.mount_point)
            except _vault_errors():
                raise ConfigurationError("The Vault transit key could not be created.") from None
        except _vault_errors():
            raise ConfigurationError("Vault could not be reached or refused the token.") from None

    def _kek_id(self, version: int) -> str:
        return f"vault:{self.key_name}:v{version}"

    def current_kek_id(self) -> str:
        return self._kek_id(int(self._read()["latest_version"]))

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        plaintext = base64.b64encode(hashlib.sha256(context).digest() + key).decode()
        try:
            result = self._transit().encrypt_data(name=self.key_name, plaintext=plaintext, mount_point=self.mount_point)
        except _vault_errors():
            raise ConfigurationError("Vault refused to wrap a data key.") from None
        ciphertext = str(result["data"]["ciphertext"])
        match = _CIPHERTEXT.match(ciphertext)
        if match is None:
            raise ConfigurationError("Vault returned an unrecognised ciphertext.")
        return self._kek_id(int(match.group(1))), ciphertext.encode("ascii")

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        ciphertext = wrapped.decode("ascii", errors="replace")
        match = _CIPHERTEXT.match(ciphertext)
        if match is None or self._kek_id(int(match.group(1))) != kek_id:
            raise KeyUnwrapError("wrapped key does not match its key-encryption key version")
        try:
            result = self._transit().decrypt_data(
                name=self.key_name, ciphertext=ciphertext, mount_point=self.mount_point
            )
            plain = base64.b64decode(result["data"]["plaintext"])
        except _vault_errors() as exc:
            raise KeyUnwrapError("Vault refused to unwrap the data key") from exc
        if len(plain) <= _DIGEST or not hmac.compare_digest(plain[:_DIGEST], hashlib.sha256(context).digest()):
            raise KeyUnwrapError("data key failed authentication")
        return plain[_DIGEST:]

    def rotate(self) -> str:
        try:
            self._transit().rotate_key(name=self.key_name, mount_point=self.mount_point)
        except _vault_errors():
            raise ConfigurationError("Vault refused to rotate the transit key.") from None
        return self.current_kek_id()

    def versions(self) -> list[KekVersion]:
        data = self._read()
        latest = int(data["latest_version"])
        keys = data.get("keys") or {}
        return [
            KekVersion(self._kek_id(int(v)), _created(keys[v]), int(v) == latest)
            for v in sorted(keys, key=lambda x: int(x))
        ]
