"""Every route and every CLI command declares what it needs; routes and commands that reach protected data do
so through the PHI gate."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import typer
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Mount

from claimvault.cli.declare import NO_PROTECTED_DATA_ATTR, PERMISSIONS_ATTR
from claimvault.cli.main import app as cli_app
from claimvault.security.permissions import PROTECTED_DATA_PERMISSIONS, Permission
from claimvault.web.deps import PERMISSION_ATTR, PUBLIC_ATTR

# Functions that enter the PHI gate themselves (checked below to call open_gate).
GATE_ENTRY_POINTS = {"open_gate", "run_reencryption"}
STATIC_MOUNTS = {"/static/swagger", "/static"}  # public, non-data assets for the docs page


def all_routes(app: Any) -> Iterator[Any]:
    """Every route of the app, with included routers flattened (recent FastAPI includes them lazily)."""
    stack = list(app.routes)
    while stack:
        route = stack.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            stack[:0] = list(inner.routes)
        else:
            yield route


def _declared(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        if dep.call is not None and hasattr(dep.call, PERMISSION_ATTR):
            yield getattr(dep.call, PERMISSION_ATTR)
        yield from _declared(dep)


def _route_declaration(route: APIRoute) -> set[Any]:
    declared = set(_declared(route.dependant))
    if getattr(route.endpoint, PUBLIC_ATTR, False):
        declared.add("public")
    return declared


def _calls(func: Callable[..., Any]) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return names


def test_every_route_declares_exactly_one_permission_or_public(app: Any) -> None:
    missing, ambiguous = [], []
    for route in all_routes(app):
        if isinstance(route, Mount):
            assert route.path in STATIC_MOUNTS, f"unexpected mount {route.path}"
            continue
        assert isinstance(route, APIRoute), f"route {route} is not an APIRoute"
        declared = _route_declaration(route)
        if not declared:
            missing.append(f"{sorted(route.methods)} {route.path}")
        elif len(declared) > 1 and "public" in declared:
            ambiguous.append(route.path)
    assert not missing, f"routes without a declared permission: {missing}"
    assert not ambiguous, f"routes both public and permissioned: {ambiguous}"


def test_org_routes_require_a_permission_and_protected_ones_go_through_the_gate(app: Any) -> None:
    checked = 0
    for route in all_routes(app):
        if not isinstance(route, APIRoute):
            continue
        declared = _route_declaration(route)
        if "{org}" in route.path:
            assert any(isinstance(d, Permission) for d in declared), route.path
        if declared & PROTECTED_DATA_PERMISSIONS:
            assert "open_gate" in _calls(route.endpoint), f"{route.path} reaches protected data outside the gate"
            checked += 1
    assert checked >= 5  # the patient routes at least


def test_public_routes_are_the_expected_few(app: Any) -> None:
    public = {r.path for r in all_routes(app) if isinstance(r, APIRoute) and "public" in _route_declaration(r)}
    assert public == {"/", "/health", "/ready", "/openapi.json", "/docs", "/api/v1/auth/login", "/login"}


def _walk(command: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Depth-first over the command tree (duck-typed: Typer ships its own copy of click)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield prefix, command
        return
    for name, sub in subcommands.items():
        yield from _walk(sub, f"{prefix} {name}".strip())


def _commands() -> list[tuple[str, Any]]:
    return list(_walk(typer.main.get_command(cli_app)))


def test_gate_entry_points_open_the_gate() -> None:
    from claimvault.security.crypto.reencrypt import run_reencryption

    assert "open_gate" in _calls(run_reencryption)


def test_every_cli_command_declares_permissions_or_no_protected_data() -> None:
    commands = _commands()
    assert {n for n, _ in commands} >= {"init", "serve", "version", "demo seed", "orgs create", "orgs list"}
    undeclared = []
    for name, cmd in commands:
        callback = inspect.unwrap(cmd.callback) if cmd.callback else None
        perms = getattr(cmd.callback, PERMISSIONS_ATTR, None) or getattr(callback, PERMISSIONS_ATTR, None)
        none = getattr(cmd.callback, NO_PROTECTED_DATA_ATTR, False) or getattr(callback, NO_PROTECTED_DATA_ATTR, False)
        if bool(perms) == bool(none):
            undeclared.append(name)
        if perms:
            assert callback is not None
            calls = _calls(callback)
            assert calls & GATE_ENTRY_POINTS and "system_context" in calls, f"{name} must use the gate as the system"
    assert not undeclared, f"commands that declare neither (or both): {undeclared}"
