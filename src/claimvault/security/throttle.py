"""Brute-force protection: attempt throttling with exponential backoff, checked before any hash is computed.

One small interface (``AttemptLimiter``) with an in-memory implementation (single process, the embedded
default) and a Redis one (several processes). Password and MFA failures are counted under separate keys, per
account and per source address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Throttled(Exception):
    """Too many recent failures for one of the keys; retry after ``retry_after`` seconds."""

    retry_after: int


class AttemptLimiter(Protocol):
    def check(self, keys: list[str]) -> None:
        """Raise ``Throttled`` if any key is in backoff. Called before any password or code is checked."""
        ...

    def failed(self, keys: list[str]) -> bool:
        """Count a failure for every key; return True when this failure locked one of them out."""
        ...

    def succeeded(self, keys: list[str]) -> None:
        """Clear the counters for these keys."""
        ...


class PermissiveLimiter:
    """Placeholder until the real limiters land: never throttles."""

    def check(self, keys: list[str]) -> None:
        return None

    def failed(self, keys: list[str]) -> bool:
        return False

    def succeeded(self, keys: list[str]) -> None:
        return None


def password_keys(username: str, source_address: str | None) -> list[str]:
    return [f"pw:acct:{username}", f"pw:ip:{source_address or '-'}"]


def mfa_keys(user_id: str, source_address: str | None) -> list[str]:
    return [f"mfa:acct:{user_id}", f"mfa:ip:{source_address or '-'}"]


def build_limiter(*, backend: str, redis_url: str | None) -> AttemptLimiter:
    """The configured limiter. (Placeholder: the in-memory and Redis limiters replace this.)"""
    return PermissiveLimiter()
