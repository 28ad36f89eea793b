"""``claimvault access-review``: start a review of an organization's memberships, show it, decide entries, close
it (revocations applied, undecided entries kept and flagged). Runs under a system context that records the
command and the operator; closed reviews stay in the database as evidence."""

from __future__ import annotations

import uuid

import typer
from rich.table import Table

from claimvault.accounts import access_review
from claimvault.accounts.services import get_organization_by_slug
from claimvault.cli.common import clean_errors, console, runtime
from claimvault.cli.declare import no_protected_data
from claimvault.runtime import Runtime
from claimvault.security.context import SystemContext, system_context
from claimvault.security.permissions import Permission

app = typer.Typer(help="Access reviews: periodic confirmation of who holds which role.", no_args_is_help=True)

ORG_HELP = "Slug of the organization, e.g. 'riverside'."
CAMPAIGN_HELP = "The review's id, as printed by 'access-review start'."


def _ctx(rt: Runtime, command: str, org: str) -> SystemContext:
    organization = get_organization_by_slug(db=rt.db, slug=org)
    return system_context(command, organization_id=organization.id, permissions={Permission.ACCESS_REVIEW_MANAGE})


def _entries_table(rt: Runtime, ctx: SystemContext, campaign_id: uuid.UUID) -> Table:
    _, entries = access_review.get_campaign(db=rt.db, ctx=ctx, campaign_id=campaign_id)
    table = Table("username", "role", "decision", "decided")
    for e in entries:
        decision = (e.decision or "undecided") + (" (default)" if e.defaulted else "")
        table.add_row(e.username, e.role, decision, e.decided_at.strftime("%Y-%m-%d %H:%M UTC") if e.decided_at else "")
    return table


@app.command("start")
@no_protected_data
@clean_errors
def start(org: str = typer.Option(..., "--org", help=ORG_HELP)) -> None:
    """Start a review: one entry per member and role, as they stand now."""
    with runtime() as rt:
        ctx = _ctx(rt, "access-review start", org)
        campaign = access_review.start_campaign(db=rt.db, ctx=ctx)
        table = _entries_table(rt, ctx, campaign.id)
    console.print(f"Started access review {campaign.id} for '{org}'.")
    console.print(table)


@app.command("show")
@no_protected_data
@clean_errors
def show(
    org: str = typer.Option(..., "--org", help=ORG_HELP),
    campaign: uuid.UUID = typer.Option(..., help=CAMPAIGN_HELP),
) -> None:
    """Show a review's entries and decisions."""
    with runtime() as rt:
        ctx = _ctx(rt, "access-review show", org)
        found, _ = access_review.get_campaign(db=rt.db, ctx=ctx, campaign_id=campaign)
        table = _entries_table(rt, ctx, campaign)
    console.print(f"Access review {found.id}: {found.status}.")
    console.print(table)


@app.command("decide")
@no_protected_data
@clean_errors
def decide(
    org: str = typer.Option(..., "--org", help=ORG_HELP),
    campaign: uuid.UUID = typer.Option(..., help=CAMPAIGN_HELP),
    username: str = typer.Option(..., help="The member whose access is decided."),
    decision: str = typer.Option(..., help="'keep' or 'revoke'."),
    role: str | None = typer.Option(None, help="Only this role of the member (default: all of their roles)."),
) -> None:
    """Keep or revoke a member's roles in an open review (applied when the review closes)."""
    with runtime() as rt:
        ctx = _ctx(rt, "access-review decide", org)
        entries = access_review.entries_for_username(
            db=rt.db, ctx=ctx, campaign_id=campaign, username=username, role=role
        )
        for entry in entries:
            access_review.decide_entry(db=rt.db, ctx=ctx, campaign_id=campaign, entry_id=entry.id, decision=decision)
    roles = ", ".join(e.role for e in entries)
    console.print(f"Recorded '{decision}' for '{entries[0].username}' ({roles}).")


@app.command("close")
@no_protected_data
@clean_errors
def close(
    org: str = typer.Option(..., "--org", help=ORG_HELP),
    campaign: uuid.UUID = typer.Option(..., help=CAMPAIGN_HELP),
) -> None:
    """Close a review: revoke the roles decided 'revoke' (their sessions end); undecided entries are kept and
    flagged. The review stays as audit evidence."""
    with runtime() as rt:
        ctx = _ctx(rt, "access-review close", org)
        report = access_review.close_campaign(db=rt.db, ctx=ctx, campaign_id=campaign)
    table = Table("username", "role", "outcome")
    for username, role in report.revoked:
        table.add_row(username, role, "revoked")
    for username, role in report.defaulted:
        table.add_row(username, role, "kept (undecided)")
    console.print(table)
    console.print(
        f"Closed access review {report.campaign_id}: {len(report.revoked)} revoked, {report.kept} kept "
        f"({len(report.defaulted)} undecided and kept by default)."
    )
