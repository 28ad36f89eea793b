"""Plaintext-leak acceptance test: every sensitive value entered through the API is absent from every artefact.

One scenario per backend seeds patients whose every sensitive field holds a unique marker, then exercises the API:
create, update, read, list, search (family name + birth date, SSN, and phone) with contact data (phone, email,
address), coverages (member id, group number, subscriber name and birth date: create, update, read, list, member-id
search), the CSV patient export, MFA enrolment (the TOTP secret and
recovery codes are markers too), a password login (the password is a marker), payment methods (the card number,
which is never stored, and the bank account number, stored encrypted), break-the-glass (the justification is a
marker) and its review queue, and a file in the blob store (a statement holding a patient's values); then it
writes a backup archive. Each artefact is then scanned byte for byte, in a check of its own:

- SQLite: the database file, its WAL (and any journal) as raw bytes;
- PostgreSQL: a plain-format ``pg_dump`` of the whole database, taken as its owner;
- the backup archive (sealed), and everything inside it once unsealed (the database snapshot, the blobs);
- the blob directory: every object, and the object names;
- the log output (JSON application log and access log) of the whole scenario, backup included.

Each marker is looked for in several encodings (UTF-8 and UTF-16, upper and lower case; dates as ISO,
MM/DD/YYYY and YYYYMMDD; SSNs with and without dashes, phones as E.164, ten digits and the usual US punctuation;
card numbers with and without separators; the TOTP secret
as base32 and as its raw bytes; and the hex form that pg_dump uses for binary columns). Every
scan has a positive control (the organization slug, which is not secret, must be found in the same bytes) and
the scenario checks that the API really returned the markers, so a scan over the wrong data cannot pass.
"""

from __future__ import annotations

import base64
import io
import random
import secrets
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from claimvault.accounts.services import add_membership, create_user
from claimvault.config import Settings
from claimvault.observability.logging import configure_logging
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.context import system_context
from claimvault.security.crypto.archive import ArchiveCipher
from claimvault.security.crypto.blobs import build_blob_store, read_blob, store_blob
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.data_policy import load_data_policy
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from claimvault.storage import backup as backups
from claimvault.web.app import EXTRA_PROTECTED_NAMES, create_app
from tests.conftest import CHEAP_ARGON2, Member, World
from tests.harness import PostgresBackend, SQLiteBackend

PG_DUMP = "/usr/bin/pg_dump"
PG_RESTORE = "/usr/bin/pg_restore"
N_PATIENTS = 3


def new_marker(label: str) -> str:
    """A value that cannot occur by chance: a fixed prefix, the field's label and 96 random bits."""
    return f"Zqxmarker{label}{secrets.token_hex(12)}"


def new_ssn(rng: random.Random, taken: set[str]) -> str:
    """A valid-looking, never-issued-rule-abiding SSN unique to this run (digits only)."""
    while True:
        digits = f"{rng.randint(100, 665):03d}{rng.randint(10, 99):02d}{rng.randint(1000, 9999):04d}"
        if digits not in taken:
            taken.add(digits)
            return digits


def new_card_number(rng: random.Random) -> str:
    """A Luhn-valid 16-digit Visa-shaped number unique to this run."""
    body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def new_phone(rng: random.Random, taken: set[str]) -> str:
    """A valid NANP number (E.164) unique to this run."""
    while True:
        value = f"+1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if value not in taken:
            taken.add(value)
            return value


def new_zip4(rng: random.Random) -> str:
    """ZIP+4 (the dashed form is what is stored and shown; ten characters do not occur by chance)."""
    return f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}"


def new_birth_date(rng: random.Random, taken: set[date]) -> date:
    while True:
        value = date(1901, 1, 1) + timedelta(days=rng.randint(0, 365 * 85))
        if value not in taken:
            taken.add(value)
            return value


