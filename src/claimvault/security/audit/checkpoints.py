"""Signed checkpoints of the audit log, and the sinks they are published to.

A checkpoint commits to the first ``tree_size`` events: the RFC 6962 root hash of their Merkle tree, the chain
hash of the last of them, and the time. It is signed with an Ed25519 key kept beside the other keys; ``init``
prints the public key's fingerprint so that an operator can pin it somewhere the server cannot write, and
``audit verify --public-key FILE`` then accepts only checkpoints signed by that key.

The signed message is plain text (one value per line, see ``signed_message``), so a third party can check a
signature with any Ed25519 tool. A checkpoint file also carries the compact range at its size (the roots of the
perfect subtrees covering it): not signed, but tied to the signed root, because it must hash to it. The writer
uses it to extend the tree from the last checkpoint instead of rehashing the whole log.

Sinks sit behind one small interface. The default writes one JSON file per checkpoint into a directory that can
(and in production should) live outside ``./var/``, on storage the application host cannot rewrite; an S3 bucket
with object lock or a remote syslog server fit the same interface.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from claimvault.errors import ConfigurationError

ORIGIN = "claimvault-audit-checkpoint/v1"


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``SHA256:`` + hex of SHA-256 over the raw 32-byte public key, in groups of four."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    return "SHA256:" + ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def signed_message(*, tree_size: int, root_hash: bytes, chain_head: bytes, timestamp: str) -> bytes:
    """The exact bytes that are signed: five lines, each ending in a newline.

    ``claimvault-audit-checkpoint/v1``, the tree size in decimal, the root hash in base64, the chain head in hex,
    the time in ISO 8601 UTC.
    """
    lines = [ORIGIN, str(tree_size), base64.b64encode(root_hash).decode(), chain_head.hex(), timestamp]
    return ("\n".join(lines) + "\n").encode("ascii")


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    chain_head: bytes
    timestamp: str
    key_fingerprint: str
    signature: bytes
    compact_range: tuple[bytes, ...] = ()
    source: str = ""  # where it was read from (a file name), for reports

    def message(self) -> bytes:
        return signed_message(
            tree_size=self.tree_size, root_hash=self.root_hash, chain_head=self.chain_head, timestamp=self.timestamp
        )

    def verify_signature(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> str:
        return json.dumps(
            {
                "origin": ORIGIN,
                "tree_size": self.tree_size,
                "root_hash": base64.b64encode(self.root_hash).decode(),
                "chain_head": self.chain_head.hex(),
                "timestamp": self.timestamp,
                "key_fingerprint": self.key_fingerprint,
                "signature": base64.b64encode(self.signature).decode(),
                "compact_range": [h.hex() for h in self.compact_range],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "") -> Checkpoint:
        try:
            data = json.loads(text)
            if data.get("origin") != ORIGIN:
                raise ValueError("unknown checkpoint format")
            return cls(
                tree_size=int(data["tree_size"]),
                root_hash=base64.b64decode(data["root_hash"], validate=True),
                chain_head=bytes.fromhex(data["chain_head"]),
                timestamp=str(data["timestamp"]),
                key_fingerprint=str(data.get("key_fingerprint", "")),
                signature=base64.b64decode(data["signature"], validate=True),
                compact_range=tuple(bytes.fromhex(h) for h in data.get("compact_range", [])),
                source=source,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable checkpoint {source or ''}".strip()) from exc


# Signing key --------------------------------------------------------------------------------------------------
class CheckpointSigner:
    """The Ed25519 key that signs checkpoints: a PKCS#8 PEM file with mode 0600, public key beside it (.pub)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.fingerprint = fingerprint(self.public_key)

    @classmethod
    def load(cls, path: Path) -> CheckpointSigner:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError):
            raise ConfigurationError("The audit checkpoint signing key is missing or unreadable.") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError("The audit checkpoint signing key is not an Ed25519 key.")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> CheckpointSigner:
        if path.exists():
            return cls.load(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        signer = cls(key)
        public_key_path(path).write_bytes(public_key_pem(signer.public_key))
        return signer

    def sign(
        self, *, tree_size: int, root_hash: bytes, chain_head: bytes, compact_range: tuple[bytes, ...]
    ) -> Checkpoint:
        timestamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        message = signed_message(tree_size=tree_size, root_hash=root_hash, chain_head=chain_head, timestamp=timestamp)
        return Checkpoint(
            tree_size=tree_size,
            root_hash=root_hash,
            chain_head=chain_head,
            timestamp=timestamp,
            key_fingerprint=self.fingerprint,
            signature=self._key.sign(message),
            compact_range=compact_range,
        )


def public_key_path(private_key_path: Path) -> Path:
    return private_key_path.with_name(private_key_path.name + ".pub")


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError):
        raise ConfigurationError("The checkpoint public key file is missing or not a PEM public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError("The checkpoint public key is not an Ed25519 key.")
    return key


# Sinks ----------------------------------------------------------------------------------------------------------
class CheckpointSink(Protocol):
    """Where checkpoints go. Publishing never overwrites; reading returns every checkpoint, oldest first."""

    description: str

    def publish(self, checkpoint: Checkpoint) -> str: ...

    def read_all(self) -> list[Checkpoint]: ...


class DirectorySink:
    """One ``<tree size>-<time>.json`` file per checkpoint in a directory (created 0700; files never replaced)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"directory {directory}"

    def publish(self, checkpoint: Checkpoint) -> str:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = checkpoint.timestamp.replace(":", "").replace("-", "").replace(".", "")
        name = f"{checkpoint.tree_size:012d}-{stamp}.json"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_text(checkpoint.to_json())
        final = self.directory / name
        # link() refuses an existing target: a published checkpoint is never replaced.
        os.link(tmp, final)
        tmp.unlink()
        return name

    def read_all(self) -> list[Checkpoint]:
        if not self.directory.is_dir():
            return []
        found = [
            Checkpoint.from_json(path.read_text(), source=path.name)
            for path in sorted(self.directory.glob("*.json"))
            if not path.name.startswith(".")
        ]
        return sorted(found, key=lambda c: (c.tree_size, c.timestamp))
