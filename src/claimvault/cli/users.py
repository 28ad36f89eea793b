"""``claimvault users``: create and list members, terminate, request an MFA reset, disable dormant accounts.

One-time passwords go only to a 0600 file under ./var/ whose path is printed, never to the screen. Commands run
under a system context naming the command and the operator, and are audited like a user's actions. An MFA reset
is only requested here: a security administrator other than the requester approves it through the API.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from claimvault.accounts import lifecycle
from claimvault.accounts.services import get_organization_by_slug
from claimvault.accounts.sessions import now_utc
from claimvault.cli.common import clean_errors, console, runtime, settings
from claimvault.cli.declare import no_protected_data
from claimvault.security.context import system_context
from claimvault.security.permissions import Permission

app = typer.Typer(help="Users: members of an organization and their account lifecycle.", no_args_is_help=True)

ORG_HELP = "Slug of the organization, e.g. 'riverside'."


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def write_one_time_password(directory: Path, name: str, password: str) -> Path:
    """Write a one-time password to ``directory/name.txt`` readable only by the owner; return the path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{name}.txt"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# ClaimVault one-time password for '{name}'. Change at first login, then delete this file.\n")
        fh.write(password + "\n")
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path


@app.command("create")
@no_protected_data
@clean_errors
def create(
    org: str = typer.Option(..., "--org", help=ORG_HELP),
    username: str = typer.Option(..., help="Login name: 3-64 lowercase letters, digits, dots, hyphens, underscores."),
    role: list[str] = typer.Option(..., "--role", help="A role to grant (repeat for several), e.g. 'biller'."),
) -> None:
    """Create a member with roles and a one-time password written to a private file under ./var/."""
    current = settings()
    with runtime(current) as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("users create", organization_id=organization.id, permissions={Permission.USER_MANAGE})
        user, password = lifecycle.create_member(
            db=rt.db, passwords=rt.passwords, ctx=ctx, username=username, roles=role
        )
    path = write_one_time_password(current.var_dir / "one-time-passwords", f"{org}-{user.username}", password)
    console.print(f"Created '{user.username}' in '{org}' with roles {', '.join(sorted(set(role)))}.")
    console.print(f"One-time password: {path.resolve()} (readable only by you; a change is required at first login)")


@app.command("list")
@no_protected_data
@clean_errors
def list_(org: str = typer.Option(..., "--org", help=ORG_HELP)) -> None:
    """List the members of an organization with roles, account state and last login."""
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("users list", organization_id=organization.id, permissions={Permission.USER_READ})
        members = lifecycle.list_members(db=rt.db, ctx=ctx)
    table = Table("username", "roles", "state", "last login")
    for m in members:
        table.add_row(m.username, ", ".join(m.roles), m.state, _when(m.last_login_at))
    console.print(table)


@app.command("terminate")
@no_protected_data
@clean_errors
def terminate(
    org: str = typer.Option(..., "--org", help=ORG_HELP),
    username: str = typer.Option(..., help="The member to terminate."),
) -> None:
    """Terminate a member now: login refused, every session and API token revoked."""
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("users terminate", organization_id=organization.id, permissions={Permission.USER_MANAGE})
        user = lifecycle.member_by_username(db=rt.db, organization_id=organization.id, username=username)
        report = lifecycle.terminate_user(db=rt.db, user_id=user.id, actor=ctx)
    console.print(
        f"Terminated '{user.username}': {report.sessions_revoked} session(s) and "
        f"{report.tokens_revoked} API token(s) revoked. Re-activation needs a second administrator's approval."
    )


@app.command("reset-mfa")
@no_protected_data
@clean_errors
def reset_mfa(
    org: str = typer.Option(..., "--org", help=ORG_HELP),
    username: str = typer.Option(..., help="The member whose second factors are to be cleared."),
) -> None:
    """Request an MFA reset; a security administrator approves it in the API (two-person rule)."""
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("users reset-mfa", organization_id=organization.id, permissions={Permission.USER_MANAGE})
        user = lifecycle.member_by_username(db=rt.db, organization_id=organization.id, username=username)
        request = lifecycle.request_mfa_reset(db=rt.db, ctx=ctx, user_id=user.id)
    console.print(f"MFA reset for '{user.username}' requested (request {request.id}).")
    console.print(f"A security administrator approves it: POST /api/v1/orgs/{org}/approvals/{request.id}/decide")


@app.command("disable-dormant")
@no_protected_data
@clean_errors
def disable_dormant(
    days: int = typer.Option(lifecycle.DORMANT_DAYS, min=1, max=3650, help="Unused for more than this many days."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report the accounts; change nothing."),
) -> None:
    """Disable accounts not used for --days (90 by default) and revoke their sessions; prints the report.
    Suitable for a scheduler (cron, systemd timer)."""
    with runtime() as rt:
        ctx = system_context("users disable-dormant", organization_id=None, permissions={Permission.USER_MANAGE})
        found = lifecycle.disable_dormant_accounts(db=rt.db, now=now_utc(), days=days, dry_run=dry_run, actor=ctx)
    table = Table("username", "last login", "idle days")
    for r in found:
        table.add_row(r.username, _when(r.last_login_at), str(r.idle_days))
    console.print(table)
    verb = "would be disabled (dry run)" if dry_run else "disabled"
    console.print(f"{len(found)} dormant account(s) {verb}.")
