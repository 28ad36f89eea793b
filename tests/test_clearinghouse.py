"""Clearinghouse transports: the SFTP adapter against an in-process asyncssh SFTP server (127.0.0.1, ephemeral
port, host and client keys generated in tmp_path, chrooted) and the local drop directory, with the same
semantics: atomic no-clobber send, fetch by detected kind, fetch once after acknowledge, 0600/0700 modes,
refused names, symlinks, untrusted host keys and wrong credentials."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import asyncssh
import pytest

from claimvault.billing.clearinghouse.drop_dir import DropDirectory
from claimvault.billing.clearinghouse.interfaces import ClearinghouseTransport, TransportError
from claimvault.billing.clearinghouse.kinds import detect_kind
from claimvault.billing.clearinghouse.sftp import SftpSettings, SftpTransport
from claimvault.errors import ConfigurationError
from tests.ack_files import ODD, make_277ca, make_999

PASSWORD = "correct horse battery staple"
BATCH = b"ISA*00*...synthetic 837P batch...~"
ACK_999 = make_999(group_control=41, transaction_controls=[1, 2]).encode()
ACK_277 = make_277ca(claims=[("CV-7", Decimal("90.00"))]).encode()
ERA_835 = (
    make_999(group_control=41, transaction_controls=[1])
    .replace("GS*FA*", "GS*HP*")
    .replace("005010X231A1", "005010X221A1")
    .replace("ST*999*", "ST*835*")
    .encode()
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- the in-process SFTP server ---------------------------------------------------------------------------------


class _Server(asyncssh.SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "claimvault" and password == PASSWORD


@dataclass
class SftpWorld:
    root: Path  # the chroot on "their" side
    settings: SftpSettings
    host_key: asyncssh.SSHKey
    keydir: Path

    def transport(self, **changes: object) -> SftpTransport:
        return SftpTransport(replace(self.settings, **changes))  # type: ignore[arg-type]


@pytest.fixture
def sftp_world(tmp_path: Path) -> Iterator[SftpWorld]:
    keydir = tmp_path / "keys"
    keydir.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    (keydir / "authorized_keys").write_bytes(client_key.export_public_key())
    root = tmp_path / "chroot"
    root.mkdir()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncssh.SSHAcceptor:
        return await asyncssh.create_server(
            _Server,
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=str(keydir / "authorized_keys"),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
            allow_scp=False,
        )

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    port = server.sockets[0].getsockname()[1]
    known_hosts = keydir / "known_hosts"
    known_hosts.write_bytes(b"[127.0.0.1]:%d " % port + host_key.export_public_key())
    settings = SftpSettings(
        host="127.0.0.1",
        port=port,
        username="claimvault",
        known_hosts=known_hosts,
        client_key=client_key.export_private_key(),
        connect_timeout=10,
        operation_timeout=20,
    )
    try:
        yield SftpWorld(root=root, settings=settings, host_key=host_key, keydir=keydir)
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _drop_inbound(root: Path, name: str, data: bytes) -> None:
    inbound = root / "inbound"
    inbound.mkdir(exist_ok=True)
    (inbound / name).write_bytes(data)


# --- shared semantics, run against both transports -------------------------------------------------------------


@pytest.fixture(params=["sftp", "drop_dir"])
def transport_and_root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ClearinghouseTransport, Path]:
    if request.param == "sftp":
        world: SftpWorld = request.getfixturevalue("sftp_world")
        return world.transport(), world.root
    root = tmp_path / "drop"
    return DropDirectory(root), root


def test_send_is_atomic_private_and_never_replaces(transport_and_root: tuple[ClearinghouseTransport, Path]) -> None:
    transport, root = transport_and_root
    receipt = transport.send(name="batch-0001.x12", data=BATCH)
    assert receipt.size == len(BATCH) and len(receipt.sha256) == 64 and receipt.location.endswith("batch-0001.x12")
    sent = root / "outbound" / "batch-0001.x12"
    assert sent.read_bytes() == BATCH
    assert _mode(sent) == 0o600
    assert _mode(root / "outbound") == 0o700
    assert [p.name for p in (root / "outbound").iterdir()] == ["batch-0001.x12"]  # no temp file left behind
    with pytest.raises(TransportError, match="already exists"):
        transport.send(name="batch-0001.x12", data=b"other")
    assert sent.read_bytes() == BATCH
    assert [p.name for p in (root / "outbound").iterdir()] == ["batch-0001.x12"]


@pytest.mark.parametrize("name", ["../escape.x12", "a/b.x12", ".hidden", "..", "", "x" * 200, "nul\x00.x12"])
def test_names_with_paths_are_refused(transport_and_root: tuple[ClearinghouseTransport, Path], name: str) -> None:
    transport, root = transport_and_root
    with pytest.raises(TransportError, match="file name refused"):
        transport.send(name=name, data=BATCH)
    assert not (root.parent / "escape.x12").exists()


def test_fetch_by_detected_kind_then_once(transport_and_root: tuple[ClearinghouseTransport, Path]) -> None:
    transport, root = transport_and_root
    transport.fetch(kinds={"999"})  # creates the inbound directory on either side
    # names mislead on purpose: the kind comes from ST01/GS08
    _drop_inbound(root, "a-remit.999", ACK_277)
    _drop_inbound(root, "b-ack.835", ACK_999)
    _drop_inbound(root, "c.dat", ERA_835)
    _drop_inbound(root, "d-notes.txt", b"not x12 at all")

    acks = transport.fetch(kinds={"999", "277CA"})
    assert [(f.name, f.kind) for f in acks] == [("a-remit.999", "277CA"), ("b-ack.835", "999")]
    assert acks[1].data == ACK_999
    assert "ISA" not in repr(acks[1])  # reprs never carry contents
    assert [(f.name, f.kind) for f in transport.fetch(kinds={"835"})] == [("c.dat", "835")]

    # not acknowledged yet: fetched again (at least once)
    assert [f.name for f in transport.fetch(kinds={"999"})] == ["b-ack.835"]
    for f in acks:
        transport.acknowledge(f)
    assert transport.fetch(kinds={"999", "277CA"}) == []
    archive = root / "inbound" / "archive"
    assert sorted(p.name for p in archive.iterdir()) == ["a-remit.999", "b-ack.835"]
    assert (archive / "b-ack.835").read_bytes() == ACK_999
    assert (root / "inbound" / "c.dat").exists() and (root / "inbound" / "d-notes.txt").exists()

    # the clearinghouse reuses a name: the second copy is archived beside the first, nothing is lost
    _drop_inbound(root, "b-ack.835", ACK_999)
    again = transport.fetch(kinds={"999"})
    transport.acknowledge(again[0])
    assert sorted(p.name for p in archive.iterdir()) == ["a-remit.999", "b-ack.835", "b-ack.835.1"]


def test_acknowledge_refuses_a_file_that_changed(transport_and_root: tuple[ClearinghouseTransport, Path]) -> None:
    transport, root = transport_and_root
    transport.fetch(kinds={"999"})
    _drop_inbound(root, "ack.x12", ACK_999)
    [fetched] = transport.fetch(kinds={"999"})
    _drop_inbound(root, "ack.x12", make_999(group_control=42, transaction_controls=[3]).encode())
    with pytest.raises(TransportError, match="changed since it was fetched"):
        transport.acknowledge(fetched)
    assert (root / "inbound" / "ack.x12").exists()
    (root / "inbound" / "ack.x12").unlink()
    with pytest.raises(TransportError, match="no longer there"):
        transport.acknowledge(fetched)


def test_symlinks_in_inbound_are_not_followed(transport_and_root: tuple[ClearinghouseTransport, Path]) -> None:
    transport, root = transport_and_root
    transport.fetch(kinds={"999"})
    secret = root.parent / "outside-secret.x12"
    secret.write_bytes(ACK_999)
    (root / "inbound" / "link.x12").symlink_to(secret)
    assert transport.fetch(kinds={"999"}) == []


# --- drop directory specifics ----------------------------------------------------------------------------------


def test_drop_directory_layout_and_modes(tmp_path: Path) -> None:
    root = tmp_path / "drop"
    DropDirectory(root)
    for d in (root, root / "outbound", root / "inbound", root / "inbound" / "archive"):
        assert d.is_dir() and _mode(d) == 0o700
    os.chmod(root / "inbound", 0o755)  # noqa: S103 - the drop directory must tighten it
    DropDirectory(root)
    assert _mode(root / "inbound") == 0o700


def test_drop_directory_refuses_symlinked_directories(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "drop"
    root.mkdir()
    (root / "outbound").symlink_to(elsewhere)
    with pytest.raises(TransportError, match="symlink"):
        DropDirectory(root)


def test_drop_directory_archives_with_private_mode(tmp_path: Path) -> None:
    drop = DropDirectory(tmp_path / "drop")
    path = drop.inbound / "ack.x12"
    path.write_bytes(ACK_999)
    os.chmod(path, 0o644)
    [f] = drop.fetch(kinds={"999"})
    drop.acknowledge(f)
    assert _mode(drop.archive / "ack.x12") == 0o600


# --- SFTP specifics -------------------------------------------------------------------------------------------


def test_sftp_with_password_and_pinned_host_key(sftp_world: SftpWorld) -> None:
    pinned = sftp_world.host_key.export_public_key().decode()
    transport = sftp_world.transport(known_hosts=None, host_key=pinned, client_key=None, password=PASSWORD)
    transport.send(name="batch-7.x12", data=BATCH)
    assert (sftp_world.root / "outbound" / "batch-7.x12").read_bytes() == BATCH


def test_sftp_refuses_an_unknown_host_key(sftp_world: SftpWorld) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    transport = sftp_world.transport(known_hosts=None, host_key=impostor)
    with pytest.raises(TransportError, match="host key is not trusted"):
        transport.send(name="batch-8.x12", data=BATCH)
    other = sftp_world.keydir / "other_known_hosts"
    other.write_text(f"[127.0.0.1]:{sftp_world.settings.port} {impostor}")
    with pytest.raises(TransportError, match="host key is not trusted"):
        sftp_world.transport(known_hosts=other).fetch(kinds={"999"})
    assert not (sftp_world.root / "outbound").exists()


def test_sftp_refuses_wrong_credentials_and_never_shows_them(sftp_world: SftpWorld) -> None:
    wrong = "wrong-password-MARKER-31337"
    transport = sftp_world.transport(client_key=None, password=wrong)
    with pytest.raises(TransportError, match="refused our credentials") as caught:
        transport.send(name="batch-9.x12", data=BATCH)
    assert wrong not in str(caught.value) and wrong not in repr(transport)
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key()
    with pytest.raises(TransportError, match="refused our credentials"):
        sftp_world.transport(client_key=stranger).send(name="batch-9.x12", data=BATCH)
    assert not (sftp_world.root / "outbound").exists()


def test_sftp_settings_require_pinning_and_credentials(sftp_world: SftpWorld) -> None:
    with pytest.raises(ConfigurationError, match="known_hosts or a pinned host_key"):
        sftp_world.transport(known_hosts=None)
    with pytest.raises(ConfigurationError, match="client key or a password"):
        sftp_world.transport(client_key=None)
    with pytest.raises(ConfigurationError, match="must not contain"):
        sftp_world.transport(inbound_dir="../etc")
    assert "PRIVATE" not in repr(sftp_world.settings)


def test_sftp_sync_api_works_inside_a_running_event_loop(sftp_world: SftpWorld) -> None:
    transport = sftp_world.transport()

    async def inside() -> list[str]:
        transport.send(name="from-loop.x12", data=BATCH)
        return [p.name for p in (sftp_world.root / "outbound").iterdir()]

    assert asyncio.run(inside()) == ["from-loop.x12"]


def test_detect_kind_reads_the_envelope_with_any_delimiters() -> None:
    assert detect_kind(make_999(group_control=1, transaction_controls=[1], delimiters=ODD).encode()) == "999"
    assert detect_kind(make_277ca(claims=[("CV-1", Decimal(1))], delimiters=ODD).encode()) == "277CA"
    assert detect_kind(ERA_835) == "835"
    assert detect_kind(b"\xff\xfe binary") == "unknown"
    assert detect_kind(b"ISA*short") == "unknown"
