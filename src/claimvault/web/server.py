"""Serving the app with uvicorn: our TLS context, proxy headers only from trusted proxies, quiet defaults."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from claimvault.errors import ConfigurationError
from claimvault.web.tls import build_server_ssl_context

MAX_HEADER_BYTES = 16 * 1024
"""Largest request head (request line plus headers) h11 buffers; a bigger one is rejected with 400."""

KEEP_ALIVE_SECONDS = 5
GRACEFUL_SHUTDOWN_SECONDS = 10
_ALLOWED_LOG_LEVELS = frozenset({"critical", "error", "warning", "info", "debug"})


class _OwnSSLConfig(uvicorn.Config):
    """``uvicorn.Config`` that serves with a caller-built ``SSLContext``.

    Uvicorn's own context (built in ``load()`` from ``ssl_certfile``) cannot be given a minimum TLS version,
    so no certificate files are passed to uvicorn at all (its own TLS branch in ``load()`` never runs); after
    the normal ``load()`` we install our context. ``Server`` only calls ``load()`` while ``loaded`` is false,
    so the context is never rebuilt. ``is_ssl`` stays false: uvicorn reads it only for worker/reload banners.
    """

    def __init__(self, app: Any, *, ssl_context: ssl.SSLContext | None, **kwargs: Any) -> None:
        self._server_ssl_context = ssl_context
        super().__init__(app, **kwargs)

    def load(self) -> None:
        super().load()
        self.ssl = self._server_ssl_context


def _validated_proxies(trusted_proxies: Sequence[str]) -> list[str]:
    """Each entry must be an IP address or network: uvicorn silently treats anything else as a literal."""
    proxies: list[str] = []
    for index, raw in enumerate(trusted_proxies):
        entry = raw.strip()
        try:
            if "/" in entry:
                ipaddress.ip_network(entry)  # strict, exactly as uvicorn parses it
            else:
                ipaddress.ip_address(entry)
        except ValueError:
            raise ConfigurationError(
                f"CLAIMVAULT_TRUSTED_PROXIES entry {index + 1} is not an IP address or network "
                "(wildcards are not accepted)."
            ) from None
        proxies.append(entry)
    return proxies


def build_uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    trusted_proxies: Sequence[str],
    log_level: str,
    limit_concurrency: int | None = None,
) -> uvicorn.Config:
    """Uvicorn configuration with our TLS context and X-Forwarded-* honoured only from ``trusted_proxies``.

    Uvicorn defaults to ``proxy_headers=True`` with ``forwarded_allow_ips`` read from ``FORWARDED_ALLOW_IPS``;
    both are set explicitly here so the environment cannot widen trust.
    """
    if ssl_context is not None and ssl_context.minimum_version < ssl.TLSVersion.TLSv1_2:
        raise ConfigurationError("The server TLS context must require TLS 1.2 or newer.")
    level = log_level.lower()
    if level not in _ALLOWED_LOG_LEVELS:
        # "trace" would make uvicorn log every ASGI message, request bodies included.
        raise ConfigurationError("CLAIMVAULT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL.")
    proxies = _validated_proxies(trusted_proxies)
    return _OwnSSLConfig(
        app,
        ssl_context=ssl_context,
        host=host,
        port=port,
        http="h11",  # h11 enforces the header size limit below; httptools would ignore it
        proxy_headers=bool(proxies),
        # An explicit list, even an empty one, stops uvicorn from reading FORWARDED_ALLOW_IPS.
        forwarded_allow_ips=proxies,
        log_config=None,
        log_level=level,
        access_log=False,
        server_header=False,
        date_header=True,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        limit_concurrency=limit_concurrency,
    )


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    cert_path: Path,
    key_path: Path,
    trusted_proxies: Sequence[str] = (),
    log_level: str = "info",
    limit_concurrency: int | None = None,
) -> None:
    """Serve ``app`` over HTTPS until interrupted (SIGINT/SIGTERM)."""
    config = build_uvicorn_config(
        app,
        host=host,
        port=port,
        ssl_context=build_server_ssl_context(cert_path, key_path),
        trusted_proxies=trusted_proxies,
        log_level=log_level,
        limit_concurrency=limit_concurrency,
    )
    uvicorn.Server(config).run()


class BackgroundServer:
    """Run ``app`` under uvicorn in a thread on 127.0.0.1 for tests; use as a context manager.

    The listening socket is bound before the thread starts (port 0 picks a free one) and handed to uvicorn,
    so ``port`` is known up front and no other process can take the port in between.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        app: Any,
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        trusted_proxies: Sequence[str] = (),
        log_level: str = "warning",
        startup_timeout: float = 10.0,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((self.host, port))
            self.port: int = self._socket.getsockname()[1]
            config = build_uvicorn_config(
                app,
                host=self.host,
                port=self.port,
                ssl_context=ssl_context,
                trusted_proxies=trusted_proxies,
                log_level=log_level,
            )
        except BaseException:
            self._socket.close()
            raise
        self.server = uvicorn.Server(config)
        self._tls = ssl_context is not None
        self._startup_timeout = startup_timeout
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._socket])
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread, which re-raises it
            self._error = exc

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        poll = threading.Event()  # never set: a precise short wait without busy-looping
        deadline = time.monotonic() + self._startup_timeout
        while not self.server.started:
            if not self._thread.is_alive():
                self._socket.close()
                raise RuntimeError("The background server stopped during startup.") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("The background server did not start in time.")
            poll.wait(0.005)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for the thread, and release the socket. Safe to call more than once."""
        if self._thread.ident is None:  # never started
            self._socket.close()
            return
        self.server.should_exit = True
        self._thread.join(timeout=GRACEFUL_SHUTDOWN_SECONDS)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(timeout=5)
        self._socket.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
