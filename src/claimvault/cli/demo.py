"""``claimvault demo seed``: a demo practice with one user per role and synthetic patients.

Passwords are one-time (a change is required at first login) and are written only to a 0600 file under
./var/, whose path is printed; they are never printed themselves. Patient data is synthetic and seeded: names,
birth dates, fictional 555-01XX phone numbers, example.com addresses, street addresses, and one or two coverages
with invented payers and member ids.
"""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import date, timedelta
from pathlib import Path

import typer
from faker import Faker

from claimvault.accounts.services import add_membership, create_organization, create_user, list_organizations
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage
from claimvault.billing.patients.schemas import PatientCreate, PatientOut
from claimvault.billing.patients.service import create_patient
from claimvault.cli.common import clean_errors, console, runtime, settings
from claimvault.cli.declare import uses_permissions
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
PROVIDER_PANEL = 5  # patients the demo provider has a care assignment with
DEMO_PAYERS = ("Demo Mutual Health", "Example Care Plan", "Sample State Medicaid", "Placeholder Medicare Advantage")


def _write_credentials(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def _fake_patient(fake: Faker) -> PatientCreate:
    given, family = fake.first_name(), fake.last_name()
    birth: date = fake.date_of_birth(minimum_age=0, maximum_age=95)
    return PatientCreate(
        given_name=given,
        family_name=family,
        birth_date=birth,
        phone=f"({fake.random_element(('212', '312', '415', '617', '702'))}) 555-01{fake.random_int(0, 99):02d}",
        email=f"{given}.{family}{fake.random_int(1, 999)}@example.com".lower(),
        address_line1=fake.street_address(),
        address_line2=fake.secondary_address() if fake.boolean(chance_of_getting_true=25) else None,
        city=fake.city(),
        state=fake.state_abbr(include_territories=False, include_freely_associated_states=False),
        postal_code=fake.zipcode(),
    )


def _fake_coverages(fake: Faker, patient: PatientOut) -> list[CoverageCreate]:
    """A primary coverage (a minor's through a parent), and for about a third of patients a secondary one."""
    assert patient.birth_date is not None and patient.family_name is not None
    minor = (date.today() - patient.birth_date).days < 18 * 365
    subscriber: dict[str, object] = {"subscriber_relationship": "self"}
    if minor:
        subscriber = {
            "subscriber_relationship": "child",
            "subscriber_given_name": fake.first_name(),
            "subscriber_family_name": patient.family_name,
            "subscriber_birth_date": fake.date_of_birth(minimum_age=20, maximum_age=60),
        }
    ranks = ["primary", "secondary"] if fake.boolean(chance_of_getting_true=33) else ["primary"]
    start = max(patient.birth_date, date.today() - timedelta(days=fake.random_int(30, 5 * 365)))
    return [
        CoverageCreate.model_validate(
            {
                "rank": rank,
                "payer_name": fake.random_element(DEMO_PAYERS),
                "member_id": fake.bothify("???#########").upper(),
                "group_number": fake.bothify("GRP-#####") if fake.boolean() else None,
                "effective_from": start,
                **subscriber,
            }
        )
        for rank in ranks
    ]


@app.command("seed")
@uses_permissions(
    Permission.PATIENT_CREATE,
    Permission.COVERAGE_MANAGE,
    Permission.CARE_ASSIGNMENT_MANAGE,
    Permission.SERVICE_AGREEMENT_MANAGE,
)
@clean_errors
def seed(
    patients: int = typer.Option(25, min=0, max=10_000, help="How many synthetic patients to create."),
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

        fake = Faker("en_US")
        fake.seed_instance(DEMO_SEED)
        ctx = system_context(
            "demo seed",
            organization_id=org.id,
            permissions={
                Permission.PATIENT_CREATE,
                Permission.COVERAGE_MANAGE,
                Permission.CARE_ASSIGNMENT_MANAGE,
                Permission.SERVICE_AGREEMENT_MANAGE,
            },
        )
        created = []
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            for _ in range(patients):
                patient = create_patient(gate=gate, data=_fake_patient(fake), confirm_new=True)
                for coverage in _fake_coverages(fake, patient):
                    add_coverage(gate=gate, patient_id=patient.id, data=coverage)
                created.append(patient)
        for patient in created[:PROVIDER_PANEL]:
            create_care_assignment(db=rt.db, ctx=ctx, provider_user_id=user_ids[Role.PROVIDER], patient_id=patient.id)
        create_service_agreement(db=rt.db, ctx=ctx, partner_slug=DEMO_BILLING_SLUG)
    console.print(
        f"Seeded demo practice '{DEMO_SLUG}' with {len(Role)} users and {patients} synthetic patients "
        "(with contact data and coverages), "
        f"and billing company '{DEMO_BILLING_SLUG}' under a service agreement."
    )
    console.print(f"Demo credentials: {current.demo_credentials_path.resolve()} (readable only by you)")
