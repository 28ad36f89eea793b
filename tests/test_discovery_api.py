"""Discovery inside ClaimVault: the organization's MRN profile, the upload scan (nothing kept, previews only, one
audit event without the file name or any value), the incremental blob-store scan and its compliance view, and
tenant isolation of all of it. Synthetic values only, generated from a seeded generator."""

from __future__ import annotations

import io
import random
import uuid
import zipfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from claimvault.config import Settings
from claimvault.discovery.blob_scan import ENGINE_VERSION, BlobScanReport, scan_blob_store
from claimvault.discovery.models import DiscoveryBlobResult, DiscoveryProfile, DiscoveryScanRun
from claimvault.errors import PermissionDenied
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.crypto.blobs import store_blob
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from claimvault.storage.blobs.models import Blob
from tests.conftest import CHEAP_ARGON2, World
from tests.test_audit_coverage import _last_position, _new_events

MB = 1024 * 1024
SCAN = "/api/v1/orgs/{org}/discovery/scan"
PROFILE = "/api/v1/orgs/{org}/discovery/profile"
SCANS = "/api/v1/orgs/{org}/discovery/scans"
FILE_NAME = "Marchbanks-Philippa-claims.csv"  # a name that is itself PHI: never audited or stored


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """As conftest's, with the default 1 MiB server body limit: the scan route's own 25 MB limit must apply."""
    return Settings(var_dir=tmp_path / "var", **CHEAP_ARGON2)  # type: ignore[arg-type]


# Synthetic values -------------------------------------------------------------------------------------------------
def _luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a not in (666, 219, 78)])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _npi(rng: random.Random) -> str:
    base = str(rng.choice((1, 2))) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    return base + _luhn_digit("80840" + base)


def _card(rng: random.Random) -> str:
    base = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
    return base + _luhn_digit(base)


def synthetic_csv(seed: int, rows: int = 3) -> tuple[bytes, list[str]]:
    """A CSV with SSNs, card numbers, NPIs and MRNs (MRN-9999999) under telling headers, and its raw values."""
    rng = random.Random(seed)
    lines, values = ["patient_ssn,card_number,rendering_npi,mrn"], []
    for _ in range(rows):
        row = [_ssn(rng), _card(rng), _npi(rng), f"MRN-{rng.randint(1_000_000, 9_999_999)}"]
        values += row
        lines.append(",".join(row))
    return ("\n".join(lines) + "\n").encode(), values


# Helpers ----------------------------------------------------------------------------------------------------------
def _upload(client: Any, org: str, data: bytes, name: str = FILE_NAME) -> Any:
    return client.post(SCAN.format(org=org), files={"file": (name, data, "text/csv")})


def _set_profile(world: World, org: str, formats: list[str]) -> None:
    admin = world.client(world.member(org, "org_admin"))
    r = admin.put(PROFILE.format(org=org), json={"mrn_formats": formats})
    assert r.status_code == 200, r.text


def _system_gate(runtime: Runtime, org_id: uuid.UUID, *permissions: Permission) -> Any:
    ctx = system_context("test setup", organization_id=org_id, permissions=set(permissions))
    return open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx)


def _store(runtime: Runtime, org_id: uuid.UUID, data: bytes, content_type: str) -> uuid.UUID:
    with _system_gate(runtime, org_id, Permission.STATEMENT_RUN) as gate:
        ref = store_blob(
            blobs=runtime.blobs,
            gate=gate,
            kind="attachment",
            content_type=content_type,
            data=data,
            permission=Permission.STATEMENT_RUN,
        )
    return ref.id


def _scan_store(runtime: Runtime, org_id: uuid.UUID, *, full: bool = False) -> BlobScanReport:
    ctx = system_context("scan-blobs", organization_id=org_id, permissions={Permission.DISCOVERY_SCAN_STORE})

    def gates() -> AbstractContextManager[PHIGate]:
        return open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx)

    return scan_blob_store(gates=gates, blobs=runtime.blobs, full=full)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# Upload scans -----------------------------------------------------------------------------------------------------
