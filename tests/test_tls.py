"""HTTPS serving: the generated dev certificate, TLS 1.2+ over a real socket, and proxy-header trust."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import os
import socket
import ssl
import stat
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI, Request

from claimvault.errors import ConfigurationError
from claimvault.web.server import MAX_HEADER_BYTES, BackgroundServer, build_uvicorn_config, serve
from claimvault.web.tls import (
    DEV_CERTIFICATE_ORGANIZATION,
    TLS12_CIPHERS,
    build_server_ssl_context,
    ensure_dev_certificate,
    is_dev_certificate,
)

FORWARDED_ADDRESS = "203.0.113.9"  # TEST-NET-3 documentation address: only ever placed in a header


# Fixtures and helpers ---------------------------------------------------------------------------------------


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/client")
    def client(request: Request) -> dict[str, str | None]:
        return {"host": request.client.host if request.client else None}

    return app


@pytest.fixture(scope="module")
def dev_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls") / "var" / "tls"
    cert, key = directory / "localhost-cert.pem", directory / "localhost-key.pem"
    assert ensure_dev_certificate(cert, key) is True
    return cert, key


@pytest.fixture(scope="module")
def tls_server(dev_pair: tuple[Path, Path]) -> Iterator[BackgroundServer]:
    with BackgroundServer(_echo_app(), ssl_context=build_server_ssl_context(*dev_pair)) as server:
        yield server


def _self_signed(organization: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "other-cert.pem", directory / "other-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _tls_client(cert: Path, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A verifying client that trusts only the generated certificate, optionally pinned to one version."""
    ctx = ssl.create_default_context(cafile=str(cert))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _legacy_client(version: ssl.TLSVersion, ciphers: str = "DEFAULT:@SECLEVEL=0") -> ssl.SSLContext:
    """A non-verifying client pinned to ``version`` (constructing it warns for pre-1.2 versions)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers(ciphers)
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _handshakes_in_memory(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> bool:
    """Control: can these two contexts complete a handshake at all (no sockets involved)?"""
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = server_ctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = client_ctx.wrap_bio(bios[2], bios[3], server_hostname="localhost")
    done = {"client": False, "server": False}
    try:
        for _ in range(20):
            for side, obj in (("client", client), ("server", server)):
                if not done[side]:
                    try:
                        obj.do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
            bios[0].write(bios[3].read())  # client -> server
            bios[2].write(bios[1].read())  # server -> client
            if all(done.values()):
                return True
    except ssl.SSLError:
        return False
    return False


def _permissive_server_context(cert: Path, key: Path) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.load_cert_chain(cert, key)
    return ctx


class _Reply:
    def __init__(self, response: http.client.HTTPResponse, sock: socket.socket) -> None:
        self.status = response.status
        body = response.read()
        self.json: Any = json.loads(body) if body else None
        self.headers = response.headers
        assert isinstance(sock, ssl.SSLSocket)
        self.tls_version = sock.version()
        cipher = sock.cipher()
        self.cipher = cipher[0] if cipher else None


def _get(server: BackgroundServer, path: str, ctx: ssl.SSLContext, headers: Mapping[str, str] | None = None) -> _Reply:
    """GET over a socket to 127.0.0.1 whose TLS layer verifies the certificate for the name ``localhost``."""
    sock = ctx.wrap_socket(socket.create_connection((server.host, server.port), timeout=5), server_hostname="localhost")
    conn = http.client.HTTPConnection("localhost", server.port, timeout=5)
    conn.sock = sock
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        return _Reply(conn.getresponse(), sock)
    finally:
        conn.close()


# Development certificate ------------------------------------------------------------------------------------


def test_dev_certificate_identity_and_extensions(dev_pair: tuple[Path, Path]) -> None:
    cert = x509.load_pem_x509_certificate(dev_pair[0].read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == DEV_CERTIFICATE_ORGANIZATION
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]

    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc < now
    assert now - cert.not_valid_before_utc < datetime.timedelta(hours=1)
    lifetime = cert.not_valid_after_utc - now
    assert datetime.timedelta(days=396) < lifetime <= datetime.timedelta(days=397)


def test_dev_key_is_private_and_directory_is_owner_only(dev_pair: tuple[Path, Path]) -> None:
    cert, key = dev_pair
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not [p.name for p in key.parent.iterdir() if p.name.endswith(".tmp")]


def test_dev_key_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        assert ensure_dev_certificate(tmp_path / "c.pem", tmp_path / "k.pem") is True
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "c.pem").stat().st_mode) == 0o644


def test_second_call_leaves_existing_files_untouched(dev_pair: tuple[Path, Path]) -> None:
    cert, key = dev_pair
    before = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in (cert, key)]
    assert ensure_dev_certificate(cert, key) is False
    assert [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in (cert, key)] == before


def test_missing_half_of_the_pair_regenerates_both(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    ensure_dev_certificate(cert, key)
    old_key = key.read_bytes()
    cert.unlink()
    assert ensure_dev_certificate(cert, key) is True
    assert key.read_bytes() != old_key
    build_server_ssl_context(cert, key)  # the new key matches the new certificate


def test_is_dev_certificate_distinguishes_the_marker(dev_pair: tuple[Path, Path], tmp_path: Path) -> None:
    assert is_dev_certificate(dev_pair[0]) is True
    other_cert, _ = _self_signed("Example Clinic Billing", tmp_path)
    assert is_dev_certificate(other_cert) is False


def test_is_dev_certificate_missing_or_garbage_file_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError) as caught:
        is_dev_certificate(missing)
    assert str(missing) in caught.value.message
    assert "CLAIMVAULT_TLS_CERT_FILE" in caught.value.message

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("SECRET-CONTENT-1234 not a certificate")
    with pytest.raises(ConfigurationError) as caught:
        is_dev_certificate(garbage)
    assert str(garbage) in caught.value.message
    assert "SECRET-CONTENT" not in caught.value.message
    assert caught.value.__cause__ is None


# Server SSL context -----------------------------------------------------------------------------------------


def test_server_context_settings(dev_pair: tuple[Path, Path]) -> None:
    ctx = build_server_ssl_context(*dev_pair)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 and tls12 <= set(TLS12_CIPHERS.split(":"))
    assert all(c["aead"] for c in ctx.get_ciphers())


def test_server_context_load_errors_name_the_file_without_contents(dev_pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = dev_pair
    _, other_key = _self_signed("Someone Else", tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        build_server_ssl_context(cert, other_key)  # key does not match the certificate
    assert "CLAIMVAULT_TLS_KEY_FILE" in caught.value.message and str(other_key) in caught.value.message
    assert "PRIVATE KEY" not in caught.value.message

    with pytest.raises(ConfigurationError) as caught:
        build_server_ssl_context(cert, tmp_path / "missing-key.pem")
    assert str(tmp_path / "missing-key.pem") in caught.value.message

    with pytest.raises(ConfigurationError) as caught:
        build_server_ssl_context(key, key)  # a key where the certificate should be
    assert "CLAIMVAULT_TLS_CERT_FILE" in caught.value.message
    assert "PRIVATE KEY" not in caught.value.message

    encrypted = tmp_path / "encrypted-key.pem"
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(ConfigurationError) as caught:
        build_server_ssl_context(cert, encrypted)  # must fail fast, never prompt on a terminal
    assert "encrypted" in caught.value.message


# Serving over TLS -------------------------------------------------------------------------------------------


def test_config_serves_with_our_context(dev_pair: tuple[Path, Path]) -> None:
    ctx = build_server_ssl_context(*dev_pair)
    config = build_uvicorn_config(
        _echo_app(), host="127.0.0.1", port=0, ssl_context=ctx, trusted_proxies=(), log_level="INFO"
    )
    config.load()
    assert config.ssl is ctx


def test_serve_refuses_to_start_without_usable_tls_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        serve(
            _echo_app(),
            host="127.0.0.1",
            port=0,
            cert_path=tmp_path / "cert.pem",
            key_path=tmp_path / "key.pem",
        )
    assert str(tmp_path / "cert.pem") in caught.value.message


def test_tls_1_1_client_is_refused(tls_server: BackgroundServer, dev_pair: tuple[Path, Path]) -> None:
    weak = _legacy_client(ssl.TLSVersion.TLSv1_1)
    if not _handshakes_in_memory(_permissive_server_context(*dev_pair), weak):
        pytest.skip("this OpenSSL build cannot negotiate TLS 1.1 even with a permissive peer")
    with (
        socket.create_connection((tls_server.host, tls_server.port), timeout=5) as raw,
        pytest.raises(ssl.SSLError),
    ):
        weak.wrap_socket(raw, server_hostname="localhost")


def test_non_aead_tls_1_2_suite_is_refused(tls_server: BackgroundServer, dev_pair: tuple[Path, Path]) -> None:
    cbc_only = _legacy_client(ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA256")
    # Uvicorn's own context (built from certfile/keyfile) would accept this; ours must not.
    uvicorn_like = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    uvicorn_like.load_cert_chain(*dev_pair)
    assert _handshakes_in_memory(uvicorn_like, cbc_only)
    with (
        socket.create_connection((tls_server.host, tls_server.port), timeout=5) as raw,
        pytest.raises(ssl.SSLError),
    ):
        cbc_only.wrap_socket(raw, server_hostname="localhost")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, None], ids=["tls1.2-only", "default"])
def test_modern_clients_connect_and_verify_localhost(
    tls_server: BackgroundServer, dev_pair: tuple[Path, Path], version: ssl.TLSVersion | None
) -> None:
    reply = _get(tls_server, "/health", _tls_client(dev_pair[0], version))
    assert reply.status == 200
    assert reply.json == {"status": "ok"}
    assert reply.tls_version in {"TLSv1.2", "TLSv1.3"}
    if version is ssl.TLSVersion.TLSv1_2:
        assert reply.tls_version == "TLSv1.2"
        assert reply.cipher in TLS12_CIPHERS.split(":")
    assert reply.headers.get("server") is None
    assert reply.headers.get("date") is not None


def test_oversized_request_head_is_not_served(tls_server: BackgroundServer, dev_pair: tuple[Path, Path]) -> None:
    # h11 bounds the *buffered incomplete* head; one socket read can exceed it, so use a head far larger than
    # any single read (asyncio reads at most 256 KiB) to make the outcome deterministic.
    head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    ctx = _tls_client(dev_pair[0])
    with ctx.wrap_socket(
        socket.create_connection((tls_server.host, tls_server.port), timeout=5), server_hostname="localhost"
    ) as sock:
        try:
            sock.sendall(head)
            first_line = sock.makefile("rb").readline()
        except (ConnectionError, ssl.SSLError):
            return  # the server hung up mid-request: not served
    assert first_line.startswith(b"HTTP/1.1 400"), first_line[:40]


# Proxy headers ----------------------------------------------------------------------------------------------


def _client_host_seen(trusted_proxies: list[str], dev_pair: tuple[Path, Path]) -> str:
    with BackgroundServer(
        _echo_app(), ssl_context=build_server_ssl_context(*dev_pair), trusted_proxies=trusted_proxies
    ) as server:
        reply = _get(server, "/client", _tls_client(dev_pair[0]), {"X-Forwarded-For": FORWARDED_ADDRESS})
    assert reply.status == 200
    return str(reply.json["host"])


def test_forwarded_for_ignored_without_trusted_proxies(dev_pair: tuple[Path, Path]) -> None:
    assert _client_host_seen([], dev_pair) == "127.0.0.1"


def test_forwarded_allow_ips_env_var_cannot_enable_proxy_trust(
    dev_pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert _client_host_seen([], dev_pair) == "127.0.0.1"


def test_forwarded_for_used_from_a_trusted_proxy(dev_pair: tuple[Path, Path]) -> None:
    assert _client_host_seen(["127.0.0.1"], dev_pair) == FORWARDED_ADDRESS


def test_config_hardening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    config = build_uvicorn_config(
        _echo_app(), host="127.0.0.1", port=0, ssl_context=None, trusted_proxies=[], log_level="info"
    )
    assert config.proxy_headers is False
    assert config.forwarded_allow_ips == []
    assert config.server_header is False
    assert config.access_log is False
    assert config.log_config is None
    assert config.h11_max_incomplete_event_size == MAX_HEADER_BYTES


@pytest.mark.parametrize("entry", ["*", "proxy.internal", "10.0.0.1/8"])
def test_trusted_proxies_must_be_addresses_or_networks(entry: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_uvicorn_config(
            _echo_app(), host="127.0.0.1", port=0, ssl_context=None, trusted_proxies=[entry], log_level="info"
        )
    assert "CLAIMVAULT_TRUSTED_PROXIES" in caught.value.message
    assert entry not in caught.value.message


def test_trace_logging_and_weak_contexts_are_refused(dev_pair: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigurationError):
        build_uvicorn_config(
            _echo_app(), host="127.0.0.1", port=0, ssl_context=None, trusted_proxies=[], log_level="trace"
        )
    with pytest.raises(ConfigurationError):
        build_uvicorn_config(
            _echo_app(),
            host="127.0.0.1",
            port=0,
            ssl_context=_permissive_server_context(*dev_pair),
            trusted_proxies=[],
            log_level="info",
        )
