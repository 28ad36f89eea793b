"""The one logging setup: a root JSON handler with redaction, safe exception rendering, library loggers."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Final, TextIO

from sqlalchemy.exc import StatementError

from claimvault.errors import ClaimVaultError, ConfigurationError
from claimvault.observability.context import request_id_var
from claimvault.observability.redaction import (
    REDACTED_MARK,
    STANDARD_RECORD_ATTRS,
    UNFORMATTABLE,
    RedactionFilter,
    Redactor,
    qualified_name,
    redact_record,
)

__all__ = ["JsonFormatter", "configure_logging", "describe_exception"]

LIBRARY_LOGGERS: Final = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.pool",
    "alembic",
    "fastapi",
    "httpx",
    "httpcore",
    "asyncio",
)
# Loggers that write statements/parameters (SQLAlchemy) or full URLs with query strings (httpx, httpcore)
# below WARNING: they never go lower than WARNING, whatever level the application asks for.
WARNING_FLOOR_LOGGERS: Final = ("sqlalchemy", "sqlalchemy.engine", "httpx", "httpcore", "mail.log")

_HANDLER_MARK: Final = "_claimvault_handler"
_MAX_FRAMES: Final = 50
_MAX_CHAIN: Final = 8
_MAX_GROUP_MEMBERS: Final = 10
_SQLSTATE = re.compile(r"[0-9A-Z]{5}")
_STACK_LINE = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+), in (?P<function>.*)$', re.MULTILINE)


def _timestamp(created: float) -> str:
    millis = int((created % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def _frames(tb: TracebackType | None) -> tuple[list[dict[str, Any]], int]:
    frames = [
        {"file": frame.f_code.co_filename, "line": lineno, "function": frame.f_code.co_name}
        for frame, lineno in traceback.walk_tb(tb)
    ]
    omitted = max(0, len(frames) - _MAX_FRAMES)
    return frames[omitted:], omitted


def _describe_one(
    exc: BaseException, redactor: Redactor | None, tb: TracebackType | None, depth: int
) -> dict[str, Any]:
    info: dict[str, Any] = {"type": qualified_name(type(exc))}
    info["frames"], omitted = _frames(tb)
    if omitted:
        info["frames_omitted"] = omitted
    if isinstance(exc, ClaimVaultError):
        message = str(getattr(exc, "message", ""))
        info["message"] = redactor.redact(message) if redactor is not None else message
        info["code"] = str(exc.code)
    else:
        info["message_withheld"] = True
    if isinstance(exc, StatementError) and exc.orig is not None:
        info["orig_type"] = qualified_name(type(exc.orig))
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and _SQLSTATE.fullmatch(sqlstate):
            info["sqlstate"] = sqlstate
    if isinstance(exc, BaseExceptionGroup) and depth < 2:
        info["exceptions"] = [
            _describe_one(member, redactor, member.__traceback__, depth + 1)
            for member in exc.exceptions[:_MAX_GROUP_MEMBERS]
        ]
    return info


def describe_exception(
    exc: BaseException, redactor: Redactor | None = None, tb: TracebackType | None = None
) -> dict[str, Any]:
    """Structured, PHI-free description: type, frames (file/line/function) and the cause/context chain.

    Messages appear only for ``ClaimVaultError`` (ours, data-free); SQLAlchemy errors add the driver error's
    class and SQLSTATE. Never renders ``str(exc)`` of other exceptions, source lines, statements or locals.
    """
    info = _describe_one(exc, redactor, tb if tb is not None else exc.__traceback__, 0)
    chain: list[dict[str, Any]] = []
    seen = {id(exc)}
    current = exc
    while len(chain) < _MAX_CHAIN:
        if current.__cause__ is not None:
            nxt, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            nxt, relation = current.__context__, "context"
        else:
            break
        if id(nxt) in seen:
            break
        seen.add(id(nxt))
        entry = _describe_one(nxt, redactor, nxt.__traceback__, 0)
        entry["relation"] = relation
        chain.append(entry)
        current = nxt
    if chain:
        info["chain"] = chain
    return info


def _stack_frames(stack_info: str) -> list[dict[str, Any]]:
    return [
        {"file": m.group("file"), "line": int(m.group("line")), "function": m.group("function").strip()}
        for m in _STACK_LINE.finditer(stack_info)
    ][-_MAX_FRAMES:]


def _json_default(value: object) -> str:
    # Extras are made serializable by redaction; this is a backstop that never renders the value.
    return f"[UNSERIALIZABLE:{qualified_name(type(value))}]"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exception, stack.

    Redacts records the ``RedactionFilter`` has not already seen, so it is safe on its own too.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor if redactor is not None else Redactor()

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception:  # noqa: BLE001 - a log line must never break the caller
            fallback = {
                "ts": _timestamp(time.time()),
                "level": str(getattr(record, "levelname", "ERROR")),
                "logger": str(getattr(record, "name", "")),
                "message": UNFORMATTABLE,
            }
            return json.dumps(fallback)

    def _format(self, record: logging.LogRecord) -> str:
        if not getattr(record, REDACTED_MARK, False):
            redact_record(record, self.redactor)
        payload: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            payload["request_id"] = self.redactor.redact(str(request_id))
        for key, value in record.__dict__.items():
            if key in STANDARD_RECORD_ATTRS or key.startswith("_"):
                continue
            payload[f"extra_{key}" if key in payload else key] = value
        if record.exc_info and record.exc_info[1] is not None:
            payload["exception"] = describe_exception(record.exc_info[1], self.redactor, record.exc_info[2])
        if record.stack_info:
            payload["stack"] = _stack_frames(record.stack_info)
        return json.dumps(payload, default=_json_default, separators=(",", ":"))


class _SafeStreamHandler(logging.StreamHandler[TextIO]):
    """Stream handler whose error path never echoes the record (the stdlib prints msg and args)."""

    def handleError(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # nowhere left to report to
            sys.stderr.write('{"level":"ERROR","logger":"claimvault.logging","message":"log record dropped"}\n')


class _StderrHandler(_SafeStreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (test runners and CLIs swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _parse_level(level: str) -> int:
    levels = logging.getLevelNamesMapping()
    name = str(level).strip().upper()
    if name not in levels:
        raise ConfigurationError(f"log level must be one of {', '.join(sorted(levels))}")
    return levels[name]


def configure_logging(
    *, level: str = "INFO", protected_field_names: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Install the single root handler (JSON + redaction) and route library loggers through it.

    Idempotent: a handler installed by an earlier call is replaced, never duplicated. Library loggers lose
    their own handlers and propagate to root; ``uvicorn.access`` is disabled (it logs query strings; we write
    our own access log); SQL and HTTP-client loggers never go below WARNING.
    """
    numeric_level = _parse_level(level)
    redactor = Redactor(protected_field_names)

    handler: _SafeStreamHandler = _SafeStreamHandler(stream) if stream is not None else _StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter(redactor))
    handler.addFilter(RedactionFilter(redactor))

    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)

    for name in LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        for existing in list(library_logger.handlers):
            library_logger.removeHandler(existing)
        library_logger.propagate = True
        library_logger.disabled = False
        library_logger.setLevel(logging.NOTSET)
    for name in WARNING_FLOOR_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
    logging.getLogger("uvicorn.access").disabled = True
    logging.captureWarnings(True)