def forms(kind: str, value: Any) -> set[bytes]:
    """The byte strings under which ``value`` could appear if it were stored or logged in plaintext, lower-cased
    (the scan lower-cases the artefact too, so every mix of upper and lower case is caught), plus the hex of the
    UTF-8 (and raw) forms. The UTF-16 form drops its last byte (the high byte of the last character), which
    makes it a substring of both the little-endian and the big-endian encoding."""
    if kind == "date":
        texts = {value.isoformat(), value.strftime("%m/%d/%Y"), value.strftime("%Y%m%d")}
    elif kind == "ssn":
        texts = {value, f"{value[:3]}-{value[3:5]}-{value[5:]}"}
    elif kind == "phone":
        area, exchange, line = value[2:5], value[5:8], value[8:]
        texts = {
            value,
            value[2:],
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
        }
    elif kind == "pan":
        groups = [value[i : i + 4] for i in range(0, len(value), 4)]
        texts = {value, " ".join(groups), "-".join(groups)}
    else:
        texts = {value}
    raw = {base64.b32decode(value + "=" * (-len(value) % 8))} if kind == "totp" else set()
    for text in texts:
        raw |= {text.encode("utf-8"), text.encode("utf-16-le")[:-1]}
    # Hex, as pg_dump writes a bytea column: plaintext stored in a binary column shows only this way there.
    return {form.lower() for form in raw} | {form.hex().encode() for form in raw if b"\0" not in form}


@dataclass
class Markers:
    """Every secret value the scenario entered, by a label naming its field."""

    values: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def add(self, label: str, kind: str, value: Any) -> Any:
        assert label not in self.values
        self.values[label] = (kind, value)
        return value

    def patterns(self) -> list[tuple[str, bytes]]:
        return [(label, form) for label, (kind, value) in self.values.items() for form in forms(kind, value)]


def find_leaks(markers: Markers, blobs: dict[str, bytes]) -> list[str]:
    """``marker label @ artefact`` for every marker form found (case-insensitively) in the named byte strings."""
    patterns = markers.patterns()
    found: list[str] = []
    for where, data in blobs.items():
        lowered = data.lower()
        found += [f"{label} ({form[:40]!r}) @ {where}" for label, form in patterns if form in lowered]
    return found


@dataclass
class Scenario:
    backend: SQLiteBackend | PostgresBackend
    runtime: Runtime
    workdir: Path
    slug: str
    markers: Markers
    log: str
    responses: list[str]
    org_id: uuid.UUID
    archive: Path


@contextmanager
def _runtime(backend: SQLiteBackend | PostgresBackend, workdir: Path) -> Iterator[Runtime]:
    """A runtime over a committed database whose settings name it (the backup reads the database from them)."""
    if isinstance(backend, PostgresBackend):
        urls = {"database_url": backend.app_url, "migration_database_url": backend.owner_url}
    else:
        urls = {"database_url": f"sqlite:///{workdir / 'claimvault.db'}"}
    settings = Settings(var_dir=workdir / "var", **urls, **CHEAP_ARGON2)  # type: ignore[arg-type]
    with backend.database(workdir, committed=True) as db:
        keyring = LocalKeyring.create(settings.resolved_keyring_path)
        yield build_runtime(settings, db=db, key_provider=keyring)