def test_upload_scan_finds_planted_values_returns_previews_only_and_audits_counts(world: World) -> None:
    _set_profile(world, "alpha", ["MRN-9999999"])
    biller = world.member("alpha", "biller")
    client = world.client(biller)
    data, values = synthetic_csv(seed=11)
    before = _last_position(world)

    r = _upload(client, "alpha", data)

    assert r.status_code == 200, r.text
    body = r.json()
    (file,) = body["files"]
    assert file["path"] == FILE_NAME and file["status"] == "scanned"
    found = {f["type"] for f in file["findings"]}
    assert {"US_SSN", "CREDIT_CARD", "US_NPI", "MRN"} <= found  # MRN: the organization's own template
    assert body["level"] == "restricted" and body["score"] == file["score"]
    assert all(body["counts"][t] >= 3 for t in ("US_SSN", "CREDIT_CARD", "US_NPI", "MRN"))
    for value in values:
        assert value not in r.text, "a full value left the scanner"
        assert value.replace("-", "") not in r.text
    for finding in file["findings"]:
        assert "*" in finding["preview"]
    (event,) = _new_events(world, before)
    assert (event.action, event.entity_type, event.permission) == ("scan", "discovery_upload", "discovery:scan")
    assert event.actor_id == biller.user_id and event.outcome == "success" and event.patient_ids == []
    assert event.detail["counts"] == body["counts"] and event.detail["level"] == "restricted"
    assert event.detail["score"] == body["score"] and event.detail["files"] == 1
    assert event.detail["bytes"] == len(data)
    for text in (event.body, str(event.detail)):
        assert "Marchbanks" not in text and FILE_NAME not in text
        for value in values:
            assert value not in text
            assert value[-4:] + '"' not in text  # not even a preview
    with world.runtime.db.session(tenant_id=biller.org_id) as s:  # nothing kept
        assert s.scalar(select(func.count()).select_from(Blob)) == 0
        assert s.scalar(select(func.count()).select_from(DiscoveryBlobResult)) == 0


def test_upload_scan_without_a_profile_finds_no_mrn_and_a_zip_is_reported_per_member(world: World) -> None:
    client = world.client(world.member("alpha", "compliance_officer"))
    data, values = synthetic_csv(seed=12, rows=2)
    archive = _zip({"export/one.csv": data, "notes.txt": b"nothing to see here\n", "bad.bin": b"\x00\x01\x02"})

    r = _upload(client, "alpha", archive, name="batch.zip")

    assert r.status_code == 200, r.text
    files = {f["path"]: f for f in r.json()["files"]}
    assert set(files) == {"batch.zip!export/one.csv", "batch.zip!notes.txt", "batch.zip!bad.bin"}
    assert files["batch.zip!bad.bin"]["status"] == "unreadable" and files["batch.zip!bad.bin"]["reason"]
    csv_types = {f["type"] for f in files["batch.zip!export/one.csv"]["findings"]}
    assert "US_SSN" in csv_types and "MRN" not in csv_types  # no template configured, no MRN
    assert files["batch.zip!notes.txt"]["findings"] == []
    assert not any(value in r.text for value in values)


def test_upload_over_the_limit_is_refused_with_413(world: World) -> None:
    client = world.client(world.member("alpha", "billing_manager"))
    before = _last_position(world)
    r = _upload(client, "alpha", b"a" * (25 * MB + 1))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "file_too_large"
    assert "25 MB" in r.json()["error"]["message"]
    assert _new_events(world, before) == []  # nothing scanned, nothing audited


