"""How a CLI command declares what it touches: a permission it exercises through the PHI gate (under an
audited system context naming the command), or that it touches no protected data. A test walks the command
tree and fails on a command that declares neither."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from claimvault.security.permissions import Permission

F = TypeVar("F", bound=Callable[..., Any])
PERMISSIONS_ATTR = "__claimvault_cli_permissions__"
NO_PROTECTED_DATA_ATTR = "__claimvault_no_protected_data__"


def uses_permissions(*permissions: Permission) -> Callable[[F], F]:
    def mark(func: F) -> F:
        setattr(func, PERMISSIONS_ATTR, frozenset(permissions))
        return func

    return mark


def no_protected_data(func: F) -> F:
    setattr(func, NO_PROTECTED_DATA_ATTR, True)
    return func


def declared_permissions(func: Callable[..., Any]) -> frozenset[Permission]:
    return frozenset(getattr(func, PERMISSIONS_ATTR, frozenset()))
