"""Backups: one encrypted, authenticated archive of the database and the blob store, and its verified restore.

The plaintext inside the archive is a tar: ``manifest.json`` first (format, creation time, ClaimVault version,
Alembic revision, database dialect, every entry with its size and SHA-256), then the database snapshot (SQLite:
the online backup API; PostgreSQL: ``pg_dump --format=custom`` as the schema owner) and every file of the local
blob store. A ``Cipher`` (``claimvault.security.crypto.archive.ArchiveCipher``, handed in by the caller: storage
does not import the security package) seals the tar. Key material and the shred ledger are never included.

Restore unseals and checks every chunk and every checksum into a private work directory first; only then does
it replace the database and the blob store, migrate an older schema to head, and run ``after_restore`` (the
shred-ledger re-application). An archive from a newer schema is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from claimvault import __version__
from claimvault.config import Settings
from claimvault.errors import ClaimVaultError, Conflict
from claimvault.storage.migrate import alembic_config, current_revision, grant_app_role, head_revision, upgrade

FORMAT = 1
KIND = "claimvault-backup"
MANIFEST = "manifest.json"
DB_SQLITE = "database/claimvault.sqlite3"
DB_PG = "database/claimvault.pgdump"
BLOBS = "blobs/"
_MAX_MANIFEST = 16 * 1024 * 1024
_BUF = 1024 * 1024

Progress = Callable[[str], None]


_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PLAIN_SIGNATURE = re.compile(r"[a-z_][a-z0-9_]{0,62}\([a-z0-9_ ,\[\]]*\)")


class BackupError(ClaimVaultError):
    code = "backup_failed"


class Cipher(Protocol):
    def seal(self, src: BinaryIO, dst: BinaryIO) -> str: ...

    def unseal(self, src: BinaryIO, dst: BinaryIO) -> str: ...


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    created_at: str
    claimvault_version: str
    alembic_revision: str | None
    db_dialect: str
    entries: list[Entry] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "kind": KIND,
                "created_at": self.created_at,
                "claimvault_version": self.claimvault_version,
                "alembic_revision": self.alembic_revision,
                "db_dialect": self.db_dialect,
                "entries": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.entries],
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw)
            if doc["format"] != FORMAT or doc["kind"] != KIND:
                raise BackupError("The backup manifest has an unknown format.")
            revision = doc["alembic_revision"]
            return cls(
                created_at=str(doc["created_at"]),
                claimvault_version=str(doc["claimvault_version"]),
                alembic_revision=None if revision is None else str(revision),
                db_dialect=str(doc["db_dialect"]),
                entries=[Entry(str(e["path"]), int(e["size"]), str(e["sha256"])) for e in doc["entries"]],
            )
        except (ValueError, KeyError, TypeError):
            raise BackupError("The backup manifest is malformed.") from None

    @property
    def blob_count(self) -> int:
        return sum(1 for e in self.entries if e.path.startswith(BLOBS))


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    archive_id: str
    manifest: Manifest


@dataclass(frozen=True)
class RestoreSummary:
    archive_id: str
    manifest: Manifest
    migrated: bool
    notes: list[str]


# Helpers ----------------------------------------------------------------------------------------------------
def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _dialect(settings: Settings) -> str:
    return "sqlite" if settings.uses_sqlite else "postgresql"


def _sqlite_file(settings: Settings) -> Path:
    database = make_url(settings.resolved_database_url).database
    if not database or database == ":memory:":
        raise BackupError("Backups need a file-based SQLite database.")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` (no driver suffix) with the password moved to PGPASSWORD."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BUF):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _workspace(settings: Settings) -> Iterator[Path]:
    """A private (0700) scratch directory under ./var/, removed afterwards whatever happens."""
    settings.var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(tempfile.mkdtemp(prefix=".backup-", dir=settings.var_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _private_open(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    # Tool output can quote row values: it is neither shown nor logged, only the exit status is reported.
    done = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit status {done.returncode}).")


def _alembic_revision(settings: Settings, snapshot: Path | None) -> str | None:
    """The schema revision of the snapshot (SQLite) or of the live database (PostgreSQL)."""
    if snapshot is not None:
        snap = sqlite3.connect(snapshot)
        try:
            row = snap.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        finally:
            snap.close()
        return None if row is None else str(row[0])
    engine = create_engine(settings.resolved_migration_url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


# Create -----------------------------------------------------------------------------------------------------
def _snapshot_database(settings: Settings, work: Path) -> tuple[str, Path]:
    if settings.uses_sqlite:
        source_path = _sqlite_file(settings)
        if not source_path.exists():
            raise BackupError("The database does not exist yet: run 'claimvault init' first.")
        target = work / "db.sqlite3"
        _private_open(target).close()
        source, dest = sqlite3.connect(source_path), sqlite3.connect(target)
        try:
            source.backup(dest)  # consistent even while the service writes
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dest.close()
            source.close()
        return DB_SQLITE, target
    target = work / "db.pgdump"
    url, env = _libpq(settings.resolved_migration_url)
    _run(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(target), "--dbname", url],
        env,
        "pg_dump",
    )
    os.chmod(target, 0o600)
    return DB_PG, target


def _blob_files(settings: Settings) -> list[tuple[str, Path]]:
    root = settings.resolved_blob_dir
    if settings.blob_backend != "local" or not root.is_dir():
        return []
    found: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found.append((BLOBS + path.relative_to(root).as_posix(), path))
    return found


def _tar_add(tar: tarfile.TarFile, name: str, path: Path | None = None, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    info.mtime = 0
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        return
    assert path is not None
    info.size = path.stat().st_size
    with path.open("rb") as fh:
        tar.addfile(info, fh)


def create_backup(*, settings: Settings, cipher: Cipher, path: Path, progress: Progress | None = None) -> BackupSummary:
    """Write an encrypted archive of the database and the blob store to ``path`` (0600; never overwrites)."""
    if path.exists():
        raise Conflict("The backup file already exists; choose a new file name.")
    with _workspace(settings) as work:
        _say(progress, "snapshotting the database")
        db_name, db_file = _snapshot_database(settings, work)
        revision = _alembic_revision(settings, db_file if settings.uses_sqlite else None)
        files = [(db_name, db_file), *_blob_files(settings)]
        _say(progress, f"checksumming {len(files)} entries")
        manifest = Manifest(
            created_at=datetime.now(UTC).isoformat(),
            claimvault_version=__version__,
            alembic_revision=revision,
            db_dialect=_dialect(settings),
            entries=[Entry(name, p.stat().st_size, _sha256(p)) for name, p in files],
        )
        tar_path = work / "archive.tar"
        with _private_open(tar_path) as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _tar_add(tar, MANIFEST, data=manifest.to_json())
            for name, file in files:
                _tar_add(tar, name, path=file)
        _say(progress, "encrypting")
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with tar_path.open("rb") as src, _private_open(tmp) as dst:
                archive_id = cipher.seal(src, dst)
                dst.flush()
                os.fsync(dst.fileno())
            if path.exists():
                raise Conflict("The backup file already exists; choose a new file name.")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return BackupSummary(path=path, archive_id=archive_id, manifest=manifest)


# Verify -----------------------------------------------------------------------------------------------------
def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return not pure.is_absolute() and all(part not in {"", ".", ".."} for part in pure.parts) and "\\" not in name


def _check_revision(manifest: Manifest) -> None:
    revision = manifest.alembic_revision
    if revision is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            "The backup comes from a newer ClaimVault schema than this version knows: upgrade ClaimVault first."
        )


def _extract(tar_path: Path, dest: Path) -> Manifest:
    """Unpack the tar into ``dest``, checking every entry against the manifest (names, sizes, SHA-256)."""
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isreg() or first.size > _MAX_MANIFEST:
                raise BackupError("The backup archive has no manifest.")
            handle = tar.extractfile(first)
            assert handle is not None
            manifest = Manifest.from_json(handle.read())
            expected = {e.path: e for e in manifest.entries}
            if len(expected) != len(manifest.entries) or not all(_safe_name(n) for n in expected):
                raise BackupError("The backup manifest is malformed.")
            seen: set[str] = set()
            for member in tar:
                if member is first:
                    continue
                entry = expected.get(member.name)
                if entry is None or member.name in seen or not member.isreg() or member.size != entry.size:
                    raise BackupError("The backup archive does not match its manifest.")
                seen.add(member.name)
                reader = tar.extractfile(member)
                assert reader is not None
                digest = hashlib.sha256()
                with _private_open(dest / member.name) as out:
                    while block := reader.read(_BUF):
                        digest.update(block)
                        out.write(block)
                if digest.hexdigest() != entry.sha256:
                    raise BackupError("A backup entry failed its checksum.")
    except tarfile.TarError:
        raise BackupError("The backup archive's contents are corrupt.") from None
    if seen != set(expected):
        raise BackupError("The backup archive is missing entries listed in its manifest.")
    return manifest


def _open_verified(
    *, settings: Settings, cipher: Cipher, path: Path, work: Path, progress: Progress | None
) -> tuple[str, Manifest, Path]:
    if not path.is_file():
        raise BackupError("The backup file does not exist.")
    _say(progress, "decrypting and authenticating every chunk")
    tar_path = work / "archive.tar"
    with path.open("rb") as src, _private_open(tar_path) as dst:
        archive_id = cipher.unseal(src, dst)
    _say(progress, "checking the manifest and every checksum")
    extracted = work / "extracted"
    extracted.mkdir(mode=0o700)
    manifest = _extract(tar_path, extracted)
    tar_path.unlink()
    _check_revision(manifest)
    db_name = DB_SQLITE if manifest.db_dialect == "sqlite" else DB_PG
    if manifest.db_dialect not in {"sqlite", "postgresql"} or db_name not in {e.path for e in manifest.entries}:
        raise BackupError("The backup archive holds no database snapshot.")
    if manifest.db_dialect == "sqlite":
        conn = sqlite3.connect(extracted / DB_SQLITE)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.Error:
            ok = None
        finally:
            conn.close()
        if ok is None or ok[0] != "ok":
            raise BackupError("The backup's database snapshot is corrupt.")
    return archive_id, manifest, extracted


def verify_backup(*, settings: Settings, cipher: Cipher, path: Path, progress: Progress | None = None) -> Manifest:
    """Authenticate and check the whole archive without restoring anything."""
    with _workspace(settings) as work:
        return _open_verified(settings=settings, cipher=cipher, path=path, work=work, progress=progress)[1]


# Restore ----------------------------------------------------------------------------------------------------
def _restore_sqlite(settings: Settings, snapshot: Path) -> None:
    target = _sqlite_file(settings)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = target.with_name(f".{target.name}.{secrets.token_hex(4)}.restore")
    try:
        with snapshot.open("rb") as src, _private_open(staged) as dst:
            shutil.copyfileobj(src, dst, _BUF)
            dst.flush()
            os.fsync(dst.fileno())
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    os.chmod(target, 0o600)


def _restore_postgres(settings: Settings, dump: Path, *, grant: bool) -> None:
    """Drop the live schema's tables and types and load the dump, all in one transaction (psql)."""
    owner_url = settings.resolved_migration_url
    engine = create_engine(owner_url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            tables = list(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
            types = list(
                conn.execute(
                    text(
                        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                        "WHERE n.nspname = 'public' AND t.typtype = 'e'"
                    )
                ).scalars()
            )
            functions = list(  # e.g. a newer schema's functions, which an older dump does not know
                conn.execute(
                    text(
                        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' "
                        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                        "WHERE n.nspname = 'public' AND p.proname LIKE 'claimvault\\_%'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    # These names are written into the SQL that psql runs: only plain ones, never quoting tricks or line breaks.
    if not all(map(_PLAIN_NAME.fullmatch, [*tables, *types])) or not all(map(_PLAIN_SIGNATURE.fullmatch, functions)):
        raise BackupError("The live database holds an object whose name a restore will not write into SQL.")
    preamble = [f'DROP TABLE IF EXISTS public."{name}" CASCADE;' for name in tables]
    preamble += [f'DROP TYPE IF EXISTS public."{name}" CASCADE;' for name in types]
    preamble += [f"DROP FUNCTION IF EXISTS public.{signature} CASCADE;" for signature in functions]
    url, env = _libpq(owner_url)
    restore_cmd = ["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists", "--file", "-", str(dump)]
    psql_cmd = ["psql", "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1", "--dbname", url]
    with tempfile.TemporaryFile() as errors:
        psql = subprocess.Popen(psql_cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)  # noqa: S603
        producer = subprocess.Popen(restore_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: S603
        assert psql.stdin is not None and producer.stdout is not None
        try:
            psql.stdin.write("\n".join(preamble).encode() + b"\n")
            shutil.copyfileobj(producer.stdout, psql.stdin, _BUF)
        except BrokenPipeError:
            pass
        finally:
            producer.stdout.close()
            with suppress(BrokenPipeError):
                psql.stdin.close()
        produced, loaded = producer.wait(), psql.wait()
    if produced != 0:
        raise BackupError(f"pg_restore failed (exit status {produced}); the database was not changed.")
    if loaded != 0:
        raise BackupError(f"Loading the database dump failed (exit status {loaded}); the database was not changed.")
    if not grant:
        return  # an older schema: the migration to head grants the application role
    engine = create_engine(owner_url, hide_parameters=True)
    try:
        with engine.begin() as conn:
            grant_app_role(conn, settings.db_app_role)
    finally:
        engine.dispose()


def _restore_blobs(settings: Settings, extracted: Path) -> int:
    root = settings.resolved_blob_dir
    source = extracted / BLOBS.rstrip("/")
    if settings.blob_backend != "local":
        return 0
    source.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = root.with_name(f".{root.name}.{secrets.token_hex(4)}.old")
    if root.exists():
        os.replace(root, old)
    shutil.move(str(source), str(root))
    os.chmod(root, 0o700)
    shutil.rmtree(old, ignore_errors=True)
    return sum(1 for p in root.rglob("*") if p.is_file())


def restore_backup(
    *,
    settings: Settings,
    cipher: Cipher,
    path: Path,
    after_restore: Callable[[], str] | None = None,
    progress: Progress | None = None,
) -> RestoreSummary:
    """Verify the whole archive, then replace the database and blob store with its contents.

    Nothing changes unless every chunk and checksum verified. The service must be stopped while this runs.
    """
    with _workspace(settings) as work:
        archive_id, manifest, extracted = _open_verified(
            settings=settings, cipher=cipher, path=path, work=work, progress=progress
        )
        if manifest.db_dialect != _dialect(settings):
            raise BackupError("The backup was made from a different database engine than the one configured.")
        migrated = manifest.alembic_revision != head_revision()
        _say(progress, "restoring the database")
        if manifest.db_dialect == "sqlite":
            _restore_sqlite(settings, extracted / DB_SQLITE)
        else:
            _restore_postgres(settings, extracted / DB_PG, grant=not migrated)
        if migrated:
            _say(progress, "migrating the restored schema to the current version")
            upgrade(settings.resolved_migration_url, app_role=settings.db_app_role)
        _say(progress, "restoring the blob store")
        _restore_blobs(settings, extracted)
    notes: list[str] = []
    if after_restore is not None:
        _say(progress, "re-applying the shred ledger")
        try:
            notes.append(after_restore())
        except Exception as exc:
            raise BackupError(
                "The backup was restored but re-applying the shred ledger failed: do not start the service; "
                "fix the cause and run the restore again."
            ) from exc
    return RestoreSummary(archive_id=archive_id, manifest=manifest, migrated=migrated, notes=notes)
