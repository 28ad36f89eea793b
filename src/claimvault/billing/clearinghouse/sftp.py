"""The clearinghouse over SFTP (asyncssh), with the drop directory's semantics: atomic no-clobber uploads to the
outbound directory (0600, a hidden ``.part`` file renamed into place), fetch of inbound files by detected kind,
and acknowledge = move into the archive directory. Files stay in memory; nothing is staged on our disk.

The server's host key is always verified, against a known_hosts file or one pinned public key; unknown keys are
never accepted. Authentication is by private key or password handed in by the caller; neither appears in a repr,
a log line or an error. Each operation opens one connection, bounded by timeouts; the synchronous methods work
from a CLI and from any thread (inside a running event loop they run on a private worker thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import posixpath
import secrets
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from claimvault.billing.clearinghouse.interfaces import (
    MAX_FILE_BYTES,
    InboundFile,
    SendReceipt,
    TransportError,
    check_name,
)
from claimvault.billing.clearinghouse.kinds import detect_kind
from claimvault.errors import ConfigurationError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, repr=False)
class SftpSettings:
    """Where and how to reach the clearinghouse. Exactly one of ``known_hosts`` (a file) or ``host_key`` (an
    OpenSSH public key line) pins the server; at least one of ``client_key`` (PEM/OpenSSH private key bytes) or
    ``password`` authenticates us. Remote directories are paths on the server (relative to the login dir)."""

    host: str
    username: str
    port: int = 22
    known_hosts: Path | None = None
    host_key: str | None = None
    client_key: bytes | None = field(default=None)
    client_key_passphrase: str | None = field(default=None)
    password: str | None = field(default=None)
    outbound_dir: str = "outbound"
    inbound_dir: str = "inbound"
    archive_dir: str = "inbound/archive"
    connect_timeout: float = 20.0
    operation_timeout: float = 120.0
    max_file_bytes: int = MAX_FILE_BYTES

    def __repr__(self) -> str:
        return f"SftpSettings(host={self.host!r}, port={self.port})"

    def check(self) -> None:
        if (self.known_hosts is None) == (self.host_key is None):
            raise ConfigurationError("clearinghouse SFTP needs exactly one of known_hosts or a pinned host_key")
        if self.client_key is None and self.password is None:
            raise ConfigurationError("clearinghouse SFTP needs a client key or a password")
        for d in (self.outbound_dir, self.inbound_dir, self.archive_dir):
            if not d or ".." in d.split("/"):
                raise ConfigurationError("clearinghouse SFTP remote directories must not contain '..'")


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code, whether or not this thread has a running loop."""

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


