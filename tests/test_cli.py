"""The ``claimvault`` command line, driven in-process with Typer's CliRunner on the default SQLite database.

Covers set-up (private ./var/, keyring, development certificate, schema; idempotent), the demo seed (one-time
credentials only in a 0600 file, synthetic patients through the gate and audited as the command, nothing
protected on screen or in plaintext on disk), organizations, the version and every command's help.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select
from typer.testing import CliRunner, Result

from claimvault import __version__
from claimvault.accounts.login import check_password
from claimvault.accounts.models import Organization, User
from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.patients.schemas import PatientOut
from claimvault.billing.patients.service import list_patients
from claimvault.cli.main import app
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.authorization.models import CareAssignment
from claimvault.security.authorization.relationships import partner_membership
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission, Role
from tests.conftest import CHEAP_ARGON2

DEMO_PATIENTS = 25
MIN_NAME_LENGTH = 5  # shorter names could turn up by chance inside binary pages
_BOX_DRAWING = re.compile(r"[\u2500-\u257f]")


# Helpers ------------------------------------------------------------------------------------------------------
def _env(var: Path) -> dict[str, str | None]:
    """The command's environment: every outside CLAIMVAULT_* setting removed, ./var/ in the test's directory."""
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("CLAIMVAULT_")}
    env.update(
        {
            "CLAIMVAULT_VAR_DIR": str(var),
            "CLAIMVAULT_ARGON2_TIME_COST": "1",
            "CLAIMVAULT_ARGON2_MEMORY_COST_KIB": "64",
            "CLAIMVAULT_ARGON2_PARALLELISM": "1",
            "COLUMNS": "200",
            "TERMINAL_WIDTH": "200",
            "NO_COLOR": "1",
        }
    )
    return env


def _run(var: Path, *args: str) -> Result:
    """Invoke the CLI; an exception other than a clean exit fails the test with its own traceback."""
    result = CliRunner(env=_env(var)).invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _ok(var: Path, *args: str) -> Result:
    result = _run(var, *args)
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def _everything(result: Result) -> str:
    """All the text a command put on the terminal: stdout, stderr (log lines included) and their mix."""
    return "\n".join((result.output, result.stdout, result.stderr))


def _flat(text: str) -> str:
    """Text with Rich's boxes and line wrapping removed, so phrases and paths can be searched for."""
    return " ".join(_BOX_DRAWING.sub(" ", text).split())


def _unwrapped(text: str) -> str:
    """Text with all whitespace removed: a long path wrapped over lines reads as one string again."""
    return "".join(text.split())


