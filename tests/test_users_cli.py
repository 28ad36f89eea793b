"""``claimvault users`` and ``claimvault access-review``, invoked through their Typer apps with CliRunner.

Most tests point the commands at the test runtime (so they run on both backends); one runs against a real
./var/ created by ``claimvault init``. One-time passwords only reach a 0600 file; every command is audited as a
system context naming the command and the operator."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

import claimvault.cli.access_review as cli_review
import claimvault.cli.users as cli_users
from claimvault.accounts.lifecycle_models import AccessReviewCampaign
from claimvault.accounts.models import AuthSession, Membership, User
from claimvault.accounts.sessions import now_utc
from claimvault.cli.declare import NO_PROTECTED_DATA_ATTR, PERMISSIONS_ATTR
from claimvault.cli.main import app as main_app
from claimvault.runtime import Runtime
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.models import AuditEvent
from tests.conftest import World
from tests.test_cli import _env, _everything, _flat, _ok, _open_runtime


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """Point both command groups at the test runtime (and its ./var/)."""

    @contextmanager
    def fake_runtime(current: Any = None) -> Iterator[Runtime]:
        yield runtime

    for module in (cli_users, cli_review):
        monkeypatch.setattr(module, "runtime", fake_runtime)
    monkeypatch.setattr(cli_users, "settings", lambda: runtime.settings)
    return runtime


def run(app: Any, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if ok:
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def _audit(rt: Runtime, org_id: uuid.UUID | None, action: str) -> list[AuditEvent]:
    with rt.db.session(tenant_id=org_id) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# users --------------------------------------------------------------------------------------------------------
def test_users_create_writes_the_password_to_a_private_file_only(cli: Runtime, world: World) -> None:
    world.org("alpha")
    result = run(
        cli_users.app, "create", "--org", "alpha", "--username", "Dana.Biller", "--role", "biller", "--role", "coder"
    )
    path = cli.settings.var_dir / "one-time-passwords" / "alpha-dana.biller.txt"
    assert str(path.resolve()) in "".join(result.output.split())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    password = path.read_text("utf-8").splitlines()[-1]
    assert len(password) >= 20 and password not in _everything(result)
    with cli.db.session(tenant_id=None) as s:
        user = s.scalar(select(User).where(User.username == "dana.biller"))
        assert user is not None and user.must_change_password
        roles = sorted(s.scalars(select(Membership.role).where(Membership.user_id == user.id)))
    assert roles == ["biller", "coder"]
    login = world.client().post("/api/v1/auth/login", json={"username": "dana.biller", "password": password})
    assert login.status_code == 200
    [event] = _audit(cli, world.org("alpha"), "user.create")
    assert event.actor_type == "system" and (event.actor_name or "").startswith("users create (operator ")


def test_users_create_refuses_unknown_org_role_or_duplicate(cli: Runtime, world: World) -> None:
    world.org("alpha")
    assert (
        run(cli_users.app, "create", "--org", "nowhere", "--username", "abc", "--role", "biller", ok=False).exit_code
        == 1
    )
    bad = run(cli_users.app, "create", "--org", "alpha", "--username", "abc", "--role", "wizard", ok=False)
    assert bad.exit_code == 1 and "known roles" in _flat(_everything(bad)) and "Traceback" not in _everything(bad)
    run(cli_users.app, "create", "--org", "alpha", "--username", "abc", "--role", "biller")
    dup = run(cli_users.app, "create", "--org", "alpha", "--username", "abc", "--role", "biller", ok=False)
    assert dup.exit_code == 1 and "taken" in _everything(dup)


def test_users_list(cli: Runtime, world: World) -> None:
    member = world.member("alpha", "biller", "coder")
    other = world.member("bravo", "biller")
    out = _flat(run(cli_users.app, "list", "--org", "alpha").stdout)
    assert member.username in out and "biller, coder" in out and "active" in out and "never" in out
    assert other.username not in out and "$argon2" not in out


def test_users_terminate_revokes_sessions_and_is_audited(cli: Runtime, world: World) -> None:
    member = world.member("alpha", "biller")
    client = world.client(member)
    assert client.get("/api/v1/auth/me").status_code == 200
    result = run(cli_users.app, "terminate", "--org", "alpha", "--username", member.username)
    assert "Terminated" in result.stdout
    assert client.get("/api/v1/auth/me").status_code == 401
    with cli.db.session(tenant_id=None) as s:
        user = s.get(User, member.user_id)
    assert user is not None and user.terminated_at is not None
    [event] = _audit(cli, member.org_id, "user.terminate")
    assert (event.actor_name or "").startswith("users terminate") and event.entity_id == member.user_id
    outsider = world.member("bravo", "biller")
    assert run(cli_users.app, "terminate", "--org", "alpha", "--username", outsider.username, ok=False).exit_code == 1


def test_users_reset_mfa_creates_a_request_a_second_admin_approves(
    cli: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import claimvault.security.mfa.service as mfa

    resets: list[uuid.UUID] = []
    monkeypatch.setattr(
        mfa, "apply_mfa_reset", lambda *, db, target_user_id: resets.append(target_user_id), raising=False
    )
    member = world.member("alpha", "biller")
    result = run(cli_users.app, "reset-mfa", "--org", "alpha", "--username", member.username)
    with cli.db.session(tenant_id=member.org_id) as s:
        [request] = list(s.scalars(select(ApprovalRequest)))
    assert str(request.id) in result.stdout and request.status == "pending" and request.kind == "mfa_reset"
    assert request.requested_by is None and (request.requested_by_name or "").startswith("users reset-mfa")
    assert resets == []
    approver = world.client(world.member("alpha", "security_admin"))
    r = approver.post(
        f"/api/v1/orgs/alpha/approvals/{request.id}/decide", json={"approve": True, "reason_code": "lost"}
    )
    assert r.status_code == 200 and r.json()["status"] == "executed" and resets == [member.user_id]


def test_users_disable_dormant_dry_run_then_real(cli: Runtime, world: World) -> None:
    old = world.member("alpha", "biller")
    fresh = world.member("alpha", "coder")
    with cli.db.session(tenant_id=None) as s:
        s.execute(update(User).where(User.id == old.user_id).values(created_at=now_utc() - timedelta(days=200)))
    dry = run(cli_users.app, "disable-dormant", "--dry-run")
    assert old.username in dry.stdout and fresh.username not in dry.stdout and "would be disabled" in dry.stdout
    with cli.db.session(tenant_id=None) as s:
        assert s.scalar(select(User.disabled_at).where(User.id == old.user_id)) is None
    real = run(cli_users.app, "disable-dormant", "--days", "90")
    assert old.username in real.stdout and "1 dormant account(s) disabled" in real.stdout
    with cli.db.session(tenant_id=None) as s:
        assert s.scalar(select(User.disabled_reason).where(User.id == old.user_id)) == "dormant"
        assert s.scalar(select(User.disabled_at).where(User.id == fresh.user_id)) is None
    [event] = _audit(cli, old.org_id, "user.disable")  # in the audit trail of each of the user's organizations
    assert (event.actor_name or "").startswith("users disable-dormant") and event.reason == "dormant"
    assert "0 dormant" in run(cli_users.app, "disable-dormant").stdout


# access-review ------------------------------------------------------------------------------------------------
def test_access_review_start_decide_close(cli: Runtime, world: World) -> None:
    leaver = world.member("alpha", "biller", "coder")
    stayer = world.member("alpha", "front_desk")
    client = world.client(leaver)
    started = run(cli_review.app, "start", "--org", "alpha")
    with cli.db.session(tenant_id=world.org("alpha")) as s:
        [campaign] = list(s.scalars(select(AccessReviewCampaign)))
    assert str(campaign.id) in started.stdout and leaver.username in started.stdout
    assert (campaign.started_by_name or "").startswith("access-review start (operator ")

    decided = run(
        cli_review.app, "decide", "--org", "alpha", "--campaign", str(campaign.id), "--username", leaver.username,
        "--decision", "revoke",
    )  # fmt: skip
    assert "biller, coder" in decided.stdout
    bad = run(
        cli_review.app, "decide", "--org", "alpha", "--campaign", str(campaign.id), "--username", stayer.username,
        "--decision", "maybe", ok=False,
    )  # fmt: skip
    assert bad.exit_code == 1
    shown = _flat(run(cli_review.app, "show", "--org", "alpha", "--campaign", str(campaign.id)).stdout)
    assert "revoke" in shown and "undecided" in shown

    closed = run(cli_review.app, "close", "--org", "alpha", "--campaign", str(campaign.id))
    summary = " ".join(closed.stdout.split())  # Rich wraps long lines at the terminal's width
    assert "2 revoked" in summary and "1 undecided" in summary
    assert client.get("/api/v1/auth/me").status_code == 401
    with cli.db.session(tenant_id=None) as s:
        assert list(s.scalars(select(Membership).where(Membership.user_id == leaver.user_id))) == []
        assert list(s.scalars(select(Membership.role).where(Membership.user_id == stayer.user_id))) == ["front_desk"]
        live = s.scalars(
            select(AuthSession).where(AuthSession.user_id == leaver.user_id, AuthSession.revoked_at.is_(None))
        )
        assert list(live) == []
    [close_event] = _audit(cli, world.org("alpha"), "access_review.close")
    assert (close_event.actor_name or "").startswith("access-review close")
    again = run(cli_review.app, "close", "--org", "alpha", "--campaign", str(campaign.id), ok=False)
    assert again.exit_code == 1 and "already closed" in _everything(again)


# Against a real ./var/ ----------------------------------------------------------------------------------------
def test_commands_work_against_the_configured_database(tmp_path: Path) -> None:
    var = tmp_path / "var"
    _ok(var, "init")
    _ok(var, "orgs", "create", "--slug", "riverside", "--name", "Riverside Family Practice")
    runner = CliRunner(env=_env(var))
    created = runner.invoke(
        cli_users.app, ["create", "--org", "riverside", "--username", "ops-admin", "--role", "security_admin"]
    )
    assert created.exit_code == 0, created.output
    assert (var / "one-time-passwords" / "riverside-ops-admin.txt").is_file()
    started = runner.invoke(cli_review.app, ["start", "--org", "riverside"])
    assert started.exit_code == 0 and "ops-admin" in started.stdout
    rt = _open_runtime(var)
    try:
        with rt.db.session(tenant_id=None) as s:
            assert s.scalar(select(User.username)) == "ops-admin"
    finally:
        rt.close()


# Declarations and help ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("app", [cli_users.app, cli_review.app], ids=["users", "access-review"])
def test_every_command_declares_no_protected_data_and_has_help(app: Any) -> None:
    import inspect

    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert commands
    for name, cmd in commands.items():
        callback = inspect.unwrap(cmd.callback)
        assert getattr(callback, NO_PROTECTED_DATA_ATTR, False) or getattr(cmd.callback, NO_PROTECTED_DATA_ATTR, False)
        assert not getattr(callback, PERMISSIONS_ATTR, None), name
        assert (cmd.help or "").strip(), f"{name} has no help"
        assert "system_context" in inspect.getsource(callback) or "_ctx(" in inspect.getsource(callback), name
    expected = (
        {"create", "list", "terminate", "reset-mfa", "disable-dormant"}
        if app is cli_users.app
        else {"start", "show", "decide", "close"}
    )
    assert set(commands) == expected


def test_main_app_still_loads() -> None:
    assert typer.main.get_command(main_app) is not None