class SftpTransport:
    """:class:`~claimvault.billing.clearinghouse.interfaces.ClearinghouseTransport` over SFTP."""

    def __init__(self, settings: SftpSettings) -> None:
        settings.check()
        self._settings = settings

    def __repr__(self) -> str:
        return f"SftpTransport({self._settings!r})"

    # -- connection ---------------------------------------------------------------------------------------------

    def _connect_options(self) -> dict[str, Any]:
        s = self._settings
        known_hosts: Any
        try:
            if s.host_key is not None:
                known_hosts = ([asyncssh.import_public_key(s.host_key)], [], [])
            else:
                known_hosts = str(s.known_hosts)
            client_keys = [asyncssh.import_private_key(s.client_key, s.client_key_passphrase)] if s.client_key else None
        except (asyncssh.KeyImportError, ValueError):
            raise ConfigurationError("clearinghouse SFTP key could not be read (host key or client key)") from None
        return {
            "port": s.port,
            "username": s.username,
            "known_hosts": known_hosts,  # never None: that would accept any host key
            "client_keys": client_keys,
            "passphrase": None,
            "password": s.password,
            "agent_path": None,
            "config": None,
            "gss_host": None,
            "host_based_auth": False,
            "kbdint_auth": False,
            "connect_timeout": s.connect_timeout,
            "login_timeout": s.connect_timeout,
        }

    async def _session(self, operation: str, work: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        s = self._settings
        options = self._connect_options()
        try:
            async with asyncssh.connect(s.host, **options) as conn, conn.start_sftp_client() as sftp:
                return await asyncio.wait_for(work(sftp), timeout=s.operation_timeout)
        except TransportError:
            raise
        except asyncssh.HostKeyNotVerifiable:
            raise TransportError(f"{operation} failed: the clearinghouse host key is not trusted") from None
        except asyncssh.PermissionDenied:
            raise TransportError(f"{operation} failed: the clearinghouse refused our credentials") from None
        except asyncssh.SFTPError as exc:
            raise TransportError(f"{operation} failed: SFTP error code {exc.code}") from None
        except TimeoutError:
            raise TransportError(f"{operation} failed: timed out") from None
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(f"{operation} failed: {type(exc).__name__}") from None

    @staticmethod
    async def _ensure_dir(sftp: asyncssh.SFTPClient, path: str) -> None:
        if not await sftp.exists(path):
            await sftp.makedirs(path, attrs=asyncssh.SFTPAttrs(permissions=0o700), exist_ok=True)
        attrs = await sftp.lstat(path)
        if attrs.permissions is None or not stat.S_ISDIR(attrs.permissions):
            raise TransportError("remote directory refused: a symlink or not a directory")

    async def _read(self, sftp: asyncssh.SFTPClient, path: str) -> bytes | None:
        attrs = await sftp.lstat(path)
        if attrs.permissions is None or not stat.S_ISREG(attrs.permissions):
            return None
        if attrs.size is not None and attrs.size > self._settings.max_file_bytes:
            raise TransportError("fetch refused: an inbound file exceeds the size limit")
        async with sftp.open(path, "rb") as handle:
            data = await handle.read(self._settings.max_file_bytes + 1)
        if not isinstance(data, bytes):
            raise TransportError("fetch failed: the SFTP client returned text")
        if len(data) > self._settings.max_file_bytes:
            raise TransportError("fetch refused: an inbound file exceeds the size limit")
        return data

    # -- async API ----------------------------------------------------------------------------------------------

    async def send_async(self, *, name: str, data: bytes) -> SendReceipt:
        check_name(name)
        outbound = self._settings.outbound_dir

        async def work(sftp: asyncssh.SFTPClient) -> SendReceipt:
            await self._ensure_dir(sftp, outbound)
            final = posixpath.join(outbound, name)
            temp = posixpath.join(outbound, f".{name}.{secrets.token_hex(8)}.part")
            if await sftp.exists(final):
                raise TransportError("send refused: an outbound file of that name already exists")
            flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL
            async with sftp.open(temp, flags, asyncssh.SFTPAttrs(permissions=0o600), encoding=None) as handle:
                await handle.write(data)
            try:
                await sftp.rename(temp, final)  # the standard SFTP rename never replaces an existing file
            except asyncssh.SFTPError:
                await sftp.remove(temp)
                raise TransportError("send refused: an outbound file of that name already exists") from None
            return SendReceipt(name=name, location=final, size=len(data), sha256=hashlib.sha256(data).hexdigest())

        receipt = await self._session("send", work)
        log.info("clearinghouse batch uploaded", extra={"bytes": receipt.size})
        return receipt

    async def fetch_async(self, *, kinds: set[str]) -> list[InboundFile]:
        inbound = self._settings.inbound_dir

        async def work(sftp: asyncssh.SFTPClient) -> list[InboundFile]:
            await self._ensure_dir(sftp, inbound)
            out: list[InboundFile] = []
            entries = await sftp.readdir(inbound)
            for entry in sorted(entries, key=lambda e: str(e.filename)):
                name = str(entry.filename)
                if name.startswith("."):
                    continue
                try:
                    check_name(name)
                except TransportError:
                    log.warning("inbound file with a refused name ignored")
                    continue
                data = await self._read(sftp, posixpath.join(inbound, name))
                if data is None:  # a directory (the archive), a symlink or a special file
                    continue
                kind = detect_kind(data)
                if kind in kinds:
                    out.append(InboundFile(name=name, kind=kind, data=data))
            return out

        return await self._session("fetch", work)

    async def acknowledge_async(self, file: InboundFile) -> None:
        name = check_name(file.name)
        inbound, archive = self._settings.inbound_dir, self._settings.archive_dir

        async def work(sftp: asyncssh.SFTPClient) -> None:
            await self._ensure_dir(sftp, archive)
            source = posixpath.join(inbound, name)
            if not await sftp.exists(source):
                raise TransportError("acknowledge failed: the inbound file is no longer there")
            current = await self._read(sftp, source)
            if current is None or hashlib.sha256(current).hexdigest() != file.sha256:
                raise TransportError("acknowledge refused: the inbound file changed since it was fetched")
            for suffix in range(1000):
                target = posixpath.join(archive, name if suffix == 0 else f"{name}.{suffix}")
                if await sftp.exists(target):
                    continue
                try:
                    await sftp.rename(source, target)
                except asyncssh.SFTPFileAlreadyExists:
                    continue
                return
            raise TransportError("acknowledge failed: no free archive name")

        await self._session("acknowledge", work)

    # -- sync API (the ClearinghouseTransport protocol) ---------------------------------------------------------

    def send(self, *, name: str, data: bytes) -> SendReceipt:
        return _run(lambda: self.send_async(name=name, data=data))

    def fetch(self, *, kinds: set[str]) -> list[InboundFile]:
        return _run(lambda: self.fetch_async(kinds=kinds))

    def acknowledge(self, file: InboundFile) -> None:
        _run(lambda: self.acknowledge_async(file))
