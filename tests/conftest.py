"""Shared fixtures: every database test runs on SQLite and, when CLAIMVAULT_TEST_DATABASE_URL is set, on
PostgreSQL as its own non-superuser role under row-level security."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from claimvault.accounts.models import AuthSession
from claimvault.accounts.services import add_membership, create_organization, create_user
from claimvault.accounts.sessions import complete_mfa, token_hash
from claimvault.config import Settings
from claimvault.observability.logging import LIBRARY_LOGGERS, configure_logging
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.storage.database import Database
from claimvault.web.app import create_app
from tests.harness import PostgresBackend, SQLiteBackend, backends, postgres_backend, sqlite_backend

CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 64, "argon2_parallelism": 1}
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", params=backends())
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if request.param == "sqlite":
        with sqlite_backend(tmp_path_factory.mktemp("sqlite-template")) as sqlite:
            yield sqlite
    else:
        with postgres_backend() as pg:
            yield pg


@pytest.fixture
def db(backend: SQLiteBackend | PostgresBackend, tmp_path: Path) -> Iterator[Database]:
    with backend.database(tmp_path) as database:
        yield database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var", **CHEAP_ARGON2)  # type: ignore[arg-type]


@pytest.fixture
def runtime(db: Database, settings: Settings) -> Runtime:
    keyring = LocalKeyring.create(settings.resolved_keyring_path)
    return build_runtime(settings, db=db, key_provider=keyring)


@pytest.fixture
def app(runtime: Runtime) -> Any:
    return create_app(settings=runtime.settings, runtime=runtime)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


@dataclass
class Member:
    username: str
    password: str
    user_id: uuid.UUID
    org_slug: str
    org_id: uuid.UUID


class World:
    """Builds organizations and members against one runtime, and logs clients in."""

    def __init__(self, runtime: Runtime, app: Any) -> None:
        self.runtime = runtime
        self.app = app
        self._orgs: dict[str, uuid.UUID] = {}

    def org(self, slug: str) -> uuid.UUID:
        if slug not in self._orgs:
            org = create_organization(
                db=self.runtime.db, keys=self.runtime.keys, ctx=None, slug=slug, name=slug.title()
            )
            self._orgs[slug] = org.id
        return self._orgs[slug]

    def member(self, slug: str, *roles: str) -> Member:
        org_id = self.org(slug)
        username = f"u{uuid.uuid4().hex[:10]}"
        user = create_user(db=self.runtime.db, passwords=self.runtime.passwords, username=username, password=PASSWORD)
        for role in roles:
            add_membership(db=self.runtime.db, user_id=user.id, organization_id=org_id, role=role)
        return Member(username, PASSWORD, user.id, slug, org_id)

    def create_patient(self, member: Member, body: dict[str, str], *, confirm_new: bool = True) -> uuid.UUID:
        """Register a patient through the API as ``member`` and return its id (by default confirming a new person
        when another patient shares family name and birth date: tests register look-alikes on purpose)."""
        r = self.client(member).post(
            f"/api/v1/orgs/{member.org_slug}/patients", json=body, params={"confirm_new": confirm_new}
        )
        assert r.status_code == 201, r.text
        return uuid.UUID(r.json()["id"])

    def assert_patients_read(self, member: Member, expected: dict[str, dict[str, str]]) -> None:
        """Each patient id in ``expected`` reads back through the API with those field values."""
        c = self.client(member)
        for pid, body in expected.items():
            got = c.get(f"/api/v1/orgs/{member.org_slug}/patients/{pid}")
            assert got.status_code == 200, got.text
            assert {k: got.json()[k] for k in body} == body

    def client(self, member: Member | None = None, *, mfa: bool = True) -> TestClient:
        """A client logged in as ``member``. With ``mfa`` the second factor is marked done directly (tests of the
        MFA flow itself go through the real enrolment and challenge); the CSRF header is set either way."""
        c = TestClient(self.app, base_url="https://testserver", raise_server_exceptions=False)
        if member is not None:
            r = c.post("/api/v1/auth/login", json={"username": member.username, "password": member.password})
            assert r.status_code == 200, r.text
            if mfa:
                complete_mfa_for_test(self.runtime, c)
            c.headers["X-CSRF-Token"] = c.get("/api/v1/auth/me").json()["csrf_token"]
        return c


@contextmanager
def captured_logs(*, protected_field_names: Iterable[str] = ()) -> Iterator[io.StringIO]:
    """Route all logging (JSON, redacted) into a buffer; restore the previous logging set-up afterwards."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_libs = {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for name in LIBRARY_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    out = io.StringIO()
    configure_logging(level="DEBUG", protected_field_names=protected_field_names, stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, level, propagate, disabled) in saved_libs.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
        logging.captureWarnings(False)


def complete_mfa_for_test(runtime: Runtime, c: TestClient) -> None:
    """Mark the client's pending session as second-factor verified (rotating its id, as the real flow does)."""
    name = runtime.settings.session_cookie_name
    token = c.cookies.get(name)
    assert token
    with runtime.db.session(tenant_id=None) as s:
        row = s.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(runtime.settings, token)))
        assert row is not None
        session_id = row.id
    new_token = complete_mfa(db=runtime.db, settings=runtime.settings, session_id=session_id)
    c.cookies.set(name, new_token, domain="testserver.local", path="/")


@pytest.fixture
def world(runtime: Runtime, app: Any) -> World:
    return World(runtime, app)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A per-backend tally, so a CI log shows the suite passing on SQLite and on PostgreSQL."""
    tally: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            name = "postgresql" if "postgresql" in nodeid else "sqlite" if "sqlite" in nodeid else "backend-independent"
            tally.setdefault(name, {}).setdefault(outcome, 0)
            tally[name][outcome] += 1
    terminalreporter.section("results per database backend")
    for name in sorted(tally):
        counts = ", ".join(f"{n} {o}" for o, n in sorted(tally[name].items()))
        terminalreporter.write_line(f"{name}: {counts}")


@pytest.fixture
def committed_world(backend: Any, tmp_path: Path, settings: Settings) -> Any:
    """A billing world on a PostgreSQL database whose transactions really commit (for concurrency tests)."""
    if backend.name != "postgresql":
        pytest.skip("row locks under real concurrency are PostgreSQL's")
    with backend.database(tmp_path, committed=True) as db:
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        try:
            from tests.billing_world import build_billing_world  # billing tests only

            yield build_billing_world(rt)
        finally:
            rt.close()
