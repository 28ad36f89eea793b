"""Access log: one ``claimvault.access`` record per HTTP request; the path only, never the query string."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_logger = logging.getLogger("claimvault.access")


def _log_request(scope: Scope, status: int, started: float) -> None:
    client = scope.get("client")
    method = str(scope.get("method", ""))
    path = str(scope.get("path", ""))
    access_logger.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "client": client[0] if client else None,
        },
    )


class AccessLogMiddleware:
    """Pure ASGI middleware logging method, path, status, duration and client host after each response.

    If the wrapped app raises before starting a response, status 500 is logged and the error re-raised.
    Websocket and lifespan scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status: int | None = None

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        except BaseException:
            _log_request(scope, status if status is not None else 500, started)
            raise
        # An app that returns without starting a response makes the server answer 500.
        _log_request(scope, status if status is not None else 500, started)
