"""``claimvault orgs``: create and list organizations (practices and billing companies)."""

from __future__ import annotations

import typer
from rich.table import Table

from claimvault.accounts.services import create_organization, list_organizations
from claimvault.cli.common import clean_errors, console, runtime
from claimvault.cli.declare import no_protected_data
from claimvault.security.context import system_context

app = typer.Typer(help="Organizations: the practices and billing companies that own data.", no_args_is_help=True)


@app.command("create")
@no_protected_data
@clean_errors
def create(
    slug: str = typer.Option(..., help="Short unique name other commands take as --org, e.g. 'riverside'."),
    name: str = typer.Option(..., help="Display name, e.g. 'Riverside Family Practice'."),
    kind: str = typer.Option("practice", help="'practice' or 'billing_company'."),
    time_zone: str = typer.Option("America/New_York", help="IANA time zone used to show times."),
) -> None:
    """Create an organization and its encryption keys."""
    with runtime() as rt:
        ctx = system_context("orgs create", organization_id=None, permissions=set())
        org = create_organization(db=rt.db, keys=rt.keys, ctx=ctx, slug=slug, name=name, kind=kind, time_zone=time_zone)
    console.print(f"Created {org.kind} '{org.slug}' ({org.name}).")


@app.command("list")
@no_protected_data
@clean_errors
def list_() -> None:
    """List organizations with their slugs."""
    with runtime() as rt:
        orgs = list_organizations(db=rt.db)
    table = Table("slug", "name", "kind", "time zone")
    for org in orgs:
        table.add_row(org.slug, org.name, org.kind, org.time_zone)
    console.print(table)
