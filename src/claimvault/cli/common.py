"""Shared CLI plumbing: settings, the runtime, a Rich console, and turning errors into clean exits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from claimvault.config import Settings, load_settings
from claimvault.errors import ClaimVaultError
from claimvault.observability.logging import configure_logging
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.data_policy import load_data_policy

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    current = load_settings()
    configure_logging(level=current.log_level, protected_field_names=load_data_policy().protected_field_names())
    return current


@contextmanager
def runtime(current: Settings | None = None) -> Iterator[Runtime]:
    rt = build_runtime(current or settings())
    try:
        yield rt
    finally:
        rt.close()


def clean_errors(func: F) -> F:
    """Show a ClaimVault error's safe message and exit 1; any other error exits 1 with no detail on screen."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except ClaimVaultError as exc:
            err_console.print(f"[red]Error:[/red] {exc.message}")
            raise typer.Exit(1) from None
        except Exception as exc:
            logging.getLogger("claimvault.cli").error("command failed", exc_info=exc)
            err_console.print("[red]Error:[/red] the command failed; see the log for the error type.")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
