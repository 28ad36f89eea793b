"""One JSON error format for every failure, built only from our own fixed text so no submitted data leaks."""

from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from claimvault.errors import ClaimVaultError
from claimvault.observability.context import request_id_var

logger = logging.getLogger("claimvault.errors")

INTERNAL_ERROR_MESSAGE = "An internal error occurred. Quote the request id when reporting it."
PAYLOAD_TOO_LARGE_MESSAGE = "The request body is too large."
MALFORMED_JSON_MESSAGE = "The request body is not valid JSON."

# Headers an HTTPException may carry that describe the protocol, never the request's data.
_PASSTHROUGH_HEADERS = frozenset({"allow", "www-authenticate", "retry-after"})
# Schema field names, header names and the like; anything else in a location came from the client.
_SAFE_LOC_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_SAFE_ERROR_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CLIENT_FIELD = "(field)"

_PROBLEMS: dict[str, str] = {
    "missing": "field required",
    "extra_forbidden": "unexpected field",
    "string_type": "must be a string",
    "string_too_short": "too short",
    "string_too_long": "too long",
    "string_pattern_mismatch": "has an invalid format",
    "too_short": "too few items",
    "too_long": "too many items",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_type": "must be a decimal number",
    "decimal_parsing": "must be a decimal number",
    "decimal_max_digits": "has too many digits",
    "decimal_max_places": "has too many decimal places",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date without a time",
    "date_past": "must be in the past",
    "date_future": "must be in the future",
    "datetime_type": "must be a date-time (ISO 8601)",
    "datetime_parsing": "must be a date-time (ISO 8601)",
    "datetime_from_date_parsing": "must be a date-time (ISO 8601)",
    "timezone_aware": "must include a timezone",
    "timezone_naive": "must not include a timezone",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "greater_than": "is below the allowed range",
    "greater_than_equal": "is below the allowed range",
    "less_than": "is above the allowed range",
    "less_than_equal": "is above the allowed range",
    "multiple_of": "is not an allowed step",
    "enum": "is not one of the allowed values",
    "literal_error": "is not one of the allowed values",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "value_error": "is invalid",
    "assertion_error": "is invalid",
    "json_type": "must be JSON",
}


def current_request_id(request: Request | None = None) -> str:
    """The id of the request being handled: the context variable, then scope state, then a fresh one."""
    request_id = request_id_var.get()
    if request_id is None and request is not None:
        state = request.scope.get("state")
        if isinstance(state, dict):
            candidate = state.get("request_id")
            request_id = candidate if isinstance(candidate, str) else None
    return request_id or uuid.uuid4().hex


def error_body(
    code: str, message: str, *, details: list[Any] | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """Build ``{"error": {...}}``; ``request_id`` defaults to the current request's id."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "request_id": request_id or current_request_id(),
    }
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    request: Request | None = None,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the standard format."""
    body = error_body(code, message, details=details, request_id=current_request_id(request))
    return JSONResponse(body, status_code=status_code, headers=headers)


def _safe_location(loc: Any, *, client_key_last: bool) -> list[str | int]:
    parts: list[str | int] = []
    for part in loc if isinstance(loc, (list, tuple)) else ():
        is_index = isinstance(part, int) and not isinstance(part, bool)
        is_name = isinstance(part, str) and _SAFE_LOC_PART.fullmatch(part) is not None
        parts.append(part if is_index or is_name else _CLIENT_FIELD)
    if client_key_last and len(parts) > 1:
        parts[-1] = _CLIENT_FIELD
    return parts


def _problem(error_type: Any) -> str:
    if not isinstance(error_type, str):
        return "is invalid"
    if error_type in _PROBLEMS:
        return _PROBLEMS[error_type]
    return error_type if _SAFE_ERROR_TYPE.fullmatch(error_type) else "is invalid"


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Reduce pydantic errors to location and a fixed phrase; input, ctx, msg and url are dropped."""
    details: list[dict[str, Any]] = []
    for error in errors:
        error_type = error.get("type")
        location = _safe_location(error.get("loc", ()), client_key_last=error_type == "extra_forbidden")
        details.append({"location": location, "problem": _problem(error_type)})
    return details


# FHIR routes answer errors as an OperationOutcome (same fixed, data-free text) with the FHIR media type.
FHIR_PATH = re.compile(r"^/api/v1/orgs/[^/]+/fhir(/|$)")
_FHIR_ISSUE_CODES = {401: "login", 403: "forbidden", 404: "not-found", 409: "conflict", 413: "too-costly"}


def fhir_outcome_response(request: Request, status_code: int, code: str, message: str) -> JSONResponse:
    """An OperationOutcome carrying the same code and message as the standard error format."""
    issue_code = _FHIR_ISSUE_CODES.get(status_code, "invalid" if status_code < 500 else "exception")
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue_code,
                "details": {"coding": [{"system": "urn:claimvault:error", "code": code}]},
                "diagnostics": f"{message} (request {current_request_id(request)})",
            }
        ],
    }
    return JSONResponse(body, status_code=status_code, media_type="application/fhir+json")


async def _claimvault_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClaimVaultError)
    if FHIR_PATH.match(request.url.path):
        return fhir_outcome_response(request, exc.status_code, exc.code, exc.message)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(int(retry_after))} if isinstance(retry_after, int | float) else None
    return error_response(exc.status_code, exc.code, exc.message, request=request, headers=headers, details=exc.details)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(400, "malformed_json", MALFORMED_JSON_MESSAGE, request=request)
    if FHIR_PATH.match(request.url.path):
        return fhir_outcome_response(request, 422, "validation_failed", "The request is not valid.")
    return error_response(
        422,
        "validation_failed",
        "The request is not valid.",
        request=request,
        details=validation_details(errors),
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in _PASSTHROUGH_HEADERS} or None
    if status == 404:
        return error_response(404, "not_found", "No such resource.", request=request, headers=headers)
    if status == 405:
        message = "This method is not allowed for this resource."
        return error_response(405, "method_not_allowed", message, request=request, headers=headers)
    if status == 413:
        return error_response(413, "payload_too_large", PAYLOAD_TOO_LARGE_MESSAGE, request=request)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "The request failed."
    return error_response(status, f"http_{status}", phrase, request=request, headers=headers)


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Log the exception (the logging setup strips its message) and answer a data-free 500."""
    logger.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE, request=request)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the standard JSON error format."""
    app.add_exception_handler(ClaimVaultError, _claimvault_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unhandled_error_handler)
