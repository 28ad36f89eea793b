"""``claimvault keys`` through its Typer app with CliRunner: status (KEK versions, data keys, values per key),
rotate (new version, everything re-wrapped, audited), export/import (0600, sealed by a passphrase, round trip,
refused for cloud providers) and reencrypt when its module exists. Most tests point the commands at the test
runtime (both backends); one runs against a real ./var/ created by ``claimvault init`` (SQLite)."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

import claimvault.cli.keys as cli_keys
from claimvault.accounts.sessions import now_utc
from claimvault.cli.declare import NO_PROTECTED_DATA_ATTR, PERMISSIONS_ATTR
from claimvault.runtime import Runtime
from claimvault.security.audit import record as real_record
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.models import AuditEvent, DataKey
from tests.conftest import Member, World
from tests.test_cli import _env, _everything, _flat, _ok

PASSPHRASE = "MARKER-export passphrase 42"
RECORDED: list[AuditEvent] = []
PATIENT = {"given_name": "Xanthe", "family_name": "Brightwater", "birth_date": "1957-08-19"}


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    @contextmanager
    def fake_runtime(current: Any = None) -> Iterator[Runtime]:
        yield runtime

    monkeypatch.setattr(cli_keys, "runtime", fake_runtime)
    RECORDED.clear()

    def spy(session: Any, event: AuditEvent) -> None:
        real_record(session, event)
        session.flush()
        RECORDED.append(event)

    monkeypatch.setattr(cli_keys, "record", spy)
    monkeypatch.setattr(cli_keys, "settings", lambda: runtime.settings)
    return runtime


def run(*args: str, ok: bool = True, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    base = {"COLUMNS": "200", "NO_COLOR": "1", "CLAIMVAULT_EXPORT_PASSPHRASE": PASSPHRASE}
    result = CliRunner().invoke(cli_keys.app, list(args), env={**base, **(env or {})}, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if ok:
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def _rows(output: str, *words: str) -> list[list[str]]:
    """Table rows (cells split on the box-drawing separators) containing every one of ``words``."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and all(w in cells for w in words):
            rows.append(cells)
    return rows


def _kek(output: str, kek_id: str) -> list[str]:
    [row] = [r for r in _rows(output, kek_id) if r[0] == kek_id]
    return row


def _create(world: World, member: Member, n: int) -> None:
    c = world.client(member)
    for _ in range(n):
        assert (
            c.post(f"/api/v1/orgs/{member.org_slug}/patients", json=PATIENT, params={"confirm_new": True}).status_code
            == 201
        )


def _audit(rt: Runtime, action: str) -> list[AuditEvent]:
    """Events the command recorded. On PostgreSQL the app role cannot read back events of no tenant (the audit
    trail's row-level security), so the recorded events are also captured as they are written."""
    recorded = [e for e in RECORDED if e.action == action]
    if not rt.db.is_postgresql:
        with rt.db.session(tenant_id=None) as s:
            stored = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        assert [e.id for e in stored] == [e.id for e in recorded]
    return recorded


