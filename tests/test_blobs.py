"""The encrypted blob store: both backends, no plaintext at rest, tamper detection, tenancy, permissions, audit."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.config import Settings
from claimvault.errors import ConfigurationError, NotFound, PermissionDenied, ValidationFailed
from claimvault.runtime import Runtime
from claimvault.security.authorization.services import create_care_assignment
from claimvault.security.context import UserContext
from claimvault.security.crypto.blobs import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    BlobCipher,
    BlobIntegrityError,
    BlobStore,
    build_blob_store,
    read_blob,
    store_blob,
)
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from claimvault.storage.blobs.backends import (
    BlobBackend,
    BlobObjectMissing,
    LocalDirBackend,
    S3Backend,
    build_blob_backend,
)
from claimvault.storage.blobs.models import Blob
from claimvault.storage.blobs.service import new_storage_key, sweep_orphans
from tests.conftest import Member, World

MARKER = b"PLAINTEXT-MARKER-7f3a9c"
READ, WRITE = Permission.PATIENT_READ, Permission.PATIENT_UPDATE
BUCKET = "claimvault-test-blobs"


@pytest.fixture
def s3_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    import boto3

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=["local", "s3"])
def blob_backend(request: pytest.FixtureRequest, tmp_path: Path) -> BlobBackend:
    if request.param == "local":
        return LocalDirBackend(tmp_path / "blobs")
    client = request.getfixturevalue("s3_client")
    return S3Backend(bucket=BUCKET, prefix="cv/", client=client)


@pytest.fixture
def blobs(runtime: Runtime, blob_backend: BlobBackend) -> BlobStore:
    return BlobStore(backend=blob_backend, keys=runtime.keys)


def _ctx(member: Member, *roles: str) -> UserContext:
    return UserContext(user_id=member.user_id, organization_id=member.org_id, roles=frozenset(roles or {"biller"}))


def _patient(runtime: Runtime, member: Member) -> uuid.UUID:
    data = PatientCreate(given_name="Ada", family_name="Lovelace", birth_date="1970-01-02")
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(member)) as gate:
        return create_patient(gate=gate, data=data, confirm_new=True).id


def _store(
    runtime: Runtime, blobs: BlobStore, member: Member, data: bytes, *, patient_id: uuid.UUID | None = None
) -> uuid.UUID:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(member)) as gate:
        ref = blobs.store(
            gate=gate,
            kind="statement",
            content_type="application/pdf",
            data=data,
            patient_id=patient_id,
            permission=WRITE,
        )
    return ref.id


def _read(runtime: Runtime, blobs: BlobStore, member: Member, blob_id: uuid.UUID, *roles: str) -> bytes:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(member, *roles)) as gate:
        return blobs.read(gate=gate, blob_id=blob_id, permission=READ)


def _row(runtime: Runtime, member: Member, blob_id: uuid.UUID) -> Blob:
    with runtime.db.session(tenant_id=member.org_id) as s:
        row = s.get(Blob, blob_id)
        assert row is not None
        s.expunge(row)
        return row


def _audit(runtime: Runtime, member: Member) -> list[AuditEvent]:
    with runtime.db.session(tenant_id=member.org_id) as s:
        rows = list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.entity_type == "blobs", AuditEvent.organization_id == member.org_id)
            )
        )
        for r in rows:
            s.expunge(r)
        return rows


def _objects(backend: BlobBackend) -> dict[str, bytes]:
    return {key: backend.get(key) for key in backend.iter_keys()}


def test_round_trip_stores_only_ciphertext_and_audits_ids(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    patient_id = _patient(runtime, biller)
    data = b"%PDF statement " + MARKER + b" for the patient"
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(biller)) as gate:
        ref = store_blob(
            blobs=blobs,
            gate=gate,
            kind="statement",
            content_type="application/pdf",
            data=data,
            patient_id=patient_id,
            permission=WRITE,
        )
    assert (ref.kind, ref.content_type, ref.size, ref.patient_id) == (
        "statement",
        "application/pdf",
        len(data),
        patient_id,
    )
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(biller)) as gate:
        assert read_blob(blobs=blobs, gate=gate, blob_id=ref.id, permission=READ) == data

    objects = _objects(blobs.backend)
    assert len(objects) == 1
    ((key, stored),) = objects.items()
    assert MARKER not in stored and data not in stored
    row = _row(runtime, biller, ref.id)
    assert row.storage_key == key and key.startswith(biller.org_id.hex + "/")
    assert row.sha256 == hashlib.sha256(stored).digest() != hashlib.sha256(data).digest()
    assert row.created_by == biller.user_id and row.deleted_at is None

    events = _audit(runtime, biller)
    assert sorted(e.action for e in events) == ["create", "read"]
    for e in events:
        assert e.entity_id == ref.id and e.patient_ids == [str(patient_id)] and e.outcome == "success"
        assert MARKER.decode() not in repr((e.detail, e.fields, e.reason, e.actor_name, e.permission, e.patient_ids))


def test_empty_and_multi_chunk_files(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    large = os.urandom(3 * DEFAULT_CHUNK_SIZE + DEFAULT_CHUNK_SIZE // 2 - len(MARKER)) + MARKER  # 3.5 MiB
    empty_id = _store(runtime, blobs, biller, b"")
    large_id = _store(runtime, blobs, biller, large)
    assert _read(runtime, blobs, biller, empty_id) == b""
    assert _read(runtime, blobs, biller, large_id) == large
    stored = blobs.backend.get(_row(runtime, biller, large_id).storage_key)
    assert len(stored) == HEADER_SIZE + 4 * (NONCE_SIZE + TAG_SIZE) + len(large)  # four chunks, each sealed
    assert MARKER not in stored


def test_local_files_are_private_and_written_atomically(tmp_path: Path) -> None:
    backend = LocalDirBackend(tmp_path / "blobs")
    key = new_storage_key(uuid.uuid4())
    backend.put(key, b"ciphertext")
    backend.put(key, b"replaced")
    path = tmp_path / "blobs" / Path(*key.split("/"))
    assert path.read_bytes() == b"replaced" and backend.exists(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (tmp_path / "blobs", path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert list(backend.iter_keys()) == [key]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    backend.delete(key)
    backend.delete(key)  # idempotent
    assert not backend.exists(key)
    with pytest.raises(BlobObjectMissing):
        backend.get(key)
    for bad in ("../escape", "/abs", "a//b", "A/b", "a/../b", ""):
        with pytest.raises(ValueError):
            backend.put(bad, b"x")


def test_s3_backend_contract(s3_client: Any) -> None:
    backend = S3Backend(bucket=BUCKET, prefix="cv/", client=s3_client)
    backend.put("org/one", b"1")
    backend.put("other/two", b"2")
    assert backend.get("org/one") == b"1" and backend.exists("org/one") and not backend.exists("org/none")
    assert list(backend.iter_keys("org/")) == ["org/one"]
    assert s3_client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 2
    backend.delete("org/one")
    assert not backend.exists("org/one")
    with pytest.raises(BlobObjectMissing):
        backend.get("org/one")


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[HEADER_SIZE + NONCE_SIZE + 3] ^= 0x01
    return bytes(out)


def _truncate_last(data: bytes) -> bytes:
    return data[:-5]


def _drop_last_chunk(data: bytes) -> bytes:  # cut exactly at a chunk boundary
    return data[: HEADER_SIZE + 2 * (NONCE_SIZE + 64 + TAG_SIZE)]


def _swap(data: bytes) -> bytes:
    size = NONCE_SIZE + 64 + TAG_SIZE
    body = data[HEADER_SIZE:]
    return data[:HEADER_SIZE] + body[size : 2 * size] + body[:size] + body[2 * size :]


@pytest.mark.parametrize("tamper", [_flip, _truncate_last, _drop_last_chunk, _swap], ids=lambda f: f.__name__)
@pytest.mark.parametrize("fix_digest", [False, True], ids=["digest-check", "aead-check"])
def test_tampering_is_detected(
    runtime: Runtime, world: World, blobs: BlobStore, tamper: Callable[[bytes], bytes], fix_digest: bool
) -> None:
    biller = world.member("alpha", "biller")
    store = BlobStore(backend=blobs.backend, keys=runtime.keys, chunk_size=64)
    blob_id = _store(runtime, store, biller, MARKER * 10)  # 230 bytes: chunks of 64, 64, 64, 38
    key = _row(runtime, biller, blob_id).storage_key
    damaged = tamper(store.backend.get(key))
    store.backend.put(key, damaged)
    if fix_digest:  # an attacker who can also write the database, but holds no key
        _set_digest(runtime, biller, blob_id, damaged)
    with pytest.raises(BlobIntegrityError) as info:
        _read(runtime, store, biller, blob_id)
    assert MARKER.decode() not in str(info.value)


@pytest.mark.parametrize("tamper", [_flip, _truncate_last, _drop_last_chunk, _swap], ids=lambda f: f.__name__)
def test_cipher_refuses_tampered_chunks(runtime: Runtime, world: World, tamper: Callable[[bytes], bytes]) -> None:
    """The cipher alone (without the row's digest and size checks) detects each change."""
    alpha, beta = world.org("alpha"), world.org("beta")
    blob_id, data = uuid.uuid4(), MARKER * 10
    with runtime.db.session(tenant_id=alpha) as s:
        cipher = BlobCipher(keys=runtime.keys, session=s, org_id=alpha)
        sealed = cipher.encrypt(blob_id=blob_id, plaintext=data, chunk_size=64)
        assert cipher.decrypt(blob_id=blob_id, ciphertext=sealed) == data
        with pytest.raises(BlobIntegrityError):
            cipher.decrypt(blob_id=blob_id, ciphertext=tamper(sealed))
        with pytest.raises(BlobIntegrityError):
            cipher.decrypt(blob_id=uuid.uuid4(), ciphertext=sealed)
    with runtime.db.session(tenant_id=beta) as s, pytest.raises(BlobIntegrityError):
        BlobCipher(keys=runtime.keys, session=s, org_id=beta).decrypt(blob_id=blob_id, ciphertext=sealed)


def _set_digest(runtime: Runtime, member: Member, blob_id: uuid.UUID, data: bytes) -> None:
    with runtime.db.session(tenant_id=member.org_id) as s:
        row = s.get(Blob, blob_id)
        assert row is not None
        row.sha256 = hashlib.sha256(data).digest()


@pytest.mark.parametrize("target_org", ["same", "other"])
def test_object_moved_to_another_blob_fails(runtime: Runtime, world: World, blobs: BlobStore, target_org: str) -> None:
    alpha = world.member("alpha", "biller")
    target = alpha if target_org == "same" else world.member("beta", "biller")
    source_id = _store(runtime, blobs, alpha, MARKER)
    target_id = _store(runtime, blobs, target, b"something else entirely")
    moved = blobs.backend.get(_row(runtime, alpha, source_id).storage_key)
    blobs.backend.put(_row(runtime, target, target_id).storage_key, moved)
    with pytest.raises(BlobIntegrityError):
        _read(runtime, blobs, target, target_id)
    _set_digest(runtime, target, target_id, moved)
    with pytest.raises(BlobIntegrityError):
        _read(runtime, blobs, target, target_id)


def test_missing_object_is_a_clear_error(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    blob_id = _store(runtime, blobs, biller, MARKER)
    blobs.backend.delete(_row(runtime, biller, blob_id).storage_key)
    with pytest.raises(BlobObjectMissing):
        _read(runtime, blobs, biller, blob_id)


def test_other_tenant_cannot_read_or_attach(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    alpha, beta = world.member("alpha", "biller"), world.member("beta", "biller")
    patient_id = _patient(runtime, alpha)
    blob_id = _store(runtime, blobs, alpha, MARKER, patient_id=patient_id)
    with pytest.raises(NotFound):
        _read(runtime, blobs, beta, blob_id)
    with pytest.raises(NotFound):  # another organization's patient
        _store(runtime, blobs, beta, b"x", patient_id=patient_id)
    assert _audit(runtime, beta) == []
    assert _read(runtime, blobs, alpha, blob_id) == MARKER


def test_permission_denied_is_audited(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    auditor = world.member("alpha", "auditor")
    blob_id = _store(runtime, blobs, biller, MARKER)
    with pytest.raises(PermissionDenied):
        _read(runtime, blobs, auditor, blob_id, "auditor")
    with (
        pytest.raises(PermissionDenied),
        open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(auditor, "auditor")) as gate,
    ):
        blobs.store(gate=gate, kind="export", content_type="text/csv", data=MARKER, permission=WRITE)
    denied = [e for e in _audit(runtime, auditor) if e.outcome == "denied"]
    assert [(e.actor_id, e.entity_id, e.permission) for e in denied] == [
        (auditor.user_id, blob_id, READ.value),
        (auditor.user_id, None, WRITE.value),
    ]
    assert len(_objects(blobs.backend)) == 1  # the refused write stored nothing


def test_provider_reaches_only_assigned_patients_files(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    desk = world.member("alpha", "biller", "front_desk")
    provider = world.member("alpha", "provider")
    assigned, other = _patient(runtime, desk), _patient(runtime, desk)
    create_care_assignment(
        db=runtime.db, ctx=_ctx(desk, "front_desk"), provider_user_id=provider.user_id, patient_id=assigned
    )
    mine = _store(runtime, blobs, desk, b"assigned", patient_id=assigned)
    theirs = _store(runtime, blobs, desk, MARKER, patient_id=other)
    unattached = _store(runtime, blobs, desk, b"batch")
    assert _read(runtime, blobs, provider, mine, "provider") == b"assigned"
    for blob_id in (theirs, unattached):  # not found, and audited as a denial
        with pytest.raises(NotFound):
            _read(runtime, blobs, provider, blob_id, "provider")
    denied = [e for e in _audit(runtime, provider) if e.actor_id == provider.user_id and e.outcome == "denied"]
    assert [(e.entity_id, e.reason) for e in denied] == [
        (theirs, "no_care_relationship"),
        (unattached, "no_care_relationship"),
    ]


def test_invalid_input_is_refused(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    for kind, content_type in (("photo", "image/png"), ("statement", "pdf"), ("statement", "text/html; x=<y>")):
        with pytest.raises(ValidationFailed), open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(biller)) as gate:
            blobs.store(gate=gate, kind=kind, content_type=content_type, data=b"x", permission=WRITE)
    assert _objects(blobs.backend) == {}


def test_delete_removes_the_object_after_commit(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    kept, gone = _store(runtime, blobs, biller, b"kept"), _store(runtime, blobs, biller, b"gone")
    key = _row(runtime, biller, gone).storage_key

    class Abort(Exception):
        pass

    # a delete that rolls back keeps the file
    with pytest.raises(Abort), open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(biller)) as gate:
        blobs.delete(gate=gate, blob_id=gone, permission=WRITE)
        raise Abort
    assert blobs.backend.exists(key) and _read(runtime, blobs, biller, gone) == b"gone"

    with open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(biller)) as gate:
        blobs.delete(gate=gate, blob_id=gone, permission=WRITE)
    assert not blobs.backend.exists(key)
    assert _row(runtime, biller, gone).deleted_at is not None  # tombstone
    with pytest.raises(NotFound):
        _read(runtime, blobs, biller, gone)
    assert _read(runtime, blobs, biller, kept) == b"kept"


def test_sweep_removes_only_old_orphans(runtime: Runtime, world: World, blobs: BlobStore) -> None:
    biller = world.member("alpha", "biller")
    live = _store(runtime, blobs, biller, b"live")
    old = datetime.now(UTC) - timedelta(days=2)
    old_orphan, fresh_orphan = new_storage_key(biller.org_id, now=old), new_storage_key(biller.org_id)
    other_org_orphan = new_storage_key(uuid.uuid4(), now=old)
    for key in (old_orphan, fresh_orphan, other_org_orphan):
        blobs.backend.put(key, b"ciphertext")

    class Crash(Exception):
        pass

    # object written, row rolled back: an orphan, never a row without its object
    with pytest.raises(Crash), open_gate(db=runtime.db, keys=runtime.keys, ctx=_ctx(biller)) as gate:
        blobs.store(gate=gate, kind="attachment", content_type="image/png", data=b"x", permission=WRITE)
        raise Crash
    assert len(_objects(blobs.backend)) == 5

    later = datetime.now(UTC) + timedelta(minutes=1)
    removed = sweep_orphans(db=runtime.db, backend=blobs.backend, organization_id=biller.org_id, now=later)
    assert old_orphan in removed and len(removed) == 1
    removed = sweep_orphans(
        db=runtime.db, backend=blobs.backend, organization_id=biller.org_id, now=later + timedelta(hours=2)
    )
    assert len(removed) == 2 and fresh_orphan in removed  # the fresh one and the rolled-back store
    assert set(_objects(blobs.backend)) == {_row(runtime, biller, live).storage_key, other_org_orphan}
    assert _read(runtime, blobs, biller, live) == b"live"


def test_backend_from_settings(tmp_path: Path, s3_client: Any, runtime: Runtime) -> None:
    local = build_blob_backend(Settings(var_dir=tmp_path / "var"))
    assert isinstance(local, LocalDirBackend) and local.root == tmp_path / "var" / "blobs"
    chosen = build_blob_backend(Settings(var_dir=tmp_path, blob_dir=tmp_path / "elsewhere"))
    assert isinstance(chosen, LocalDirBackend) and chosen.root == tmp_path / "elsewhere"
    s3 = build_blob_store(Settings(blob_backend="s3", s3_bucket=BUCKET, s3_prefix="p/"), keys=runtime.keys).backend
    assert isinstance(s3, S3Backend)
    s3.put("a/b", b"1")
    assert s3_client.get_object(Bucket=BUCKET, Key="p/a/b")["Body"].read() == b"1"
    with pytest.raises(ConfigurationError):
        build_blob_backend(Settings(blob_backend="s3", s3_bucket=""))
