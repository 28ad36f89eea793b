"""Pure ASGI middlewares: request ids, security headers, request body limits and a last-resort 500."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claimvault.observability.context import request_id_var
from claimvault.web.errors import PAYLOAD_TOO_LARGE_MESSAGE, error_response, unhandled_error_handler

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
STATIC_CACHE_CONTROL = "public, max-age=3600"


class RequestIdMiddleware:
    """Give every request an id (a well-formed incoming ``X-Request-ID`` or a fresh one) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class SecurityHeadersMiddleware:
    """Add security headers to every response; forbid caching except for successful static files."""

    def __init__(self, app: ASGIApp, static_prefixes: Sequence[str] = ("/static/",)) -> None:
        self.app = app
        self.static_prefixes = tuple(static_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith(self.static_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if is_static and message.get("status", 500) < 400:
                    headers["Cache-Control"] = STATIC_CACHE_CONTROL
                    if "pragma" in headers:
                        del headers["Pragma"]
                else:
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passes the limit; never carries any of the body."""


class BodySizeLimitMiddleware:
    """Answer 413 when the declared or streamed request body exceeds ``max_bytes``, or, for a path matching one
    of ``route_limits`` (upload routes with a larger limit of their own), that route's limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, route_limits: Sequence[tuple[re.Pattern[str], int]] = ()) -> None:
        if max_bytes < 0 or any(limit < 0 for _, limit in route_limits):
            raise ValueError("body limits must not be negative")
        self.app = app
        self.default_max_bytes = max_bytes
        self.route_limits = tuple(route_limits)

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.route_limits if pattern.fullmatch(path)), self.default_max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _reject(scope, receive, send, 400, "bad_request", "The Content-Length header is invalid.")
                return
            if int(declared) > max_bytes:
                await _reject(scope, receive, send, 413, "payload_too_large", PAYLOAD_TOO_LARGE_MESSAGE)
                return

        received = 0
        too_large = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if too_large:
                # Whatever the app answers after the body was cut off (often a 400), the answer is 413.
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not response_started:
            await _reject(scope, receive, send, 413, "payload_too_large", PAYLOAD_TOO_LARGE_MESSAGE)


async def _reject(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    response = error_response(status, code, message, request=Request(scope))
    await response(scope, receive, send)


class UnhandledErrorMiddleware:
    """Turn an escaped exception into the standard 500 inside the header middlewares, so it gets them too.

    Starlette renders ``Exception`` handlers in its outermost middleware, past every user middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if response_started:
                raise
            response = await unhandled_error_handler(Request(scope), exc)
            await response(scope, receive, send)


def install_http_protections(
    app: FastAPI,
    *,
    max_body_bytes: int,
    route_limits: Sequence[tuple[re.Pattern[str], int]] = (),
    static_prefixes: Sequence[str] = ("/static/",),
) -> None:
    """Add the middlewares; outermost first: request id, security headers, 500 guard, body limit (``route_limits``:
    upload routes whose own limit is larger than ``max_body_bytes``)."""
    # add_middleware puts each new middleware outside the previous ones, so add innermost first.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes, route_limits=route_limits)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, static_prefixes=static_prefixes)
    app.add_middleware(RequestIdMiddleware)
