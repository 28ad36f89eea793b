"""Per-request values that every log record carries (set by the request-id middleware, read by the formatter)."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("claimvault_request_id", default=None)