def test_upload_above_the_server_body_limit_but_within_the_scan_limit_is_scanned(world: World) -> None:
    client = world.client(world.member("alpha", "billing_manager"))
    assert world.runtime.settings.max_body_bytes < 2 * MB
    r = _upload(client, "alpha", b"plain text without identifiers\n" * (2 * MB // 31))
    assert r.status_code == 200, r.text
    # Other routes keep the server limit.
    big = client.post("/api/v1/orgs/alpha/patients/search", content=b"{" + b" " * (2 * MB) + b"}")
    assert big.status_code == 413


def test_upload_must_be_one_multipart_file(world: World) -> None:
    client = world.client(world.member("alpha", "security_admin"))
    url = SCAN.format(org="alpha")
    assert client.post(url, content=b"ssn 123", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post(url, data={"note": "no file"}, files={"other": ("x.txt", b"x")}).status_code == 422
    two = [("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
    r = client.post(url, files=two)
    assert r.status_code == 422 and r.json()["error"]["message"] == "Send one file per scan."


def test_roles_without_the_permission_cannot_scan(world: World) -> None:
    for role in ("coder", "front_desk", "auditor", "org_admin"):
        r = _upload(world.client(world.member("alpha", role)), "alpha", b"hello\n")
        assert r.status_code == 403, role


# The profile ------------------------------------------------------------------------------------------------------
def test_profile_put_get_validation_and_audit(world: World) -> None:
    admin = world.member("alpha", "security_admin")
    client = world.client(admin)
    url = PROFILE.format(org="alpha")
    assert client.get(url).json()["mrn_formats"] == []
    before = _last_position(world)

    r = client.put(url, json={"mrn_formats": ["MRN-9999999", "AA999999", "MRN-9999999"]})

    assert r.status_code == 200, r.text
    assert r.json()["mrn_formats"] == ["MRN-9999999", "AA999999"]  # duplicates dropped, order kept
    assert r.json()["updated_by"] == f"user:{admin.user_id}"
    assert client.get(url).json()["mrn_formats"] == ["MRN-9999999", "AA999999"]
    (event,) = _new_events(world, before)
    assert (event.action, event.entity_type, event.fields) == ("update", "discovery_profiles", ["mrn_formats"])
    for bad in (["MRN 9999"], ["AAAA"], ["9" * 41], ["MRN-\x079"]):
        refused = client.put(url, json={"mrn_formats": bad})
        assert refused.status_code == 422, bad
        error = refused.json()["error"]
        assert error["code"] == "invalid_mrn_format" and bad[0] not in error["message"]
    assert client.get(url).json()["mrn_formats"] == ["MRN-9999999", "AA999999"]  # unchanged by the refusals
    assert world.client(world.member("alpha", "biller")).get(url).status_code == 403


# Blob-store scans -------------------------------------------------------------------------------------------------
def test_blob_scan_keeps_counts_only_and_is_incremental(world: World) -> None:
    rt = world.runtime
    org_id = world.org("alpha")
    data, values = synthetic_csv(seed=21)
    csv_id = _store(rt, org_id, data, "text/csv")
    zip_id = _store(rt, org_id, _zip({"a.csv": data, "b.txt": b"plain words\n"}), "application/zip")
    clean_id = _store(rt, org_id, b"nothing sensitive in here\n", "text/plain")
    binary_id = _store(rt, org_id, b"\x00\x01binary", "application/octet-stream")

    first = _scan_store(rt, org_id)

    assert (first.total, first.scanned, first.skipped, first.unreadable, first.failed) == (4, 3, 0, 1, 0)
    with rt.db.session(tenant_id=org_id) as s:
        rows = {r.blob_id: r for r in s.scalars(select(DiscoveryBlobResult))}
        run = s.get(DiscoveryScanRun, first.run_id)
        assert run is not None and run.status == "completed" and run.finished_at is not None
        assert (run.blobs_total, run.blobs_scanned, run.blobs_unreadable) == (4, 3, 1)
        assert run.level_counts["restricted"] == 2
        stored = " ".join(str({c.name: getattr(r, c.name) for c in r.__table__.columns}) for r in rows.values())
    assert set(rows) == {csv_id, zip_id, clean_id, binary_id}
    assert rows[csv_id].level == "restricted" and rows[csv_id].type_counts["US_SSN"] == 3
    assert "MRN" not in rows[csv_id].type_counts  # no profile yet
    assert rows[zip_id].members == 2 and rows[zip_id].type_counts["CREDIT_CARD"] == 3
    assert rows[clean_id].type_counts == {} and rows[clean_id].status == "scanned"
    assert rows[binary_id].status == "unreadable" and rows[binary_id].reason
    assert all(r.engine_version == ENGINE_VERSION for r in rows.values())
    for value in values:
        assert value not in stored and value[-4:] not in stored

    again = _scan_store(rt, org_id)
    assert (again.scanned, again.unreadable, again.skipped) == (0, 0, 4)  # nothing new: nothing decrypted
    new_id = _store(rt, org_id, data, "text/csv")
    third = _scan_store(rt, org_id)
    assert (third.scanned, third.skipped) == (1, 4)
    with rt.db.session(tenant_id=org_id) as s:
        assert [new_id] == list(
            s.scalars(select(DiscoveryBlobResult.blob_id).where(DiscoveryBlobResult.run_id == third.run_id))
        )
    _set_profile(world, "alpha", ["MRN-9999999"])  # a new profile: every blob is scanned again
    fourth = _scan_store(rt, org_id)
    assert (fourth.scanned + fourth.unreadable, fourth.skipped) == (5, 0)
    full = _scan_store(rt, org_id, full=True)
    assert (full.scanned + full.unreadable, full.skipped) == (5, 0)
    with rt.db.session(tenant_id=org_id) as s:
        latest = s.scalar(
            select(DiscoveryBlobResult).where(
                DiscoveryBlobResult.run_id == full.run_id, DiscoveryBlobResult.blob_id == csv_id
            )
        )
        assert latest is not None and latest.type_counts["MRN"] == 3


def test_blob_scan_decryptions_are_audited_as_the_system(world: World) -> None:
    rt = world.runtime
    org_id = world.org("alpha")
    blob_id = _store(rt, org_id, synthetic_csv(seed=31)[0], "text/csv")
    before = _last_position(world)
    report = _scan_store(rt, org_id)
    events = _new_events(world, before)
    assert sorted((e.action, e.entity_type) for e in events) == [
        ("create", "discovery_scan_runs"),
        ("read", "blobs"),
        ("update", "discovery_scan_runs"),
    ]
    read = next(e for e in events if e.entity_type == "blobs")
    assert read.entity_id == blob_id and read.permission == "discovery:scan_store" and read.actor_type == "system"
    assert all(e.actor_type == "system" and (e.actor_name or "").startswith("scan-blobs") for e in events)
    assert report.scanned == 1


def test_blob_scan_needs_its_system_permission(world: World) -> None:
    rt = world.runtime
    org_id = world.org("alpha")
    ctx = system_context("scan-blobs", organization_id=org_id, permissions={Permission.STATEMENT_RUN})
    with pytest.raises(PermissionDenied):
        scan_blob_store(gates=lambda: open_gate(db=rt.db, keys=rt.keys, ctx=ctx), blobs=rt.blobs)


def test_compliance_view_lists_runs_and_results_without_values(world: World) -> None:
    rt = world.runtime
    org_id = world.org("alpha")
    data, values = synthetic_csv(seed=41)
    blob_id = _store(rt, org_id, data, "text/csv")
    older = _scan_store(rt, org_id)
    newer = _scan_store(rt, org_id, full=True)
    officer = world.member("alpha", "compliance_officer")
    client = world.client(officer)
    before = _last_position(world)

    runs = client.get(SCANS.format(org="alpha"))
    detail = client.get(SCANS.format(org="alpha") + f"/{older.run_id}")

    assert runs.status_code == 200 and [r["id"] for r in runs.json()] == [str(newer.run_id), str(older.run_id)]
    assert runs.json()[0]["mode"] == "full" and runs.json()[1]["mode"] == "incremental"
    assert detail.status_code == 200
    (result,) = detail.json()["results"]
    assert result["blob_id"] == str(blob_id) and result["level"] == "restricted"
    assert result["kind"] == "attachment" and result["counts"]["US_SSN"] == 3
    for value in values:
        assert value not in runs.text and value not in detail.text
    events = _new_events(world, before)
    assert sorted((e.action, e.entity_type) for e in events) == [
        ("list", "discovery_scan_runs"),
        ("read", "discovery_scan_runs"),
    ]
    assert all(e.permission == "discovery:read" and e.actor_id == officer.user_id for e in events)
    auditor = world.client(world.member("alpha", "auditor"))
    assert auditor.get(SCANS.format(org="alpha")).status_code == 200
    assert world.client(world.member("alpha", "biller")).get(SCANS.format(org="alpha")).status_code == 403
    missing = client.get(SCANS.format(org="alpha") + f"/{uuid.uuid4()}")
    assert missing.status_code == 404


# Tenant isolation -------------------------------------------------------------------------------------------------
def test_no_discovery_data_crosses_tenants(world: World) -> None:
    rt = world.runtime
    alpha, bravo = world.org("alpha"), world.org("bravo")
    _set_profile(world, "alpha", ["MRN-9999999"])
    data, values = synthetic_csv(seed=51)
    alpha_blob = _store(rt, alpha, data, "text/csv")
    alpha_run = _scan_store(rt, alpha)
    intruder = world.client(
        world.member("bravo", "compliance_officer", "security_admin", "org_admin", "auditor", "biller")
    )

    assert intruder.get(SCANS.format(org="alpha")).status_code == 404
    assert intruder.get(SCANS.format(org="alpha") + f"/{alpha_run.run_id}").status_code == 404
    assert intruder.get(SCANS.format(org="bravo") + f"/{alpha_run.run_id}").status_code == 404  # A's run via B
    assert intruder.get(SCANS.format(org="bravo")).json() == []
    assert intruder.get(PROFILE.format(org="alpha")).status_code == 404
    assert intruder.put(PROFILE.format(org="alpha"), json={"mrn_formats": ["Z9"]}).status_code == 404
    assert intruder.get(PROFILE.format(org="bravo")).json()["mrn_formats"] == []  # A's profile is A's
    assert _upload(intruder, "alpha", data).status_code == 404
    bravo_scan = _upload(intruder, "bravo", data)  # B's own scan uses B's (empty) profile
    assert bravo_scan.status_code == 200 and "MRN" not in bravo_scan.json()["counts"]
    bravo_run = _scan_store(rt, bravo)  # B's store scan never reaches A's blobs
    assert (bravo_run.total, bravo_run.scanned) == (0, 0)
    with rt.db.session(tenant_id=bravo) as s:
        assert s.scalar(select(func.count()).select_from(DiscoveryBlobResult)) == 0
        assert s.scalar(select(func.count()).select_from(DiscoveryProfile)) == 0
    with rt.db.session(tenant_id=alpha) as s:
        profile = s.scalar(select(DiscoveryProfile))
        assert profile is not None and profile.mrn_formats == ["MRN-9999999"]
        assert list(s.scalars(select(DiscoveryBlobResult.blob_id))) == [alpha_blob]
    assert not any(v in bravo_scan.text for v in values)


def test_audit_events_of_discovery_name_no_value(world: World) -> None:
    """Across a profile change, an upload and a store scan, no audit body holds a planted value."""
    _set_profile(world, "alpha", ["MRN-9999999"])
    data, values = synthetic_csv(seed=61)
    before = _last_position(world)
    assert _upload(world.client(world.member("alpha", "biller")), "alpha", data).status_code == 200
    _store(world.runtime, world.org("alpha"), data, "text/csv")
    _scan_store(world.runtime, world.org("alpha"))
    events: list[AuditEvent] = _new_events(world, before)
    assert len(events) >= 4
    for event in events:
        for value in values:
            assert value not in event.body


def test_cli_scan_blobs_prints_counts_only_and_is_incremental(tmp_path: Path) -> None:
    from claimvault.runtime import build_runtime
    from tests.test_cli import _everything, _ok, _settings

    var = tmp_path / "var"
    _ok(var, "init")
    _ok(var, "orgs", "create", "--slug", "riverside", "--name", "Riverside Family Practice")
    data, values = synthetic_csv(seed=71)
    rt = build_runtime(_settings(var))
    try:
        from claimvault.accounts.services import get_organization_by_slug

        org_id = get_organization_by_slug(db=rt.db, slug="riverside").id
        _store(rt, org_id, data, "text/csv")
    finally:
        rt.close()

    first = _ok(var, "scan-blobs", "--org", "riverside")
    again = _ok(var, "scan-blobs", "--org", "riverside")
    full = _ok(var, "scan-blobs", "--org", "riverside", "--all")

    said = [" ".join(r.output.split()) for r in (first, again, full)]
    assert "1 stored file(s); 1 scanned, 0 already scanned (skipped)" in said[0] and "restricted 1" in said[0]
    assert "1 stored file(s); 0 scanned, 1 already scanned (skipped)" in said[1]
    assert "1 stored file(s); 1 scanned, 0 already scanned (skipped)" in said[2]
    for result in (first, again, full):
        for value in values:
            assert value not in _everything(result)
