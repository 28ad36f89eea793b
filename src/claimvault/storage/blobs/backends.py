"""Where encrypted blobs live: one small interface, a local directory (default) and S3-compatible storage.

Backends hold ciphertext only; they never see plaintext, keys or names. Keys are opaque ``/``-separated names of
lower-case letters, digits, ``-`` and ``_`` (checked, so a key can never escape the local root).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from claimvault.config import Settings
from claimvault.errors import ClaimVaultError, ConfigurationError

_KEY = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
_DIR_MODE = 0o700
_FILE_MODE = 0o600


class BlobObjectMissing(ClaimVaultError):
    """A stored object that should exist does not (its metadata row outlived it, or it was removed)."""

    status_code = 500
    code = "blob_missing"


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or len(key) > 512:
        raise ValueError("invalid blob key")
    return key


@runtime_checkable
class BlobBackend(Protocol):
    """Byte storage for ciphertext objects. ``put`` replaces an existing object; ``delete`` is idempotent."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...  # raises BlobObjectMissing

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]: ...


class LocalDirBackend:
    """Files under ``root``: written atomically (temporary file, fsync, rename), mode 0600 in 0700 directories."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _ensure_dir(self, path: Path) -> None:
        missing: list[Path] = []
        current = path
        while not current.exists():
            missing.append(current)
            current = current.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=_DIR_MODE)
            os.chmod(directory, _DIR_MODE)  # mkdir's mode is reduced by the umask

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._ensure_dir(self.root)
        self._ensure_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), _FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobObjectMissing("The stored file is missing.") from exc

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        if not self.root.is_dir():
            return
        for dirpath, _dirnames, filenames in os.walk(self.root):
            base = Path(dirpath).relative_to(self.root)
            for name in sorted(filenames):
                if name.startswith("."):
                    continue  # an in-flight temporary file
                key = "/".join((*base.parts, name))
                if key.startswith(prefix) and _KEY.fullmatch(key):
                    yield key


class S3Backend:
    """Objects under ``prefix`` in an S3-compatible bucket (boto3, imported only when this backend is used)."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ConfigurationError("CLAIMVAULT_S3_BUCKET must be set when CLAIMVAULT_BLOB_BACKEND is s3.")
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            try:
                import boto3  # optional dependency (the "cloud" extra)
            except ImportError as exc:
                raise ConfigurationError(
                    "CLAIMVAULT_BLOB_BACKEND is s3 but boto3 is not installed (install the 'cloud' extra)."
                ) from exc
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self._client = client

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in {"NoSuchKey", "404", "NotFound"}

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as exc:
            if self._is_missing(exc):
                raise BlobObjectMissing("The stored file is missing.") from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as exc:
            if self._is_missing(exc):
                return False
            raise
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                key = str(item["Key"])[len(self.prefix) :]
                if _KEY.fullmatch(key):
                    yield key


def build_blob_backend(settings: Settings) -> BlobBackend:
    """The backend the settings name: ``local`` (``CLAIMVAULT_BLOB_DIR``, default var/blobs) or ``s3``."""
    if settings.blob_backend == "s3":
        return S3Backend(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
        )
    return LocalDirBackend(settings.resolved_blob_dir)