@pytest.fixture(scope="module")
def scenario(backend: SQLiteBackend | PostgresBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    workdir = tmp_path_factory.mktemp("leak")
    with _runtime(backend, workdir) as runtime:
        app = create_app(settings=runtime.settings, runtime=runtime)
        log = io.StringIO()
        configure_logging(
            level="DEBUG",
            protected_field_names=load_data_policy().protected_field_names() | EXTRA_PROTECTED_NAMES,
            stream=log,
        )
        world = World(runtime, app)
        archive = workdir / "claimvault-backup.cvb"
        try:
            markers, responses, slug = _exercise(world, runtime)
            backups.create_backup(settings=runtime.settings, cipher=ArchiveCipher(runtime.keys.provider), path=archive)
        finally:
            configure_logging()
        org_id = world.org(slug)
        yield Scenario(backend, runtime, workdir, slug, markers, log.getvalue(), responses, org_id, archive)


def _exercise(world: World, runtime: Runtime) -> tuple[Markers, list[str], str]:
    """Drive the API with marker values; return the markers, the response bodies and the organization slug."""
    rng = random.Random(secrets.randbits(64))
    markers = Markers()
    ssns: set[str] = set()
    dobs: set[date] = set()
    phones: set[str] = set()
    responses: list[str] = []
    slug = f"leak-{secrets.token_hex(6)}"
    base = f"/api/v1/orgs/{slug}"

    def ok(r: Any, status: int = 200) -> Any:
        assert r.status_code == status, r.text
        responses.append(r.text)
        return r.json()

    # A user whose password is a marker logs in through the API.
    world.org(slug)
    password = markers.add("password", "text", new_marker("password") + " harbor lantern")
    user = create_user(
        db=runtime.db, passwords=runtime.passwords, username=f"leak{secrets.token_hex(4)}", password=password
    )
    add_membership(db=runtime.db, user_id=user.id, organization_id=world.org(slug), role="biller")  # sees the full SSN
    desk = world.client(Member(user.username, password, user.id, slug, world.org(slug)))

    # Patients: create, read, update every field to a second marker, read, search both ways, list.
    patient_ids: list[str] = []
    for i in range(N_PATIENTS):
        body = {
            "given_name": markers.add(f"given{i}", "text", new_marker(f"given{i}")),
            "family_name": markers.add(f"family{i}", "text", new_marker(f"family{i}")),
            "birth_date": markers.add(f"dob{i}", "date", new_birth_date(rng, dobs)).isoformat(),
            "ssn": markers.add(f"ssn{i}", "ssn", new_ssn(rng, ssns)),
            "phone": markers.add(f"phone{i}", "phone", new_phone(rng, phones)),
            "email": markers.add(f"email{i}", "text", new_marker(f"email{i}") + "@example.com"),
            "address_line1": markers.add(f"street{i}", "text", new_marker(f"street{i}") + " Harbor Way"),
            "address_line2": markers.add(f"unit{i}", "text", new_marker(f"unit{i}")),
            "city": markers.add(f"city{i}", "text", new_marker(f"city{i}")),
            "state": "IL",
            "postal_code": markers.add(f"zip{i}", "text", new_zip4(rng)),
        }
        created = ok(desk.post(f"{base}/patients", json=body), 201)
        patient_ids.append(created["id"])
        ok(desk.get(f"{base}/patients/{created['id']}"))
    for i, pid in enumerate(patient_ids):
        changes = {
            "given_name": markers.add(f"given{i}b", "text", new_marker(f"given{i}b")),
            "family_name": markers.add(f"family{i}b", "text", new_marker(f"family{i}b")),
            "birth_date": markers.add(f"dob{i}b", "date", new_birth_date(rng, dobs)).isoformat(),
            "ssn": markers.add(f"ssn{i}b", "ssn", new_ssn(rng, ssns)),
            "phone": markers.add(f"phone{i}b", "phone", new_phone(rng, phones)),
            "email": markers.add(f"email{i}b", "text", new_marker(f"email{i}b") + "@example.com"),
            "address_line1": markers.add(f"street{i}b", "text", new_marker(f"street{i}b")),
        }
        ok(desk.patch(f"{base}/patients/{pid}", json=changes))
        found = ok(desk.post(f"{base}/patients/search", json={k: changes[k] for k in ("family_name", "birth_date")}))
        assert [p["id"] for p in found] == [pid]
        ssn = changes["ssn"]
        found = ok(desk.post(f"{base}/patients/search", json={"ssn": f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"}))
        assert [p["id"] for p in found] == [pid]
        phone = changes["phone"]
        found = ok(desk.post(f"{base}/patients/search", json={"phone": f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"}))
        assert [p["id"] for p in found] == [pid]
        # A search for the old values (no longer current) still sends them over the wire.
        ok(desk.post(f"{base}/patients/search", json={"ssn": markers.values[f"ssn{i}"][1]}))
        assert ok(desk.post(f"{base}/patients/search", json={"phone": markers.values[f"phone{i}"][1]})) == []
    # Coverages: member id, group number and a subscriber (spouse) as markers; update, read, list, search.
    for i, pid in enumerate(patient_ids):
        body = {
            "rank": "primary",
            "payer_name": "Example Care Plan",
            "member_id": markers.add(f"member{i}", "text", new_marker(f"member{i}").upper()),
            "group_number": markers.add(f"group{i}", "text", new_marker(f"group{i}").upper()),
            "subscriber_relationship": "spouse",
            "subscriber_given_name": markers.add(f"sub_given{i}", "text", new_marker(f"subgiven{i}")),
            "subscriber_family_name": markers.add(f"sub_family{i}", "text", new_marker(f"subfamily{i}")),
            "subscriber_birth_date": markers.add(f"sub_dob{i}", "date", new_birth_date(rng, dobs)).isoformat(),
            "effective_from": "2024-01-01",
        }
        coverage = ok(desk.post(f"{base}/patients/{pid}/coverages", json=body), 201)
        changes = {
            "member_id": markers.add(f"member{i}b", "text", new_marker(f"member{i}b").upper()),
            "group_number": markers.add(f"group{i}b", "text", new_marker(f"group{i}b").upper()),
            "subscriber_given_name": markers.add(f"sub_given{i}b", "text", new_marker(f"subgiven{i}b")),
        }
        ok(desk.patch(f"{base}/coverages/{coverage['id']}", json=changes))
        ok(desk.get(f"{base}/coverages/{coverage['id']}"))
        assert [c["id"] for c in ok(desk.get(f"{base}/patients/{pid}/coverages"))] == [coverage["id"]]
        member_id = changes["member_id"]
        spaced = f"{member_id[:6]}-{member_id[6:12]} {member_id[12:]}".lower()
        assert [c["id"] for c in ok(desk.post(f"{base}/coverages/search", json={"member_id": spaced}))] == [
            coverage["id"]
        ]
        assert ok(desk.post(f"{base}/coverages/search", json={"member_id": body["member_id"]})) == []
    # The CSV export (the login just re-authenticated the session): every current value, in a download.
    export = desk.get(f"{base}/patients/export", params={"format": "csv"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv"), export.text
    assert len(export.text.splitlines()) == N_PATIENTS + 1
    responses.append(export.text)
    listed = ok(desk.get(f"{base}/patients", params={"limit": 50}))
    assert {p["id"] for p in listed["items"]} == set(patient_ids)
    # Payment methods of the first patient: a card (tokenized, never stored) and a bank account (encrypted).
    card = markers.add("card_number", "pan", new_card_number(rng))
    spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    body = {"number": spaced, "exp_month": 7, "exp_year": 2031, "cvc": "737"}
    ok(desk.post(f"{base}/patients/{patient_ids[0]}/payment-methods/card", json=body), 201)
    account = markers.add("bank_account", "text", str(rng.randint(10**14, 10**15 - 1)))
    body = {"routing_number": "011000015", "account_number": account, "account_type": "checking"}
    ok(desk.post(f"{base}/patients/{patient_ids[0]}/payment-methods/bank-account", json=body), 201)
    methods = ok(desk.get(f"{base}/patients/{patient_ids[0]}/payment-methods"))
    assert sorted(m["last4"] for m in methods) == sorted([card[-4:], account[-4:]])

    # A disclosure outside TPO with marker recipient, address, description and purpose; then the patient's
    # accounting as JSON and as PDF (streamed to the compliance officer, never stored).
    disclosure = {
        "disclosed_on": "2024-03-04",
        "recipient_name": markers.add("recipient", "text", new_marker("recipient")),
        "recipient_address": markers.add("recipient_address", "text", new_marker("recipientaddr")),
        "description": markers.add("disclosure_description", "text", new_marker("description")),
        "purpose": markers.add("disclosure_purpose", "text", new_marker("purpose")),
        "purpose_code": "public_health",
    }
    ok(desk.post(f"{base}/patients/{patient_ids[0]}/disclosures", json=disclosure), 201)
    officer_password = new_marker("officerpw") + " harbor lantern"
    officer = create_user(
        db=runtime.db, passwords=runtime.passwords, username=f"co{secrets.token_hex(4)}", password=officer_password
    )
    add_membership(db=runtime.db, user_id=officer.id, organization_id=world.org(slug), role="compliance_officer")
    compliance = world.client(Member(officer.username, officer_password, officer.id, slug, world.org(slug)))
    accounting = ok(compliance.get(f"{base}/patients/{patient_ids[0]}/disclosures/accounting"))
    assert [e["recipient_name"] for e in accounting["entries"]] == [disclosure["recipient_name"]]
    pdf = compliance.get(f"{base}/patients/{patient_ids[0]}/disclosures/accounting", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # A refused request carrying markers (unknown field, over-long name) goes through the error path.
    bad = {"given_name": new_marker("rejected") * 4, "family_name": "x", "birth_date": "1950-01-01", "nope": "y"}
    markers.add("rejected", "text", bad["given_name"][:40])
    assert desk.post(f"{base}/patients", json=bad).status_code == 422

    # MFA enrolment through the API: the TOTP secret and the recovery codes are markers.
    enrolled = world.member(slug, "biller")
    mfa = world.client(enrolled)
    setup = ok(mfa.post("/api/v1/auth/mfa/totp/setup"))
    markers.add("totp_secret", "totp", setup["secret"])
    confirmed = ok(mfa.post("/api/v1/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(setup["secret"]).now()}))
    for n, code in enumerate(confirmed["recovery_codes"]):
        markers.add(f"recovery{n}", "text", code)

    # Break the glass (the login just re-authenticated the session), then the review queue reads it back.
    holder = world.client(world.member(slug, "biller"))
    justification = markers.add("justification", "text", new_marker("justification") + " unconscious in ED")
    body = {"patient_id": patient_ids[0], "reason_code": "emergency_care", "justification": justification}
    ok(holder.post(f"{base}/break-glass", json=body), 201)
    queue = ok(world.client(world.member(slug, "compliance_officer")).get(f"{base}/break-glass/reviews"))
    assert [g["justification"] for g in queue] == [justification]

    # A file in the blob store (no HTTP route stores files yet: the service, through the gate) holding the
    # current values of a patient and a marker of its own.
    patient = markers.values
    document = (
        f"STATEMENT {patient['given0b'][1]} {patient['family0b'][1]} DOB {patient['dob0b'][1]:%m/%d/%Y} "
        f"SSN {patient['ssn0b'][1]} {markers.add('blob', 'text', new_marker('blob'))}"
    ).encode()
    blobs = build_blob_store(runtime.settings, keys=runtime.keys)
    ctx = system_context("leak-test", organization_id=world.org(slug), permissions={Permission.PATIENT_READ})
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        ref = store_blob(
            blobs=blobs,
            gate=gate,
            kind="statement",
            content_type="text/plain",
            data=document,
            patient_id=uuid.UUID(patient_ids[0]),
            permission=Permission.PATIENT_READ,
        )
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        content = read_blob(blobs=blobs, gate=gate, blob_id=ref.id, permission=Permission.PATIENT_READ)
    assert content == document
    responses.append(content.decode())
    return markers, responses, slug


def assert_no_leak(scenario: Scenario, blobs: dict[str, bytes]) -> None:
    assert blobs, "nothing to scan"
    slug = scenario.slug.encode()
    assert any(slug in data for data in blobs.values()), "positive control: the org slug must be in the scanned bytes"
    leaks = find_leaks(scenario.markers, blobs)
    assert not leaks, "plaintext found:\n" + "\n".join(leaks)


# The checks -----------------------------------------------------------------------------------------------------
def test_scenario_really_handled_every_marker(scenario: Scenario) -> None:
    """Control: the API answered with the values (so they were stored and decrypted); the scanner finds them."""
    answered = "\n".join(scenario.responses).encode()
    never_echoed = {"password", "rejected", "card_number", "bank_account"}  # sent; answers show at most last4
    expected = set(scenario.markers.values) - never_echoed
    found = {label for label, form in scenario.markers.patterns() if form in answered.lower()}
    assert expected <= found, sorted(expected - found)
    assert find_leaks(scenario.markers, {"responses": answered})


def check_sqlite_files(scenario: Scenario) -> None:
    """The SQLite database file and its WAL (and any journal), raw, while the application still holds them."""
    files = sorted(scenario.workdir.glob("claimvault.db*"))
    names = {f.name for f in files}
    assert "claimvault.db" in names and "claimvault.db-wal" in names, names
    assert_no_leak(scenario, {f.name: f.read_bytes() for f in files})


def check_pg_dump(scenario: Scenario, backend: PostgresBackend) -> None:
    """A plain-format pg_dump of the whole database, taken as its owner (RLS does not hide rows from it)."""
    assert shutil.which(PG_DUMP), "pg_dump is needed for this check"
    url = make_url(backend.owner_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(
        [PG_DUMP, "--format=plain", "--no-owner", url], check=True, capture_output=True, timeout=120
    ).stdout
    assert b"COPY public.patients" in dump and b"COPY public.coverages" in dump
    assert_no_leak(scenario, {"pg_dump": dump})


def test_database_holds_no_plaintext(scenario: Scenario) -> None:
    if isinstance(scenario.backend, PostgresBackend):
        check_pg_dump(scenario, scenario.backend)
    else:
        check_sqlite_files(scenario)


def test_backup_archive_holds_no_plaintext(scenario: Scenario) -> None:
    """The sealed archive, and also everything inside it once unsealed (the database snapshot, the blobs)."""
    sealed = scenario.archive.read_bytes()
    leaks = find_leaks(scenario.markers, {"archive": sealed})
    assert not leaks, "plaintext found:\n" + "\n".join(leaks)
    assert scenario.slug.encode() not in sealed  # sealed end to end: not even the schema's plain data shows
    # Control: unsealed, the archive holds this database (the org slug shows) and this organization's blobs.
    plain = io.BytesIO()
    with scenario.archive.open("rb") as src:
        ArchiveCipher(scenario.runtime.keys.provider).unseal(src, plain)
    plain.seek(0)
    inner: dict[str, bytes] = {}
    with tarfile.open(fileobj=plain, mode="r") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert extracted is not None
            inner[member.name] = extracted.read()
    assert any(name.startswith(f"blobs/{scenario.org_id.hex}/") for name in inner), sorted(inner)
    if backups.DB_PG in inner:
        dump = scenario.workdir / "inner.pgdump"
        dump.write_bytes(inner.pop(backups.DB_PG))
        restored = subprocess.run([PG_RESTORE, "--file=-", str(dump)], check=True, capture_output=True, timeout=120)
        inner["pg_restore of " + backups.DB_PG] = restored.stdout
    assert_no_leak(scenario, inner)


def test_blob_directory_holds_no_plaintext(scenario: Scenario) -> None:
    root = scenario.runtime.settings.resolved_blob_dir
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    # Control: this organization's object is there (object names start with the organization id).
    assert any(name.startswith(scenario.org_id.hex) for name in files), sorted(files)
    leaks = find_leaks(scenario.markers, {**files, "object names": "\n".join(files).encode()})
    assert not leaks, "plaintext found:\n" + "\n".join(leaks)


def test_log_output_holds_no_plaintext(scenario: Scenario) -> None:
    log = scenario.log
    assert '"claimvault.access"' in log and "/break-glass" in log, "the access log must be in the captured output"
    assert_no_leak(scenario, {"log": log.encode()})


def test_scanner_reports_a_planted_marker(scenario: Scenario) -> None:
    """Control for the checks above: a marker planted in bytes, in each encoding the scan claims, is reported."""
    _, value = scenario.markers.values["dob0"]
    us_date = value.strftime("%m/%d/%Y")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        leaks = find_leaks(scenario.markers, {"sample": b"..." + us_date.encode(encoding) + b"..."})
        assert [leak.split(" ")[0] for leak in leaks] == ["dob0"], (encoding, leaks)
    _, name = scenario.markers.values["family1"]
    for variant in (name, name.upper(), name.swapcase()):
        assert find_leaks(scenario.markers, {"sample": variant.encode("utf-16-be")}), variant
    _, secret = scenario.markers.values["totp_secret"]
    assert find_leaks(scenario.markers, {"raw": base64.b32decode(secret + "=" * (-len(secret) % 8))})
    assert find_leaks(scenario.markers, {"log": b'{"ssn": "%s"}' % scenario.markers.values["ssn2b"][1].encode()})
    assert find_leaks(scenario.markers, {"pg_dump": b"\\x" + name.encode().hex().upper().encode()})  # a bytea
    _, phone = scenario.markers.values["phone1b"]
    for shown in (phone, phone[2:], f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"):
        assert {leak.split(" ")[0] for leak in find_leaks(scenario.markers, {"csv": shown.encode()})} == {"phone1b"}
    _, member_id = scenario.markers.values["member2b"]
    assert find_leaks(scenario.markers, {"csv": member_id.lower().encode("utf-16-le")})


def test_audit_trail_and_its_exports_hold_no_plaintext(scenario: Scenario) -> None:
    """The audit log itself, a checkpoint, and its exports as JSON lines and FHIR bundles: ids and codes only."""
    from claimvault.security.audit.checkpoints import CheckpointSigner
    from claimvault.security.audit.checkpoints import DirectorySink as CheckpointDirectory
    from claimvault.security.audit.export.service import run_export
    from claimvault.security.audit.export.sinks import DirectorySink as ExportDirectory
    from claimvault.security.audit.verify import write_checkpoint
    from claimvault.security.context import system_context
    from claimvault.storage.database import AUDIT_READER

    runtime = scenario.runtime
    out = scenario.workdir / "audit-out"
    signer = CheckpointSigner.load_or_create(out / "checkpoint.key")
    write_checkpoint(
        db=runtime.db, signer=signer, sink=CheckpointDirectory(out / "checkpoints"), sequencer=runtime.sequencer
    )
    ctx = system_context("audit export", organization_id=None, permissions={Permission.AUDIT_READ})
    for fmt in ("jsonl", "fhir"):
        result = run_export(
            db=runtime.db,
            ctx=ctx,
            cursor=f"leak-{fmt}",
            fmt=fmt,
            organization_id=None,
            sink=ExportDirectory(out / fmt, fmt=fmt),
        )
        assert result.count > 0
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with runtime.db.session(tenant_id=None, audit_role=AUDIT_READER) as s:
        files["audit_events bodies"] = "\n".join(s.scalars(select(AuditEvent.body))).encode()
    # Control: the exports and the log really hold this organization's events (its id shows).
    assert any(str(scenario.org_id).encode() in blob for blob in files.values())
    leaks = find_leaks(scenario.markers, files)
    assert not leaks, "plaintext found:\n" + "\n".join(leaks)
