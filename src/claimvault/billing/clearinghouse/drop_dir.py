"""A local drop directory shared with a clearinghouse agent: ``outbound/`` for our batches, ``inbound/`` for
their 999/277CA/835 files, ``inbound/archive/`` for files already imported. Directories are 0700 and files 0600;
writes are atomic (a hidden temporary file, then a no-clobber link into place); symlinks and names with paths
are refused."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path

from claimvault.billing.clearinghouse.interfaces import (
    MAX_FILE_BYTES,
    InboundFile,
    SendReceipt,
    TransportError,
    check_name,
)
from claimvault.billing.clearinghouse.kinds import detect_kind

log = logging.getLogger(__name__)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _ensure_dir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise TransportError("drop directory refused: a directory is a symlink or not a directory")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_no_clobber(src: Path, dst: Path) -> bool:
    """Hard-link ``src`` to ``dst`` unless ``dst`` exists; True when linked."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        return False
    return True


class DropDirectory:
    """:class:`~claimvault.billing.clearinghouse.interfaces.ClearinghouseTransport` over a local directory."""

    def __init__(self, root: Path | str, *, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = Path(root)
        self.outbound = self.root / "outbound"
        self.inbound = self.root / "inbound"
        self.archive = self.inbound / "archive"
        self.max_file_bytes = max_file_bytes
        for path in (self.root, self.outbound, self.inbound, self.archive):
            _ensure_dir(path)

    def __repr__(self) -> str:
        return "DropDirectory(...)"

    # -- send ---------------------------------------------------------------------------------------------------

    def send(self, *, name: str, data: bytes) -> SendReceipt:
        check_name(name)
        _ensure_dir(self.outbound)
        final = self.outbound / name
        temp = self.outbound / f".{name}.{secrets.token_hex(8)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if not _link_no_clobber(temp, final):
                raise TransportError("send refused: an outbound file of that name already exists")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        _fsync_dir(self.outbound)
        log.info("clearinghouse batch written to drop directory", extra={"bytes": len(data)})
        return SendReceipt(
            name=name, location=f"outbound/{name}", size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    # -- fetch --------------------------------------------------------------------------------------------------

    def _read(self, path: Path) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except OSError:  # a symlink (ELOOP) or gone meanwhile
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            if info.st_size > self.max_file_bytes:
                raise TransportError("fetch refused: an inbound file exceeds the size limit")
            return handle.read(self.max_file_bytes + 1)

    def fetch(self, *, kinds: set[str]) -> list[InboundFile]:
        _ensure_dir(self.inbound)
        out: list[InboundFile] = []
        with os.scandir(self.inbound) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith("."))
        for name in names:
            path = self.inbound / name
            if name == self.archive.name or path.is_symlink():
                if path.is_symlink():
                    log.warning("symlink in clearinghouse inbound directory ignored")
                continue
            try:
                check_name(name)
            except TransportError:
                log.warning("inbound file with a refused name ignored")
                continue
            data = self._read(path)
            if data is None:
                continue
            kind = detect_kind(data)
            if kind in kinds:
                out.append(InboundFile(name=name, kind=kind, data=data))
        return out

    # -- acknowledge --------------------------------------------------------------------------------------------

    def acknowledge(self, file: InboundFile) -> None:
        name = check_name(file.name)
        _ensure_dir(self.archive)
        source = self.inbound / name
        current = self._read(source) if os.path.lexists(source) else None
        if current is None:
            raise TransportError("acknowledge failed: the inbound file is no longer there")
        if hashlib.sha256(current).hexdigest() != file.sha256:
            raise TransportError("acknowledge refused: the inbound file changed since it was fetched")
        target = self.archive / name
        suffix = 0
        while not _link_no_clobber(source, target):
            suffix += 1
            target = self.archive / f"{name}.{suffix}"
        os.chmod(target, 0o600)
        os.unlink(source)
        _fsync_dir(self.archive)
        _fsync_dir(self.inbound)
