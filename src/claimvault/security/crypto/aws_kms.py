"""AWS KMS as the key provider: the KEK is a KMS key that never leaves KMS; data keys are wrapped with
``Encrypt`` and unwrapped with ``Decrypt``, both with an ``EncryptionContext`` carrying our wrapping context.

KEK id: ``kms:<key id>``. Rotation is managed by KMS: ``rotate()`` asks for an on-demand rotation of the
key material, but the key id stays the same and KMS decrypts ciphertexts made under any earlier backing key, so
nothing needs re-wrapping (``keys rotate`` reports zero rows re-wrapped). ``boto3`` is imported lazily: it
belongs to the optional ``cloud`` extra.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from claimvault.errors import ConfigurationError
from claimvault.security.crypto.provider import KekVersion, KeyUnwrapError

if TYPE_CHECKING:
    from claimvault.config import Settings

_MAX_KEY_ID = 60  # data_keys.kek_id is 64 characters


def _errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class AwsKmsProvider:
    """One symmetric KMS key."""

    def __init__(self, client: Any, *, key_id: str) -> None:
        if not key_id or len(key_id) > _MAX_KEY_ID:
            raise ConfigurationError("CLAIMVAULT_AWS_KMS_KEY_ID must be a KMS key id or alias (at most 60 chars).")
        self._client = client
        self.key_id = key_id

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsKmsProvider:
        try:
            import boto3
        except ImportError:
            raise ConfigurationError("The aws_kms key provider needs the 'cloud' extra (boto3).") from None
        client = boto3.client("kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        return cls(client, key_id=settings.aws_kms_key_id)

    @staticmethod
    def _context(context: bytes) -> dict[str, str]:
        return {"claimvault": base64.b64encode(context).decode()}

    def current_kek_id(self) -> str:
        return f"kms:{self.key_id}"

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        try:
            result = self._client.encrypt(KeyId=self.key_id, Plaintext=key, EncryptionContext=self._context(context))
        except _errors():
            raise ConfigurationError("AWS KMS refused to wrap a data key (check the key id and access).") from None
        return self.current_kek_id(), bytes(result["CiphertextBlob"])

    def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        if kek_id != self.current_kek_id():
            raise KeyUnwrapError("unknown key-encryption key")
        try:
            result = self._client.decrypt(
                KeyId=self.key_id, CiphertextBlob=wrapped, EncryptionContext=self._context(context)
            )
        except _errors() as exc:
            raise KeyUnwrapError("AWS KMS refused to unwrap the data key") from exc
        return bytes(result["Plaintext"])

    def rotate(self) -> str:
        """Rotate the key material on demand; the KEK id (and every wrapped data key) stays valid."""
        try:
            self._client.rotate_key_on_demand(KeyId=self.key_id)
        except _errors():
            raise ConfigurationError("AWS KMS refused to rotate the key (on-demand rotation).") from None
        return self.current_kek_id()

    def versions(self) -> list[KekVersion]:
        try:
            meta = self._client.describe_key(KeyId=self.key_id)["KeyMetadata"]
        except _errors():
            raise ConfigurationError("AWS KMS could not describe the key.") from None
        return [KekVersion(self.current_kek_id(), meta.get("CreationDate"), True)]
