"""``claimvault backup``: a round trip restores identical data; the archive holds no plaintext and no key
material; any tampering (a flipped bit, truncation, swapped chunks, trailing bytes), a wrong keyring, or an
archive from a newer schema is refused before anything changes. On SQLite always, and on PostgreSQL (a
throw-away database created here, since restore replaces the database) when CLAIMVAULT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import struct
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from alembic import command as alembic_command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from claimvault.accounts.services import get_organization_by_slug
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.cli import backup as backup_cli
from claimvault.cli.main import app as main_app
from claimvault.config import Settings
from claimvault.runtime import build_runtime
from claimvault.security.context import system_context
from claimvault.security.crypto.archive import MAGIC, ArchiveCipher, unseal
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.storage import backup as backups
from claimvault.storage.migrate import alembic_config, head_revision, upgrade
from tests.harness import APP_ROLE, APP_ROLE_PASSWORD, PG_ENV, backends

MARKER_FAMILY = "Quorvendalithx"
SMALL_CHUNK = 4096


@dataclass
class Install:
    var: Path
    env: dict[str, str | None]
    settings: Settings
    owner_url: str

    def run(self, app: object, *args: str) -> Result:
        result = CliRunner(env=self.env).invoke(app, list(args))  # type: ignore[arg-type]
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def ok(self, app: object, *args: str) -> Result:
        result = self.run(app, *args)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
        return result

    def backup(self, *args: str) -> Result:
        return self.run(backup_cli.app, *args)


def _base_env(var: Path) -> dict[str, str | None]:
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("CLAIMVAULT_")}
    env.update(
        {
            "CLAIMVAULT_VAR_DIR": str(var),
            "CLAIMVAULT_ARGON2_TIME_COST": "1",
            "CLAIMVAULT_ARGON2_MEMORY_COST_KIB": "64",
            "CLAIMVAULT_ARGON2_PARALLELISM": "1",
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
    )
    return env


@pytest.fixture(params=backends())
def install(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Install]:
    """An initialised, demo-seeded installation with one blob file, on the parametrized backend."""
    var = tmp_path / "var"
    env = _base_env(var)
    cheap = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 64, "argon2_parallelism": 1}
    if request.param == "sqlite":
        inst = Install(var, env, Settings(var_dir=var, **cheap), f"sqlite:///{var / 'claimvault.db'}")  # type: ignore[arg-type]
        yield from _seeded(inst)
        return
    admin_url = make_url(os.environ[PG_ENV])
    dbname = f"claimvault_backup_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}).first():
            conn.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{APP_ROLE_PASSWORD}'"))
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    owner = admin_url.set(database=dbname).render_as_string(hide_password=False)
    app_url = admin_url.set(database=dbname, username=APP_ROLE, password=APP_ROLE_PASSWORD).render_as_string(
        hide_password=False
    )
    upgrade(owner, app_role=APP_ROLE)
    env.update(
        {
            "CLAIMVAULT_DATABASE_URL": app_url,
            "CLAIMVAULT_MIGRATION_DATABASE_URL": owner,
            "CLAIMVAULT_DB_APP_ROLE": APP_ROLE,
        }
    )
    settings = Settings(
        var_dir=var,
        database_url=app_url,
        migration_database_url=owner,
        db_app_role=APP_ROLE,
        **cheap,  # type: ignore[arg-type]
    )
    try:
        yield from _seeded(Install(var, env, settings, owner))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()


def _seeded(inst: Install) -> Iterator[Install]:
    inst.ok(main_app, "init")
    inst.ok(main_app, "demo", "seed", "--patients", "5")
    blobs = inst.settings.resolved_blob_dir
    (blobs / "ab").mkdir(parents=True)
    (blobs / "ab" / "object-1").write_bytes(secrets.token_bytes(3000))
    (blobs / "cd").mkdir()
    (blobs / "cd" / "object-2").write_bytes(secrets.token_bytes(10))
    yield inst


# Observations ---------------------------------------------------------------------------------------------------
BACKUP_EVENTS = ("'backup.create'", "'backup.restore'")


def _rows(inst: Install, *, audit_of_backups: bool = False) -> dict[str, list[str]]:
    """Every row of every table, read with raw SQL as the owner, binary values as bytes, in a stable order;
    the audit events of backups and restores themselves are left out unless asked for."""
    engine = create_engine(inst.owner_url)
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            found: dict[str, list[str]] = {}
            for table in tables:
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                shown = [repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)) for row in rows]
                if table == "audit_events" and not audit_of_backups:
                    shown = [r for r in shown if not any(marker in r for marker in BACKUP_EVENTS)]
                found[table] = sorted(shown)
            return found
    finally:
        engine.dispose()


def _blobs(inst: Install) -> dict[str, bytes]:
    root = inst.settings.resolved_blob_dir
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _state(inst: Install) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    return _rows(inst), _blobs(inst)


def _credentials(inst: Install) -> list[list[str]]:
    lines = inst.settings.demo_credentials_path.read_text("utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def _plant_patient(inst: Install) -> uuid.UUID:
    rt = build_runtime(inst.settings)
    try:
        org = get_organization_by_slug(db=rt.db, slug="demo")
        ctx = system_context("test", organization_id=org.id, permissions={Permission.PATIENT_CREATE})
        with open_gate(db=rt.db, keys=rt.keys, ctx=ctx) as gate:
            return create_patient(
                gate=gate,
                data=PatientCreate(given_name="Marker", family_name=MARKER_FAMILY, birth_date=date(1970, 1, 2)),
            ).id
    finally:
        rt.close()


def _small_chunk_backup(inst: Install, path: Path) -> None:
    cipher = ArchiveCipher(LocalKeyring(inst.settings.resolved_keyring_path), chunk_size=SMALL_CHUNK)
    backups.create_backup(settings=inst.settings, cipher=cipher, path=path)


def _chunks(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(offset of the first chunk, [(start, end) of each length-prefixed chunk])."""
    (hlen,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    pos = start = len(MAGIC) + 4 + hlen
    spans = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        spans.append((pos, pos + 4 + length))
        pos += 4 + length
    return start, spans


# Tests ----------------------------------------------------------------------------------------------------------
def test_round_trip_restores_identical_data(install: Install, tmp_path: Path) -> None:
    before = _state(install)
    archive = tmp_path / "backup.cvb"
    created = install.backup("create", str(archive))
    assert created.exit_code == 0, created.output
    assert archive.stat().st_mode & 0o777 == 0o600
    assert install.backup("verify", str(archive)).exit_code == 0

    # Change everything: a new organization (several tables), modified users, deleted rows, and blobs.
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")
    engine = create_engine(install.owner_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET username = username || '-changed'"))
        conn.execute(text("DELETE FROM care_assignments"))
    engine.dispose()
    root = install.settings.resolved_blob_dir
    (root / "ab" / "object-1").write_bytes(b"overwritten")
    (root / "cd" / "object-2").unlink()
    (root / "new-object").write_bytes(b"added later")
    assert _state(install) != before  # control: the changes are visible

    restored = install.backup("restore", "--yes", str(archive))
    assert restored.exit_code == 0, restored.output
    assert _state(install) == before
    # The restore itself is audited after the fact (the create event happened after the snapshot: gone).
    audit = _rows(install, audit_of_backups=True)["audit_events"]
    assert sum("'backup.restore'" in r for r in audit) == 1 and not any("'backup.create'" in r for r in audit)
    # Restoring twice is harmless, and the restored installation still works.
    assert install.backup("restore", "--yes", str(archive)).exit_code == 0
    assert _state(install) == before
    if install.owner_url.startswith("postgresql"):  # pg_restore --no-privileges brings functions back executable
        engine = create_engine(install.owner_url)  # by PUBLIC: the restore's grant step must take that away again
        with engine.connect() as conn:
            public_grants = conn.execute(
                text(
                    "SELECT count(*) FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a "
                    "WHERE p.proname = 'claimvault_audit_patient_positions' AND a.grantee = 0"
                )
            ).scalar()
        engine.dispose()
        assert public_grants == 0
    install.ok(main_app, "orgs", "list")


def test_archive_holds_no_plaintext_and_no_key_material(install: Install, tmp_path: Path) -> None:
    _plant_patient(install)
    archive = tmp_path / "backup.cvb"
    assert install.backup("create", str(archive)).exit_code == 0
    data = archive.read_bytes()
    creds = _credentials(install)
    usernames = [c[1] for c in creds]
    passwords = [c[2] for c in creds]
    # Control: usernames are plaintext in the database itself, so a plaintext archive would be caught.
    assert any(
        name.encode() in b"".join(r.encode() for rows in _rows(install).values() for r in rows) for name in usernames
    )
    for marker in [MARKER_FAMILY, *usernames, *passwords]:
        for form in (marker.encode(), marker.encode("utf-16-le"), marker.lower().encode(), marker.upper().encode()):
            assert form not in data

    keyring = json.loads(install.settings.resolved_keyring_path.read_text("utf-8"))
    for entry in keyring["keys"].values():
        raw = entry["key"]
        assert raw.encode() not in data and bytes.fromhex(hashlib.sha256(raw.encode()).hexdigest()) not in data

    # Inside the (decrypted) archive: no keyring, no shred ledger, no key material.
    plain = io.BytesIO()
    with archive.open("rb") as src:
        unseal(src, plain, provider=LocalKeyring(install.settings.resolved_keyring_path))
    with tarfile.open(fileobj=io.BytesIO(plain.getvalue())) as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json" and any(n.startswith("database/") for n in names)
    assert not [n for n in names if "keyring" in n or "shred" in n or (n.endswith(".json") and n != "manifest.json")]
    for entry in keyring["keys"].values():
        assert entry["key"].encode() not in plain.getvalue()
        assert base64.b64decode(entry["key"]) not in plain.getvalue()


def _tampered(data: bytes) -> dict[str, bytes]:
    first, spans = _chunks(data)
    assert len(spans) >= 4, "the test needs several chunks"
    (a0, a1), (b0, b1) = spans[1], spans[2]

    def flip(at: int) -> bytes:
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]

    return {
        "bit in header": flip(len(MAGIC) + 10),
        "bit in first chunk": flip(first + 20),
        "bit in middle": flip(len(data) // 2),
        "bit in last byte": flip(len(data) - 1),
        "truncated mid-chunk": data[: len(data) - 100],
        "truncated at chunk boundary": data[: spans[-1][0]],
        "swapped chunks": data[:a0] + data[b0:b1] + data[a0:a1] + data[b1:],
        "duplicated chunk": data[:b0] + data[a0:a1] + data[b0:],
        "trailing bytes": data + b"\x00" * 8,
        "empty": b"",
    }


def test_tampered_archives_are_refused_before_anything_changes(install: Install, tmp_path: Path) -> None:
    archive = tmp_path / "good.cvb"
    _small_chunk_backup(install, archive)
    # Change the live state after the backup: a refused restore must leave this changed state alone.
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")
    before = _state(install)
    for name, data in _tampered(archive.read_bytes()).items():
        bad = tmp_path / f"bad-{name.replace(' ', '-')}.cvb"
        bad.write_bytes(data)
        verify = install.backup("verify", str(bad))
        assert verify.exit_code == 1, name
        assert "Error:" in verify.output and "Traceback" not in verify.output
        assert install.backup("restore", "--yes", str(bad)).exit_code == 1, name
        assert _state(install) == before, name
    # Control: the untouched archive verifies and restores (and the changed state goes away).
    assert install.backup("verify", str(archive)).exit_code == 0
    assert install.backup("restore", "--yes", str(archive)).exit_code == 0
    assert _state(install) != before


def test_wrong_keyring_is_a_clear_error(install: Install, tmp_path: Path) -> None:
    archive = tmp_path / "backup.cvb"
    assert install.backup("create", str(archive)).exit_code == 0
    before = _state(install)
    keyring = install.settings.resolved_keyring_path
    original = keyring.read_bytes()
    keyring.unlink()
    LocalKeyring.create(keyring)
    try:
        for command in (("verify", str(archive)), ("restore", "--yes", str(archive))):
            result = install.backup(*command)
            assert result.exit_code == 1
            assert "keyring" in result.output and "cannot be unwrapped" in result.output
        assert _state(install) == before
    finally:
        keyring.write_bytes(original)
    assert install.backup("verify", str(archive)).exit_code == 0  # control: the right keyring opens it


def test_archive_from_a_newer_schema_is_refused(
    install: Install, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "future.cvb"
    monkeypatch.setattr(backups, "_alembic_revision", lambda settings, snapshot: "9999_from_the_future")
    assert install.backup("create", str(archive)).exit_code == 0
    monkeypatch.undo()
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")
    before = _state(install)
    for command in (("verify", str(archive)), ("restore", "--yes", str(archive))):
        result = install.backup(*command)
        assert result.exit_code == 1
        assert "newer" in result.output
    assert _state(install) == before


def test_restore_asks_for_confirmation_and_never_overwrites_a_backup(install: Install, tmp_path: Path) -> None:
    archive = tmp_path / "backup.cvb"
    assert install.backup("create", str(archive)).exit_code == 0
    first = archive.read_bytes()
    again = install.backup("create", str(archive))
    assert again.exit_code == 1 and archive.read_bytes() == first
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")
    before = _state(install)
    declined = CliRunner(env=install.env).invoke(backup_cli.app, ["restore", str(archive)], input="n\n")
    assert declined.exit_code != 0 and _state(install) == before


def _reseal_with(inst: Install, archive: Path, out: Path, edit: dict[str, bytes]) -> None:
    """Decrypt ``archive``, replace the named entries' contents (manifest untouched), and seal it again under the
    right keyring: authenticated encryption alone cannot catch this; the manifest checksums must."""
    provider = LocalKeyring(inst.settings.resolved_keyring_path)
    plain = io.BytesIO()
    with archive.open("rb") as src:
        unseal(src, plain, provider=provider)
    rebuilt = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(plain.getvalue())) as old,
        tarfile.open(fileobj=rebuilt, mode="w", format=tarfile.PAX_FORMAT) as new,
    ):
        for member in old.getmembers():
            handle = old.extractfile(member)
            assert handle is not None
            content = edit.get(member.name, handle.read())
            member.size = len(content)
            new.addfile(member, io.BytesIO(content))
    with out.open("wb") as dst:
        ArchiveCipher(provider).seal(io.BytesIO(rebuilt.getvalue()), dst)


def test_manifest_checksums_are_checked(install: Install, tmp_path: Path) -> None:
    archive = tmp_path / "backup.cvb"
    assert install.backup("create", str(archive)).exit_code == 0
    blob = (install.settings.resolved_blob_dir / "cd" / "object-2").read_bytes()
    bad = tmp_path / "bad.cvb"
    _reseal_with(install, archive, bad, {"blobs/cd/object-2": bytes([blob[0] ^ 1]) + blob[1:]})
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")
    before = _state(install)
    for command in (("verify", str(bad)), ("restore", "--yes", str(bad))):
        result = install.backup(*command)
        assert result.exit_code == 1 and "checksum" in result.output
    assert _state(install) == before
    control = tmp_path / "control.cvb"
    _reseal_with(install, archive, control, {})
    assert install.backup("verify", str(control)).exit_code == 0


def test_after_restore_runs_on_the_restored_data(install: Install, tmp_path: Path) -> None:
    """The shred-ledger hook runs last, when the restored database is in place."""
    archive = tmp_path / "backup.cvb"
    cipher = ArchiveCipher(LocalKeyring(install.settings.resolved_keyring_path))
    backups.create_backup(settings=install.settings, cipher=cipher, path=archive)
    expected = _state(install)
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")
    seen: list[bool] = []

    def hook() -> str:
        seen.append(_state(install) == expected)
        return "hook ran"

    summary = backups.restore_backup(settings=install.settings, cipher=cipher, path=archive, after_restore=hook)
    assert seen == [True] and summary.notes == ["hook ran"] and not summary.migrated


def test_archive_from_an_older_schema_is_migrated_after_restore(install: Install, tmp_path: Path) -> None:
    head = head_revision()
    assert head is not None
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    cfg = alembic_config(install.owner_url)
    alembic_command.downgrade(cfg, previous)
    if previous == "0022":  # while 0023 is the head: its downgrade rebuilds the reference table from the bodies
        engine = create_engine(install.owner_url)
        with engine.connect() as conn:
            listed = conn.execute(text("SELECT coalesce(sum(patient_count), 0) FROM audit_events")).scalar()
            references = conn.execute(text("SELECT count(*) FROM audit_patient_refs")).scalar()
        engine.dispose()
        assert listed and references == listed
    archive = tmp_path / "old.cvb"
    try:
        assert install.backup("create", str(archive)).exit_code == 0
    finally:
        upgrade(install.owner_url, app_role=install.settings.db_app_role)
    restored = install.backup("restore", "--yes", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "migrated" in restored.output
    assert _rows(install)["alembic_version"] == [repr((head,))]
    install.ok(main_app, "orgs", "create", "--slug", "later", "--name", "Later Practice")


def test_a_failing_shred_ledger_hook_is_reported_not_ignored(install: Install, tmp_path: Path) -> None:
    archive = tmp_path / "backup.cvb"
    cipher = ArchiveCipher(LocalKeyring(install.settings.resolved_keyring_path))
    backups.create_backup(settings=install.settings, cipher=cipher, path=archive)

    def hook() -> str:
        raise RuntimeError("ledger unavailable")

    with pytest.raises(backups.BackupError, match="shred ledger failed"):
        backups.restore_backup(settings=install.settings, cipher=cipher, path=archive, after_restore=hook)


def test_restoring_an_old_backup_never_brings_a_shredded_patient_back(install: Install, tmp_path: Path) -> None:
    shredding = pytest.importorskip("claimvault.security.crypto.shredding")
    patient_id = _plant_patient(install)
    archive = tmp_path / "before-shred.cvb"
    assert install.backup("create", str(archive)).exit_code == 0

    rt = build_runtime(install.settings)
    try:
        org_id = get_organization_by_slug(db=rt.db, slug="demo").id
        ctx = system_context("test", organization_id=org_id, permissions={shredding.SHRED_PERMISSION})
        shredding.shred_patient(
            db=rt.db, keys=rt.keys, ctx=ctx, patient_id=patient_id, ledger_path=install.settings.shred_ledger_path
        )
    finally:
        rt.close()

    restored = install.backup("restore", "--yes", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "shred ledger re-applied (1 " in " ".join(restored.output.split())
    rt = build_runtime(install.settings)
    try:
        with rt.db.session(tenant_id=org_id) as session:
            assert shredding.is_shredded(session, patient_id)
    finally:
        rt.close()