def _settings(var: Path) -> Settings:
    return Settings(
        var_dir=var,
        database_url="",
        migration_database_url="",
        keyring_path=None,
        argon2_time_cost=CHEAP_ARGON2["argon2_time_cost"],
        argon2_memory_cost_kib=CHEAP_ARGON2["argon2_memory_cost_kib"],
        argon2_parallelism=CHEAP_ARGON2["argon2_parallelism"],
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@dataclass
class Credential:
    role: str
    username: str
    password: str


def _credentials(path: Path) -> list[Credential]:
    lines = [line for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 3 for row in rows), "each credentials line is role<TAB>username<TAB>password"
    return [Credential(*row) for row in rows]


def _open_runtime(var: Path) -> Runtime:
    return build_runtime(_settings(var))


def _demo_patients(rt: Runtime) -> list[PatientOut]:
    """The demo practice's patients, read through the PHI gate under an audited system context."""
    org = get_organization_by_slug(db=rt.db, slug="demo")
    ctx = system_context("test", organization_id=org.id, permissions={Permission.PATIENT_LIST})
    with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
        return list_patients(gate=gate, limit=200).items


# Fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture
def var(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def initialised(var: Path) -> Path:
    _ok(var, "init")
    return var


@dataclass
class Seeded:
    var: Path
    init: Result
    seed: Result
    credentials: list[Credential]
    patients: list[PatientOut]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One initialised and demo-seeded ./var/ shared by the read-only checks below."""
    var = tmp_path_factory.mktemp("seeded") / "var"
    init = _ok(var, "init")
    seed = _ok(var, "demo", "seed", "--patients", str(DEMO_PATIENTS))
    credentials = _credentials(var / "demo-credentials.txt")
    rt = _open_runtime(var)
    try:
        patients = _demo_patients(rt)
    finally:
        rt.close()
    yield Seeded(var=var, init=init, seed=seed, credentials=credentials, patients=patients)


# init ---------------------------------------------------------------------------------------------------------
def test_init_creates_private_var_keyring_certificate_and_schema(var: Path) -> None:
    first = _ok(var, "init")
    assert "initialised" in first.stdout

    assert var.is_dir() and _mode(var) == 0o700
    keyring = var / "keys" / "keyring.json"
    assert keyring.is_file() and _mode(keyring) == 0o600
    cert, key = var / "tls" / "localhost-cert.pem", var / "tls" / "localhost-key.pem"
    assert cert.is_file() and b"BEGIN CERTIFICATE" in cert.read_bytes()
    assert key.is_file() and _mode(key) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()

    engine = create_engine(f"sqlite:///{var / 'claimvault.db'}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"organizations", "users", "memberships", "auth_sessions", "audit_events", "patients"} <= tables
    assert "alembic_version" in tables


def test_init_twice_succeeds_and_changes_nothing(var: Path) -> None:
    _ok(var, "init")
    keyring = var / "keys" / "keyring.json"
    cert, key = var / "tls" / "localhost-cert.pem", var / "tls" / "localhost-key.pem"
    before = (keyring.read_bytes(), cert.read_bytes(), key.read_bytes())

    second = _ok(var, "init")
    assert (keyring.read_bytes(), cert.read_bytes(), key.read_bytes()) == before
    assert "created local keyring" not in second.stdout
    assert "generated development certificate" not in second.stdout
    assert _mode(var) == 0o700 and _mode(keyring) == 0o600 and _mode(key) == 0o600


def test_init_tightens_a_var_directory_that_already_exists(var: Path) -> None:
    var.mkdir(mode=0o755)
    os.chmod(var, 0o755)  # noqa: S103 - the point of the test
    _ok(var, "init")
    assert _mode(var) == 0o700


# demo seed ----------------------------------------------------------------------------------------------------
def test_demo_seed_creates_the_practice_its_billing_company_and_their_relationships(seeded: Seeded) -> None:
    assert f"{len(Role)} users" in seeded.seed.stdout and f"{DEMO_PATIENTS} synthetic patients" in seeded.seed.stdout
    rt = _open_runtime(seeded.var)
    try:
        with rt.db.session(tenant_id=None) as s:
            slugs = sorted(s.scalars(select(Organization.slug)))
            partner = s.scalar(select(User).where(User.username == "demo-partner-biller"))
            provider = s.scalar(select(User).where(User.username == "demo-provider"))
        assert slugs == ["demo", "demo-billing"]
        assert partner is not None and provider is not None
        reach = partner_membership(db=rt.db, user_id=partner.id, org_slug="demo")
        assert reach is not None and reach.roles == frozenset({"partner_biller"})
        org = get_organization_by_slug(db=rt.db, slug="demo")
        with rt.db.session(tenant_id=org.id) as s:
            assigned = list(s.scalars(select(CareAssignment).where(CareAssignment.provider_user_id == provider.id)))
        assert len(assigned) == 5
    finally:
        rt.close()


def test_demo_credentials_file_is_private_with_one_line_per_role(seeded: Seeded) -> None:
    path = seeded.var / "demo-credentials.txt"
    assert _mode(path) == 0o600
    creds = seeded.credentials
    assert len(creds) == len(Role) == 10
    assert sorted(c.role for c in creds) == sorted(r.value for r in Role)
    assert len({c.username for c in creds}) == len(creds)
    assert all(len(c.password) >= 12 for c in creds)
    assert len({c.password for c in creds}) == len(creds)
    assert not (seeded.var / "demo-credentials.tmp").exists()


def test_demo_seed_prints_the_credentials_path_but_no_password(seeded: Seeded) -> None:
    path = str((seeded.var / "demo-credentials.txt").resolve())
    assert path in _unwrapped(seeded.seed.stdout)
    shown = _everything(seeded.seed)
    for cred in seeded.credentials:
        assert cred.password not in shown
        assert cred.password not in _unwrapped(shown)


def test_demo_users_exist_must_change_password_and_the_file_passwords_work(seeded: Seeded) -> None:
    rt = _open_runtime(seeded.var)
    try:
        with rt.db.session(tenant_id=None) as s:
            users = {u.username: u for u in s.scalars(select(User))}
        assert set(users) == {c.username for c in seeded.credentials}
        assert all(u.must_change_password for u in users.values())
        for cred in seeded.credentials:
            assert cred.password not in users[cred.username].password_hash
        first = seeded.credentials[0]
        ok = check_password(
            db=rt.db,
            passwords=rt.passwords,
            limiter=rt.limiter,
            hash_guard=rt.hash_guard,
            username=first.username,
            password=first.password,
            source_address=None,
        )
        assert ok.username == first.username and ok.must_change_password
    finally:
        rt.close()


def test_demo_seed_creates_patients_through_the_gate_audited_as_the_command(seeded: Seeded) -> None:
    assert len(seeded.patients) == DEMO_PATIENTS
    rt = _open_runtime(seeded.var)
    try:
        org = get_organization_by_slug(db=rt.db, slug="demo")
        with rt.db.session(tenant_id=org.id) as s:
            creates = list(
                s.scalars(select(AuditEvent).where(AuditEvent.action == "create", AuditEvent.entity_type == "patients"))
            )
    finally:
        rt.close()
    assert len(creates) == DEMO_PATIENTS
    assert {e.patient_ids[0] for e in creates} == {str(p.id) for p in seeded.patients}
    for event in creates:
        assert event.outcome == "success" and event.actor_type == "system"
        assert event.actor_name is not None and event.actor_name.startswith("demo seed")
        assert event.permission == Permission.PATIENT_CREATE.value
        assert event.organization_id == org.id


def test_demo_patient_names_do_not_appear_in_cli_output(seeded: Seeded) -> None:
    shown = _everything(seeded.init) + _everything(seeded.seed)
    assert seeded.patients
    for patient in seeded.patients:
        assert f"{patient.given_name} {patient.family_name}" not in shown
        if len(patient.family_name) >= MIN_NAME_LENGTH:
            assert patient.family_name not in shown
        assert patient.birth_date.isoformat() not in shown


def test_patient_names_and_passwords_are_not_stored_in_plaintext(seeded: Seeded) -> None:
    names = {name for p in seeded.patients for name in (p.family_name, p.given_name) if len(name) >= MIN_NAME_LENGTH}
    assert len(names) >= 10, "the check must have names to look for"
    raw = b"".join(
        path.read_bytes() for path in (seeded.var / "claimvault.db", seeded.var / "claimvault.db-wal") if path.exists()
    )
    assert len(raw) > 0
    assert b"demo-front-desk" in raw  # control: plain (non-protected) values are visible in these bytes
    leaked = sorted(name for name in names if name.encode() in raw)
    assert leaked == [], f"{len(leaked)} patient names stored in plaintext"
    assert not [c.role for c in seeded.credentials if c.password.encode() in raw]


def test_second_demo_seed_is_a_no_op_and_says_so(initialised: Path) -> None:
    var = initialised
    _ok(var, "demo", "seed", "--patients", "3")
    creds_file = var / "demo-credentials.txt"
    before = creds_file.read_bytes()

    again = _ok(var, "demo", "seed")
    assert "nothing seeded" in again.stdout
    assert creds_file.read_bytes() == before, "a second seed must not replace the demo passwords"
    rt = _open_runtime(var)
    try:
        assert len(_demo_patients(rt)) == 3
        with rt.db.session(tenant_id=None) as s:
            assert len(list(s.scalars(select(User)))) == len(Role)
    finally:
        rt.close()


def test_demo_seed_if_empty_on_a_database_with_organizations_does_nothing(initialised: Path) -> None:
    var = initialised
    _ok(var, "orgs", "create", "--slug", "riverside", "--name", "Riverside Family Practice")
    result = _ok(var, "demo", "seed", "--if-empty")
    assert "nothing seeded" in result.stdout
    assert not (var / "demo-credentials.txt").exists()
    rt = _open_runtime(var)
    try:
        with rt.db.session(tenant_id=None) as s:
            assert list(s.scalars(select(Organization.slug))) == ["riverside"]
            assert list(s.scalars(select(User))) == []
    finally:
        rt.close()


# orgs ---------------------------------------------------------------------------------------------------------
def test_orgs_create_then_list(initialised: Path) -> None:
    created = _ok(initialised, "orgs", "create", "--slug", "riverside", "--name", "Riverside Family Practice")
    assert "riverside" in created.stdout
    listed = _ok(initialised, "orgs", "list")
    assert "riverside" in listed.stdout and "Riverside Family Practice" in _flat(listed.stdout)


def test_orgs_create_duplicate_slug_fails_cleanly(initialised: Path) -> None:
    _ok(initialised, "orgs", "create", "--slug", "riverside", "--name", "Riverside Family Practice")
    dup = _run(initialised, "orgs", "create", "--slug", "riverside", "--name", "Another Practice")
    assert dup.exit_code == 1
    shown = _everything(dup)
    assert "already exists" in shown
    assert "Traceback" not in shown and "IntegrityError" not in shown
    listed = _ok(initialised, "orgs", "list")
    assert "Another Practice" not in _flat(listed.stdout)


@pytest.mark.parametrize("slug", ["Bad Slug!", "-leading-hyphen", "x" * 41])
def test_orgs_create_invalid_slug_fails_cleanly(initialised: Path, slug: str) -> None:
    bad = _run(initialised, "orgs", "create", "--slug", slug, "--name", "Bad Practice")
    assert bad.exit_code == 1
    shown = _everything(bad)
    assert "slug must be" in _flat(shown)
    assert "Traceback" not in shown
    assert "Bad Practice" not in _flat(_ok(initialised, "orgs", "list").stdout)


# version and help ---------------------------------------------------------------------------------------------
def test_version_prints_the_package_version(var: Path) -> None:
    assert _ok(var, "version").stdout.strip() == __version__


HELP_CASES: list[tuple[list[str], list[str]]] = [
    ([], ["medical billing", "claimvault init", "init", "serve", "demo", "orgs", "version"]),
    (["init"], ["keyring", "certificate", "schema", "Safe to rerun"]),
    (["serve"], ["Serve the API over HTTPS"]),
    (["version"], ["Print the ClaimVault version"]),
    (["demo"], ["synthetic patients", "seed"]),
    (["demo", "seed"], ["demo practice", "one user per role", "--patients", "--if-empty"]),
    (["orgs"], ["practices and billing companies", "create", "list"]),
    (["orgs", "create"], ["Create an organization", "--slug", "--name", "--kind", "--time-zone"]),
    (["orgs", "list"], ["List organizations"]),
]


@pytest.mark.parametrize(("command", "phrases"), HELP_CASES, ids=lambda v: " ".join(v) if v else "top")
def test_help_explains_each_command(var: Path, command: list[str], phrases: list[str]) -> None:
    result = _ok(var, *command, "--help")
    text = _flat(result.stdout)
    assert "Usage:" in text
    for phrase in phrases:
        assert phrase in text, f"'{phrase}' missing from the help of {command or 'claimvault'}"
    assert not var.exists(), "asking for help must not create anything"


def test_every_command_in_the_tree_has_help_text() -> None:
    """A command added later without a docstring (or help=) fails here."""
    import typer.main

    group = typer.main.get_command(app)
    pending: list[tuple[str, object]] = [("claimvault", group)]
    seen = 0
    while pending:
        name, command = pending.pop()
        seen += 1
        assert (getattr(command, "help", None) or "").strip(), f"'{name}' has no help text"
        for sub_name, sub in getattr(command, "commands", {}).items():
            pending.append((f"{name} {sub_name}", sub))
    assert seen >= 8
