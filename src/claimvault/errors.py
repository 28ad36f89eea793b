"""Errors that are safe to show: every message here is written by us and carries no submitted data.

Code raises these (or subclasses) when a caller should learn why something failed. Anything else that escapes
is treated as an internal error: its message is neither shown to clients nor written to logs, because driver
and library messages quote row values.
"""

from __future__ import annotations


class ClaimVaultError(Exception):
    """Base class. ``code`` is a stable machine-readable slug; ``message`` is plain and free of data."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details  # structured and data-free: ids, field names, rule ids, codes
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class ValidationFailed(ClaimVaultError):
    status_code = 422
    code = "validation_failed"


class NotFound(ClaimVaultError):
    status_code = 404
    code = "not_found"


class Conflict(ClaimVaultError):
    status_code = 409
    code = "conflict"


class DuplicateSuspected(Conflict):
    """A new record matches existing ones through blind indexes. ``details`` name the matching record ids and
    which identifiers matched (never values); the caller merges, or confirms that the person is someone else."""

    code = "duplicate_suspected"


class AuthenticationRequired(ClaimVaultError):
    status_code = 401
    code = "authentication_required"


class PermissionDenied(ClaimVaultError):
    status_code = 403
    code = "permission_denied"


class TenantViolation(PermissionDenied):
    """A request tried to act on an organization it is not scoped to."""

    code = "tenant_violation"


class ConfigurationError(ClaimVaultError):
    """Settings are invalid or unsafe; the message names the setting, never a secret value."""

    status_code = 500
    code = "configuration_error"
