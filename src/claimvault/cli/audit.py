"""``claimvault audit``: verify the log, write checkpoints, print and check inclusion proofs, query, export.

Verification and proofs read the whole log (every organization) with the audit reader role; they touch no
protected data, since events hold ids and codes only. Queries are per organization, need ``audit:read`` (declared
by the command) and are recorded like any other query. Exit codes: 0 when the log verifies, 1 when it does not.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from claimvault.accounts.services import get_organization_by_slug
from claimvault.cli.audit_export import export
from claimvault.cli.common import clean_errors, console, err_console, runtime, settings
from claimvault.cli.declare import no_protected_data
from claimvault.config import Settings
from claimvault.security.audit import build_event, record
from claimvault.security.audit.checkpoints import CheckpointSigner, DirectorySink, load_public_key
from claimvault.security.audit.proofs import NotCovered, build_proof, check_proof
from claimvault.security.audit.query import AuditQuery, query_events
from claimvault.security.audit.verify import verify_log, write_checkpoint
from claimvault.security.context import system_context
from claimvault.security.permissions import Permission

app = typer.Typer(help="Audit trail: verify, checkpoint, prove, query, export.", no_args_is_help=True)
app.command("export")(export)

CheckpointsOption = Annotated[
    Path | None, typer.Option("--checkpoints", help="Checkpoint directory (default: the configured sink).")
]


def _sink(current: Settings, directory: Path | None) -> DirectorySink:
    return DirectorySink(directory or current.resolved_audit_checkpoint_dir)


@app.command()
@no_protected_data
@clean_errors
def verify(
    checkpoints: CheckpointsOption = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="Pinned checkpoint public key (PEM) kept off this machine.")
    ] = None,
) -> None:
    """Recompute the chain and the Merkle tree, check checkpoints and their signatures; exit 1 on any problem."""
    current = settings()
    with runtime(current) as rt:
        if rt.sequencer is not None:
            rt.sequencer.drain()
        if public_key is not None:
            key = load_public_key(public_key)
        else:
            key = CheckpointSigner.load(current.resolved_audit_signing_key_path).public_key
            err_console.print(
                "[yellow]No --public-key given: checking checkpoints against the key in this machine's key "
                "directory; pin a copy kept elsewhere to catch an attacker who can write ./var/.[/yellow]"
            )
        found = _sink(current, checkpoints).read_all()
        result = verify_log(db=rt.db, checkpoints=found, public_key=key)
        with rt.db.session(tenant_id=None) as s:
            record(
                s,
                build_event(
                    system_context("audit verify", organization_id=None, permissions=set()),
                    action="verify",
                    outcome="success" if result.ok else "failure",
                    entity_type="audit_events",
                    detail={
                        "events": result.events,
                        "checkpoints": result.checkpoints,
                        "first_bad_position": result.first_bad_position,
                    },
                ),
            )
    if result.ok:
        console.print(
            f"Audit log intact: {result.events} events, {result.checkpoints} checkpoints verified, "
            f"root {result.root_hash.hex()}"
        )
        return
    err_console.print(f"[red]Audit log FAILED verification: first bad position {result.first_bad_position}[/red]")
    for problem in result.problems:
        err_console.print(f"- {problem}")
    raise typer.Exit(1)


@app.command()
@no_protected_data
@clean_errors
def checkpoint(checkpoints: CheckpointsOption = None) -> None:
    """Sequence pending events, verify the log since the last checkpoint, then write a signed checkpoint."""
    current = settings()
    with runtime(current) as rt:
        signer = CheckpointSigner.load_or_create(current.resolved_audit_signing_key_path)
        cp = write_checkpoint(db=rt.db, signer=signer, sink=_sink(current, checkpoints), sequencer=rt.sequencer)
    console.print(f"Checkpoint {cp.source}: tree size {cp.tree_size}, root {cp.root_hash.hex()}")
    console.print(f"Signed by {cp.key_fingerprint}")


@app.command()
@no_protected_data
@clean_errors
def prove(
    event_id: Annotated[uuid.UUID, typer.Argument(help="The audit event's id.")],
    checkpoints: CheckpointsOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the proof here instead of stdout.")] = None,
) -> None:
    """Print an inclusion proof of EVENT_ID against the latest checkpoint (written first if none covers it)."""
    current = settings()
    with runtime(current) as rt:
        signer = CheckpointSigner.load_or_create(current.resolved_audit_signing_key_path)
        sink = _sink(current, checkpoints)
        if rt.sequencer is not None:
            rt.sequencer.drain()
        signed = [c for c in sink.read_all() if c.verify_signature(signer.public_key)]
        try:
            if not signed:
                raise NotCovered("no checkpoint yet")
            proof = build_proof(db=rt.db, event_id=event_id, checkpoint=signed[-1], public_key=signer.public_key)
        except NotCovered:
            latest = write_checkpoint(db=rt.db, signer=signer, sink=sink, sequencer=rt.sequencer)
            proof = build_proof(db=rt.db, event_id=event_id, checkpoint=latest, public_key=signer.public_key)
    if out is not None:
        out.write_text(proof)
        console.print(f"Inclusion proof written to {out}")
    else:
        print(proof)  # plain stdout: the JSON must stay byte-exact for third parties


@app.command("check-proof")
@no_protected_data
@clean_errors
def check_proof_command(
    proof_file: Annotated[Path, typer.Argument(help="A proof printed by `audit prove`.")],
    public_key: Annotated[Path, typer.Option("--public-key", help="The pinned checkpoint public key (PEM).")],
) -> None:
    """Check an inclusion proof against a pinned public key (needs no database)."""
    problems = check_proof(proof_file.read_text(), public_key=load_public_key(public_key))
    if problems:
        for problem in problems:
            err_console.print(f"[red]- {problem}[/red]")
        raise typer.Exit(1)
    console.print("The event is in the audit log at the signed checkpoint.")


@app.command()
@no_protected_data  # audit events hold ids and codes only; the query runs under a context holding audit:read
@clean_errors
def query(
    org: Annotated[str, typer.Option("--org", help="Organization slug.")],
    patient: Annotated[uuid.UUID | None, typer.Option("--patient", help="Who accessed this patient?")] = None,
    user: Annotated[uuid.UUID | None, typer.Option("--user", help="What did this user access?")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome")] = None,
    since: Annotated[datetime | None, typer.Option("--since", help="UTC start (inclusive).")] = None,
    until: Annotated[datetime | None, typer.Option("--until", help="UTC end (exclusive).")] = None,
    before: Annotated[int | None, typer.Option("--before", help="Paging cursor from the previous page.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Answer "who accessed patient X" or "what did user Y access" for one organization (the query is audited)."""
    with runtime() as rt:
        organization = get_organization_by_slug(db=rt.db, slug=org)
        ctx = system_context("audit query", organization_id=organization.id, permissions={Permission.AUDIT_READ})
        page = query_events(
            db=rt.db,
            ctx=ctx,
            query=AuditQuery(
                patient_id=patient,
                actor_id=user,
                action=action,
                outcome=outcome,
                since=since,
                until=until,
                before=before,
                limit=limit,
            ),
            sequencer=rt.sequencer,
        )
    if as_json:
        for event in page.events:
            print(json.dumps(event, sort_keys=True))
    else:
        table = Table("position", "recorded at", "actor", "roles", "action", "outcome", "entity", "patients")
        for e in page.events:
            table.add_row(
                str(e["position"]),
                e["recorded_at"],
                e["actor_id"] or e["actor_name"] or e["actor_type"],
                ",".join(e["roles"]),
                e["action"],
                e["outcome"],
                f"{e['entity_type'] or ''} {e['entity_id'] or ''}".strip(),
                str(len(e["patient_ids"])),
            )
        console.print(table)
    if page.next_before is not None:
        err_console.print(f"More: --before {page.next_before}")
