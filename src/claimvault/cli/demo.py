"""``claimvault demo seed``: a demo practice with one user per role, a billing company, and a living billing
practice (``demo_billing``): providers, payers, synthetic patients with coverages, encounters and claims in every
lifecycle state.

Passwords are one-time (a change is required at first login) and are written only to a 0600 file under
./var/, whose path is printed; they are never printed themselves. Patient data is synthetic and seeded (fixed
seed, fixed dates): names, birth dates, fictional 555-01XX phone numbers, example.com addresses, member ids.
"""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import date
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from claimvault.accounts.services import add_membership, create_organization, create_user, list_organizations
from claimvault.billing.eligibility.service import check_patients_in_force
from claimvault.billing.eligibility.transport import FakeClearinghouse
from claimvault.billing.patients.models import Patient
from claimvault.cli.common import clean_errors, console, runtime, settings
from claimvault.cli.declare import uses_permissions
from claimvault.cli.demo_billing import PERMISSIONS as BILLING_PERMISSIONS
from claimvault.cli.demo_billing import BillingReport, seed_billing
from claimvault.runtime import Runtime
from claimvault.security.authorization.services import create_care_assignment, create_service_agreement
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission, Role

app = typer.Typer(
    help="Demo data: a practice full of synthetic patients, for trying ClaimVault out.", no_args_is_help=True
)

DEMO_SLUG = "demo"
DEMO_BILLING_SLUG = "demo-billing"
DEMO_SEED = 837
DEMO_PATIENTS = 200
PROVIDER_PANEL = 5  # patients the demo provider has a care assignment with


def _write_credentials(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def _seed_billing_with_progress(rt: Runtime, org_id: uuid.UUID, patients: int, var_dir: Path) -> BillingReport:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return seed_billing(
            runtime=rt,
            organization_id=org_id,
            patients=patients,
            seed=DEMO_SEED,
            code_set_dir=var_dir / "codesets" / "synthetic",
            drop_dir=var_dir / "clearinghouse" / "demo",
            progress=tick,
        )


ELIGIBILITY_DAY = date(2026, 6, 15)  # eligibility answers seeded for this date of service


@app.command("seed")
@uses_permissions(
    *BILLING_PERMISSIONS,
    Permission.ELIGIBILITY_CHECK,
    Permission.CARE_ASSIGNMENT_MANAGE,
    Permission.SERVICE_AGREEMENT_MANAGE,
)
@clean_errors
def seed(
    patients: int = typer.Option(
        DEMO_PATIENTS, min=0, max=10_000, help="How many synthetic patients to create (with encounters and claims)."
    ),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing (and succeed) when any organization exists."),
) -> None:
    """Create the demo practice 'demo', one user per role, synthetic patients, care assignments for the demo
    provider, and the billing company 'demo-billing' engaged by the practice (home of the partner biller)."""
    current = settings()
    with runtime(current) as rt:
        existing = list_organizations(db=rt.db)
        if existing and (if_empty or any(o.slug == DEMO_SLUG for o in existing)):
            console.print("Demo data: the database already has organizations; nothing seeded.")
            if current.demo_credentials_path.exists():
                console.print(f"Demo credentials: {current.demo_credentials_path.resolve()}")
            elif any(o.slug == DEMO_SLUG for o in existing):
                console.print(
                    "The demo practice exists but its credentials file is missing (an interrupted seed?). "
                    f"To start over, stop the server and remove {current.var_dir.resolve()}."
                )
            return
        ctx = system_context("demo seed", organization_id=None, permissions={Permission.PATIENT_CREATE})
        org = create_organization(db=rt.db, keys=rt.keys, ctx=ctx, slug=DEMO_SLUG, name="Demo Family Practice")
        billing = create_organization(
            db=rt.db,
            keys=rt.keys,
            ctx=ctx,
            slug=DEMO_BILLING_SLUG,
            name="Demo Billing Services",
            kind="billing_company",
        )
        user_ids: dict[Role, uuid.UUID] = {}
        lines = [
            "# ClaimVault demo credentials: synthetic practice 'demo'. One-time passwords; change at first login.",
            "# role\tusername\tpassword",
        ]
        for role in Role:
            password = secrets.token_urlsafe(15)
            username = f"demo-{role.value.replace('_', '-')}"
            user = create_user(
                db=rt.db,
                passwords=rt.passwords,
                username=username,
                password=password,
                must_change_password=True,
            )
            home = billing if role is Role.PARTNER_BILLER else org
            add_membership(db=rt.db, user_id=user.id, organization_id=home.id, role=role.value)
            user_ids[role] = user.id
            lines.append(f"{role.value}\t{username}\t{password}")
        _write_credentials(current.demo_credentials_path, lines)

        report = _seed_billing_with_progress(rt, org.id, patients, current.var_dir)
        eligibility_ctx = system_context(
            "demo seed", organization_id=org.id, permissions={Permission.ELIGIBILITY_CHECK}
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=eligibility_ctx) as gate:  # synthetic 271s from the fake
            check_patients_in_force(
                gate=gate, transport=FakeClearinghouse(), blobs=rt.blobs, service_date=ELIGIBILITY_DAY, limit=20
            )
        ctx = system_context(
            "demo seed",
            organization_id=org.id,
            permissions={Permission.CARE_ASSIGNMENT_MANAGE, Permission.SERVICE_AGREEMENT_MANAGE},
        )
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:  # ids only: the provider's first patients
            panel = list(gate.session.scalars(select(Patient.id).order_by(Patient.id).limit(PROVIDER_PANEL)))
        for patient_id in panel:
            create_care_assignment(db=rt.db, ctx=ctx, provider_user_id=user_ids[Role.PROVIDER], patient_id=patient_id)
        create_service_agreement(db=rt.db, ctx=ctx, partner_slug=DEMO_BILLING_SLUG)
    console.print(
        f"Seeded demo practice '{DEMO_SLUG}' with {len(Role)} users and {report.patients} synthetic patients "
        f"({report.coverages} coverages, {report.encounters} encounters), "
        f"and billing company '{DEMO_BILLING_SLUG}' under a service agreement."
    )
    states = ", ".join(
        f"{count} {status.replace('_', ' ')}" for status, count in report.stages.claims_by_status.items()
    )
    console.print(
        f"Claims: {states or 'none'}; {report.stages.files_released} 837P files released to the demo "
        f"clearinghouse, {report.stages.acknowledgements} acknowledgements imported."
    )
    console.print(f"Demo credentials: {current.demo_credentials_path.resolve()} (readable only by you)")