def test_every_keys_command_declares_what_it_touches() -> None:
    group = typer.main.get_command(cli_keys.app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        callback = command.callback
        declared = getattr(callback, NO_PROTECTED_DATA_ATTR, False) or getattr(callback, PERMISSIONS_ATTR, None)
        assert declared, name


def test_status_then_rotate_shows_new_version_and_counts(cli: Runtime, world: World) -> None:
    alpha = world.member("alpha", "biller")
    _create(world, alpha, 2)
    before = run("status").stdout
    kek = _kek(before, "local-1")
    assert kek[1] == "yes" and kek[-1] == "2"  # current, wrapping alpha's field and index keys
    [field] = _rows(before, "alpha", "field")
    assert field[1:4] == ["field", "1", "yes"] and field[-2:] == ["local-1", "6"]  # 2 patients x 3 fields
    assert _rows(before, "alpha", "index")[0][-1] == "-"

    rotated = run("rotate")
    assert "local-2" in rotated.stdout and "Re-wrapped 2 data key(s)" in _flat(rotated.stdout)
    after = run("status").stdout
    assert _kek(after, "local-1")[-1] == "0" and _kek(after, "local-2")[1] == "yes"
    assert _kek(after, "local-2")[-1] == "2" and _kek(after, "local-1")[1] == "no"
    assert _rows(after, "alpha", "field")[0][-2:] == ["local-2", "6"]
    [event] = _audit(cli, "keys.rotate")
    assert event.organization_id is None and (event.actor_name or "").startswith("keys rotate")
    assert event.detail["kek"] == "local-2" and event.detail["rewrapped"] == 2

    resumed = run("rotate", "--rewrap-only")
    assert "Re-wrapped 0 data key(s)" in _flat(resumed.stdout) and "local-3" not in resumed.stdout


def test_status_shows_ages_from_stored_timestamps(cli: Runtime, world: World) -> None:
    org_id = world.org("alpha")
    with cli.db.session(tenant_id=org_id) as s:
        s.execute(
            update(DataKey).where(DataKey.organization_id == org_id).values(created_at=now_utc() - timedelta(days=40))
        )
    assert _rows(run("status").stdout, "alpha", "field")[0][4] == "40 d"


def test_status_flags_keys_left_under_an_old_kek(cli: Runtime, world: World) -> None:
    world.org("alpha")
    ring = cli.keys.provider
    assert isinstance(ring, LocalKeyring)
    ring.rotate()  # a rotation that was interrupted before re-wrapping
    out = _flat(run("status").stdout)
    assert "2 data key(s) are wrapped by an older KEK" in out
    run("rotate", "--rewrap-only")
    assert "older KEK" not in run("status").stdout


@pytest.mark.skipif(
    importlib.util.find_spec("claimvault.security.crypto.reencrypt") is None, reason="reencrypt module not present"
)
def test_reencrypt_moves_values_to_the_newest_data_key(cli: Runtime, world: World) -> None:
    alpha = world.member("alpha", "biller")
    _create(world, alpha, 2)
    with cli.db.session(tenant_id=alpha.org_id) as s:
        cli.keys.new_version(s, alpha.org_id, "field")  # values stay under version 1 until re-encrypted
    before = _rows(run("status").stdout, "alpha", "field")
    assert [(r[2], r[3], r[-1]) for r in before] == [("1", "no", "6"), ("2", "yes", "0")]
    done = run("reencrypt", "--batch-size", "1")
    assert "Re-encrypted 2 row(s) in 1 organization(s)" in _flat(done.stdout)
    assert _audit(cli, "keys.reencrypt")
    out = run("status").stdout
    fields = _rows(out, "alpha", "field")
    active = [r for r in fields if r[3] == "yes"]
    assert len(active) == 1 and active[0][-1] == "6"
    assert all(r[-1] == "0" for r in fields if r[3] == "no")


def test_export_is_private_sealed_and_round_trips(cli: Runtime, world: World, tmp_path: Path) -> None:
    world.org("alpha")
    keyring_path = cli.settings.resolved_keyring_path
    original = keyring_path.read_bytes()
    out = tmp_path / "backup" / "keys.export"
    result = run("export", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    sealed = out.read_bytes()
    for entry in json.loads(original)["keys"].values():
        raw = base64.b64decode(entry["key"])
        assert entry["key"].encode() not in sealed and raw not in sealed
    assert b"local-1" not in sealed and PASSPHRASE not in _everything(result)
    assert _audit(cli, "keys.export")
    assert run("export", "--out", str(out), ok=False).exit_code == 1  # never overwrites

    restored = cli.settings.model_copy(update={"var_dir": tmp_path / "restored"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_keys, "settings", lambda: restored)
        wrong = run("import", "--in", str(out), ok=False, env={"CLAIMVAULT_EXPORT_PASSPHRASE": "not the right one"})
        assert wrong.exit_code == 1 and "passphrase is wrong" in _flat(_everything(wrong))
        assert not restored.resolved_keyring_path.exists()
        run("import", "--in", str(out))
        assert restored.resolved_keyring_path.read_bytes() == original
        assert stat.S_IMODE(restored.resolved_keyring_path.stat().st_mode) == 0o600
        again = run("import", "--in", str(out), ok=False)
        assert again.exit_code == 1 and "already exists" in _flat(_everything(again))


def test_export_prompts_twice_without_echo(cli: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "keys.export"
    secret = "typed passphrase 123"
    result = run("export", "--out", str(out), env={"CLAIMVAULT_EXPORT_PASSPHRASE": ""}, stdin=f"{secret}\n{secret}\n")
    assert secret not in _everything(result) and out.exists()
    mismatch = run(
        "export", "--out", str(tmp_path / "b"), ok=False, env={"CLAIMVAULT_EXPORT_PASSPHRASE": ""}, stdin="a\nb\n"
    )
    assert mismatch.exit_code != 0 and not (tmp_path / "b").exists()
    short = run("export", "--out", str(tmp_path / "c"), ok=False, env={"CLAIMVAULT_EXPORT_PASSPHRASE": "short"})
    assert short.exit_code == 1 and "at least 12" in _everything(short)


def test_export_refused_for_cloud_providers(cli: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cloud = cli.settings.model_copy(update={"key_provider": "aws_kms"})
    monkeypatch.setattr(cli_keys, "settings", lambda: cloud)
    refused = run("export", "--out", str(tmp_path / "x"), ok=False)
    assert refused.exit_code == 1 and "never leave" in _flat(_everything(refused))
    assert not (tmp_path / "x").exists()


def test_keys_commands_against_a_real_var_directory(tmp_path: Path, backend: Any) -> None:
    if backend.name != "sqlite":
        pytest.skip("the real ./var/ uses SQLite; the other tests cover PostgreSQL")
    var = tmp_path / "var"
    _ok(var, "init")
    runner = CliRunner(env={**_env(var), "CLAIMVAULT_EXPORT_PASSPHRASE": PASSPHRASE})
    rotated = runner.invoke(cli_keys.app, ["rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert json.loads((var / "keys" / "keyring.json").read_text())["current"] == "local-2"
    assert stat.S_IMODE((var / "keys" / "keyring.json").stat().st_mode) == 0o600
    status = runner.invoke(cli_keys.app, ["status"])
    assert status.exit_code == 0 and _kek(status.stdout, "local-2")[1] == "yes"
