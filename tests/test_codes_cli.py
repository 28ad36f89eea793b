"""``claimvault codes`` in-process on a real ./var/ (SQLite): load with a version label and dates (idempotent on a
second run), a malformed file refused by line with exit 1, the versions table, and ``check`` on dates inside and
outside the loaded versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from claimvault.billing.codesets import synthetic as syn
from claimvault.cli.codes import codes_app
from claimvault.cli.declare import NO_PROTECTED_DATA_ATTR
from tests.test_cli import _env, _everything, _flat, _ok

cli = typer.Typer()
cli.add_typer(codes_app, name="codes")  # as cli/main.py registers it


def _codes(var: Path, *args: str) -> Result:
    result = CliRunner(env=_env(var)).invoke(cli, ["codes", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def var(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    _ok(var, "init")
    return var


def test_load_versions_and_check(var: Path, tmp_path: Path) -> None:
    files = syn.write_synthetic_code_sets(tmp_path / "codes", year=2026)
    args = ("load", str(files.cpt), "--kind", "cpt", "--effective", "2026-01-01", "--until", "2026-12-31")
    first = _codes(var, *args, "--label", "CPT 2026")
    assert first.exit_code == 0, first.output
    assert f"Loaded 'CPT 2026': {len(syn.CPT_CODES)} rows" in _flat(first.output)
    again = _codes(var, *args)
    assert again.exit_code == 0 and "nothing added" in _flat(again.output)
    loaded = _codes(var, "load", str(files.ptp), "--kind", "ncci-ptp", "--effective", "2026-01-01")
    assert loaded.exit_code == 0 and "open-ended" in _flat(loaded.output)

    table = _flat(_codes(var, "versions").output)
    assert "CPT 2026" in table and "NCCI PTP 2026-01-01" in table and "ICD-10-CM FY2026 (built-in)" in table

    ok = _codes(var, "check", "99213", "--on", "2026-05-01")
    assert ok.exit_code == 0 and "99213 (procedure) on 2026-05-01: valid" in _flat(ok.output)
    outside = _codes(var, "check", "99213", "--on", "2027-01-05")
    assert outside.exit_code == 1 and ": no_version" in _flat(outside.output)
    header = _codes(var, "check", "E11", "--on", "2026-05-01")
    assert header.exit_code == 1 and "E11 (diagnosis) on 2026-05-01: not_billable" in _flat(header.output)
    assert "version: ICD-10-CM FY2026 (built-in)" in _flat(header.output)


def test_a_malformed_file_is_refused_by_line(var: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mue.csv"
    header = '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator"\n'
    bad.write_text(header + '"99213","x","2"\n', encoding="utf-8")
    result = _codes(var, "load", str(bad), "--kind", "mue", "--effective", "2026-01-01")
    assert result.exit_code == 1
    assert "line 2: MUE value is not a whole number" in _flat(_everything(result))
    assert "MUE 2026-01-01" not in _flat(_codes(var, "versions").output)  # nothing was loaded


def test_every_codes_command_declares_it_touches_no_protected_data() -> None:
    for command in codes_app.registered_commands:
        assert getattr(command.callback, NO_PROTECTED_DATA_ATTR, False), command.name
