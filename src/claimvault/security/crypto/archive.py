"""The backup archive cipher: a stream sealed in chunks with AES-256-GCM under a fresh random archive key.

Layout: ``MAGIC``, a 4-byte big-endian header length, a small plaintext JSON header (format, archive id, KEK id,
the archive key wrapped by the key provider, chunk size), then chunks, each a 4-byte length and a GCM ciphertext.
Every chunk's nonce is its index (the key is used for one archive only) and its associated data binds the
SHA-256 of the header, the archive id, the chunk index and a last-chunk flag: a flipped bit, a truncated
stream, reordered or transplanted chunks, trailing bytes or an edited header all fail authentication.
Key material never goes into the archive; unsealing needs the same keyring (or KMS key) to unwrap the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from claimvault.errors import ClaimVaultError, ConfigurationError
from claimvault.security.crypto.provider import KeyProvider, KeyUnwrapError

MAGIC = b"CLAIMVAULT-BACKUP\x00v1\n"
FORMAT = 1
DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_HEADER = 64 * 1024
_TAG = 16
_LEN = struct.Struct(">I")


class ArchiveError(ClaimVaultError):
    """The archive is not a ClaimVault backup, was altered, is incomplete, or cannot be unsealed here."""

    code = "backup_invalid"


@dataclass(frozen=True)
class ArchiveHeader:
    archive_id: uuid.UUID
    kek_id: str
    wrapped_key: bytes
    chunk_size: int
    raw: bytes  # the header's exact bytes, whose digest every chunk authenticates

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def _wrap_context(archive_id: uuid.UUID) -> bytes:
    return b"claimvault/backup-archive/v1|" + archive_id.bytes


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(header: ArchiveHeader, index: int, last: bool) -> bytes:
    return header.digest + header.archive_id.bytes + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def _read_exact(src: BinaryIO, size: int) -> bytes:
    data = src.read(size)
    if len(data) != size:
        raise ArchiveError("The backup archive is truncated.")
    return data


def seal(src: BinaryIO, dst: BinaryIO, *, provider: KeyProvider, chunk_size: int = DEFAULT_CHUNK_SIZE) -> uuid.UUID:
    """Encrypt everything readable from ``src`` into ``dst``; return the new archive's id."""
    if chunk_size < 1 or chunk_size > 64 * 1024 * 1024:
        raise ValueError("chunk size out of range")
    archive_id = uuid.uuid4()
    key = secrets.token_bytes(32)
    kek_id, wrapped = provider.wrap(key, context=_wrap_context(archive_id))
    raw = json.dumps(
        {
            "format": FORMAT,
            "archive_id": str(archive_id),
            "kek_id": kek_id,
            "wrapped_key": base64.b64encode(wrapped).decode(),
            "chunk_size": chunk_size,
            "cipher": "AES-256-GCM",
        },
        sort_keys=True,
    ).encode()
    header = ArchiveHeader(archive_id, kek_id, wrapped, chunk_size, raw)
    dst.write(MAGIC + _LEN.pack(len(raw)) + raw)
    aead = AESGCM(key)
    index = 0
    current = src.read(chunk_size)
    while True:
        following = src.read(chunk_size) if current else b""
        last = not following
        sealed = aead.encrypt(_nonce(index), current, _aad(header, index, last))
        dst.write(_LEN.pack(len(sealed)) + sealed)
        if last:
            return archive_id
        current, index = following, index + 1


def read_header(src: BinaryIO) -> ArchiveHeader:
    """Parse the plaintext header (nothing is authenticated until the chunks are opened)."""
    if src.read(len(MAGIC)) != MAGIC:
        raise ArchiveError("The file is not a ClaimVault backup archive (or uses an unknown format).")
    (length,) = _LEN.unpack(_read_exact(src, _LEN.size))
    if length > MAX_HEADER:
        raise ArchiveError("The backup archive header is malformed.")
    raw = _read_exact(src, length)
    try:
        doc = json.loads(raw)
        if doc["format"] != FORMAT:
            raise ArchiveError("The backup archive uses an unknown format version.")
        header = ArchiveHeader(
            archive_id=uuid.UUID(doc["archive_id"]),
            kek_id=str(doc["kek_id"]),
            wrapped_key=base64.b64decode(doc["wrapped_key"], validate=True),
            chunk_size=int(doc["chunk_size"]),
            raw=raw,
        )
    except (ValueError, KeyError, TypeError):
        raise ArchiveError("The backup archive header is malformed.") from None
    if not 1 <= header.chunk_size <= 64 * 1024 * 1024:
        raise ArchiveError("The backup archive header is malformed.")
    return header


def unseal(src: BinaryIO, dst: BinaryIO, *, provider: KeyProvider) -> ArchiveHeader:
    """Authenticate and decrypt every chunk of ``src`` into ``dst``. Raises ``ArchiveError`` on any alteration;
    ``dst`` then holds partial output that the caller must discard (nothing in it has been trusted yet)."""
    header = read_header(src)
    try:
        key = provider.unwrap(header.kek_id, header.wrapped_key, context=_wrap_context(header.archive_id))
    except KeyUnwrapError:
        raise ArchiveError(
            "The backup archive's key cannot be unwrapped: the keyring (or KMS key) that made this backup is not "
            "the one configured here, or the archive header was altered."
        ) from None
    except ConfigurationError:
        raise
    aead = AESGCM(key)
    index = 0
    while True:
        prefix = src.read(_LEN.size)
        if len(prefix) != _LEN.size:
            raise ArchiveError("The backup archive is truncated.")
        (length,) = _LEN.unpack(prefix)
        if length < _TAG or length > header.chunk_size + _TAG:
            raise ArchiveError("The backup archive is corrupt.")
        sealed = _read_exact(src, length)
        plain: bytes | None = None
        for last in (False, True):
            try:
                plain = aead.decrypt(_nonce(index), sealed, _aad(header, index, last))
            except InvalidTag:
                continue
            if last:
                if src.read(1):
                    raise ArchiveError("The backup archive has unexpected data after its end.")
                dst.write(plain)
                return header
            break
        if plain is None:
            raise ArchiveError("The backup archive failed authentication: it was altered or is corrupt.")
        dst.write(plain)
        index += 1


class ArchiveCipher:
    """``seal``/``unseal`` bound to a key provider: what ``claimvault.storage.backup`` is handed (storage does
    not import the security package)."""

    def __init__(self, provider: KeyProvider, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.provider = provider
        self.chunk_size = chunk_size

    def seal(self, src: BinaryIO, dst: BinaryIO) -> str:
        return str(seal(src, dst, provider=self.provider, chunk_size=self.chunk_size))

    def unseal(self, src: BinaryIO, dst: BinaryIO) -> str:
        return str(unseal(src, dst, provider=self.provider).archive_id)
