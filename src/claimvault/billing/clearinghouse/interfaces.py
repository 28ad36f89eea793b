"""The clearinghouse transport contract: send a batch, fetch inbound files of given kinds (999, 277CA, 835; the
kind read from ST01/GS08, never from the file name), acknowledge a fetched file so it moves to the archive and is
never fetched again. Files travel in memory; reprs show names, kinds and sizes, never contents.

Delivery is at least once: a file fetched but not acknowledged (say the import failed) comes back on the next
fetch, so callers acknowledge only after the results are committed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

from claimvault.errors import ClaimVaultError

FileKind = Literal["999", "277CA", "277", "835", "TA1", "unknown"]
INBOUND_KINDS: frozenset[str] = frozenset({"999", "277CA", "835"})
MAX_FILE_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class TransportError(ClaimVaultError):
    """A transport operation failed; the message names the operation, never credentials or file contents."""

    status_code = 502
    code = "clearinghouse_transport_error"


def check_name(name: str) -> str:
    """A bare file name: letters, digits, ``.``, ``_``, ``-``; no separators, no leading dot, no ``..``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise TransportError("file name refused: only a bare name of letters, digits, '.', '_' and '-' is allowed")
    return name


@dataclass(frozen=True)
class SendReceipt:
    """Where a batch was delivered, its size and SHA-256 (to record with the batch)."""

    name: str
    location: str
    size: int
    sha256: str


@dataclass(frozen=True)
class InboundFile:
    """One fetched file: its name in the inbound directory, the bytes, and the detected kind."""

    name: str
    kind: FileKind
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class ClearinghouseTransport(Protocol):
    def send(self, *, name: str, data: bytes) -> SendReceipt:
        """Deliver ``data`` as ``name`` to the outbound side, atomically; refuse to replace an existing file."""
        ...

    def fetch(self, *, kinds: set[str]) -> list[InboundFile]:
        """Inbound files of the given kinds not yet acknowledged, oldest name first; others are left in place."""
        ...

    def acknowledge(self, file: InboundFile) -> None:
        """Move a fetched file to the archive so it is never fetched again."""
        ...
