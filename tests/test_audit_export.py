"""``claimvault audit export``: JSON lines (exact content), resumable cursors (nothing twice, nothing skipped,
across runs and a crash between writing and moving the cursor), dry runs, organization cursors, FHIR R4
AuditEvent bundles (validated with fhir.resources, fields mapped), RFC 5424 syslog over real TLS (frames, fields,
certificate verification, mutual TLS, a receiver outage mid-export), the cursor lock, and the export's own audit
event. Both backends; the syslog receivers are local TLS servers in threads (no sleeps: events and joins)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
import sqlite3
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner, Result

import claimvault.cli.audit_export as cli_export
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.audit import build_event, record
from claimvault.security.audit.export import AuditExportError, run_export
from claimvault.security.audit.export.models import AuditExportCursor
from claimvault.security.audit.export.sinks import DirectorySink, SyslogSink
from claimvault.security.audit.export.syslog import SyslogTLSConnection, tls_context
from claimvault.security.audit.models import AuditEvent
from claimvault.security.context import system_context
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.permissions import Permission
from claimvault.storage.database import AUDIT_READER, Database
from tests.conftest import CHEAP_ARGON2, World

PATIENT = {"given_name": "Odalys", "family_name": "Quenneville", "birth_date": "1963-02-11"}
RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    rb"\[claimvault@32473 position=\"(?P<pos>\d+)\" id=\"(?P<id>[0-9a-f-]{36})\" outcome=\"(?P<outcome>\w+)\" "
    rb"org=\"(?P<org>[0-9a-f-]{36}|-)\" chain=\"(?P<chain>[0-9a-f]{64})\"\] \xef\xbb\xbf(?P<msg>.*)$",
    re.DOTALL,
)


# Helpers ----------------------------------------------------------------------------------------------------------
def _record(rt: Runtime, n: int, *, org: uuid.UUID | None = None, outcome: str = "success", **kw: Any) -> None:
    ctx = system_context("test events", organization_id=org, permissions=set())
    with rt.db.session(tenant_id=org) as s:
        for _ in range(n):
            record(s, build_event(ctx, action=kw.get("action", "read"), outcome=outcome, **kw.get("extra", {})))
    assert rt.sequencer is not None
    rt.sequencer.drain()


def _log(rt: Runtime) -> list[AuditEvent]:
    with rt.db.session(tenant_id=None, audit_role=AUDIT_READER) as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.position)))


def _cursor(rt: Runtime, name: str) -> AuditExportCursor | None:
    with rt.db.session(tenant_id=None) as s:
        return s.get(AuditExportCursor, name)


def _export(rt: Runtime, name: str, sink: Any, *, fmt: str = "jsonl", org: uuid.UUID | None = None, **kw: Any) -> Any:
    ctx = system_context("audit export", organization_id=org, permissions={Permission.AUDIT_READ})
    return run_export(db=rt.db, ctx=ctx, cursor=name, fmt=fmt, organization_id=org, sink=sink, **kw)


def _lines(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sorted(directory.glob("*.jsonl")) for line in p.read_text().splitlines()]


def _expected_line(e: AuditEvent) -> str:
    return json.dumps({**e.payload, "chain_hash": e.chain_hash.hex()}, sort_keys=True, separators=(",", ":"))


@dataclass
class ListSink:
    kind: str = "memory"
    on_send: Callable[[Sequence[AuditEvent]], None] | None = None

    def __post_init__(self) -> None:
        self.batches: list[list[int]] = []

    def pending_end(self, first: int) -> int | None:
        return None

    def send(self, events: Sequence[AuditEvent]) -> None:
        if self.on_send is not None:
            self.on_send(events)
        self.batches.append([e.position for e in events])

    def close(self) -> None:
        return None


# JSON lines, resuming, dry runs ----------------------------------------------------------------------------------
def test_jsonl_export_is_exact_and_is_itself_audited(world: World, runtime: Runtime, tmp_path: Path) -> None:
    member = world.member("alpha", "biller")
    world.create_patient(member, PATIENT)
    log = _log(runtime)
    result = _export(runtime, "siem", DirectorySink(tmp_path / "out", fmt="jsonl"), batch_size=1000)
    assert (result.count, result.first, result.last) == (len(log), 0, len(log) - 1)
    [path] = list((tmp_path / "out").iterdir())
    assert path.name == f"audit-{0:012d}-{len(log) - 1:012d}.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().splitlines() == [_expected_line(e) for e in log]
    assert "Quenneville" not in path.read_text()
    assert _cursor(runtime, "siem").next_position == len(log)  # type: ignore[union-attr]
    export_event = _log(runtime)[-1].payload
    assert export_event["action"] == "export" and export_event["entity_type"] == "audit_events"
    assert export_event["permission"] == "audit:read" and export_event["actor_type"] == "system"
    assert export_event["detail"] == {
        "cursor": "siem",
        "format": "jsonl",
        "target": "file",
        "from": 0,
        "to": len(log) - 1,
        "count": len(log),
    }


def test_resume_sends_every_event_exactly_once_across_runs(runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _record(runtime, 10)
    first = _export(runtime, "c1", DirectorySink(out, fmt="jsonl"), batch_size=4, limit=8)
    assert (first.batches, first.first, first.last) == (2, 0, 7)
    assert sorted(p.name for p in out.iterdir()) == [f"audit-{0:012d}-{3:012d}.jsonl", f"audit-{4:012d}-{7:012d}.jsonl"]
    for added in (5, 0, 3):
        _record(runtime, added)
        _export(runtime, "c1", DirectorySink(out, fmt="jsonl"), batch_size=4)
    positions = [line["position"] for line in _lines(out)]
    log = _log(runtime)
    assert positions == list(range(len(log) - 1))  # no duplicate, no gap; only the last run's own event is left
    assert log[-1].payload["action"] == "export"
    assert _cursor(runtime, "c1").next_position == len(log) - 1  # type: ignore[union-attr]
    # Nothing new but the last export's own event: the next run sends exactly that one.
    again = _export(runtime, "c1", DirectorySink(out, fmt="jsonl"), batch_size=4)
    assert (again.count, again.first) == (1, len(log) - 1)


def test_a_run_stopped_after_writing_rewrites_the_same_file(runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _record(runtime, 5)
    sink = DirectorySink(out, fmt="jsonl")

    def crash_after_write(events: Sequence[AuditEvent]) -> None:
        DirectorySink.send(sink, events)
        raise RuntimeError("crash before the cursor moved")

    class Crashing(DirectorySink):
        def send(self, events: Sequence[AuditEvent]) -> None:
            crash_after_write(events)

    with pytest.raises(RuntimeError):
        _export(runtime, "c2", Crashing(out, fmt="jsonl"), batch_size=3)
    assert _cursor(runtime, "c2").next_position == 0  # type: ignore[union-attr]
    written = (out / f"audit-{0:012d}-{2:012d}.jsonl").read_bytes()
    assert _log(runtime)[-1].payload["outcome"] == "failure"  # the interrupted export is on record
    _export(runtime, "c2", sink, batch_size=50)  # a bigger batch now: still finishes exactly 0-2 first
    assert (out / f"audit-{0:012d}-{2:012d}.jsonl").read_bytes() == written
    positions = [line["position"] for line in _lines(out)]
    assert positions == sorted(set(positions)) == list(range(positions[-1] + 1))


def _cli(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    @contextmanager
    def fake_runtime(current: Any = None) -> Iterator[Runtime]:
        yield rt

    monkeypatch.setattr(cli_export, "runtime", fake_runtime)
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("export")(cli_export.export)
    return app


def _run(app: typer.Typer, *args: str) -> Result:
    result = CliRunner().invoke(app, ["export", *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_dry_run_moves_nothing_then_exports(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _cli(runtime, monkeypatch)
    _record(runtime, 3)
    size = len(_log(runtime))
    out = tmp_path / "out"
    dry = _run(app, "--format", "jsonl", "--cursor", "daily", "--out", str(out), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would send {size} event(s), positions 0-{size - 1}" in " ".join(dry.output.split())
    assert _cursor(runtime, "daily") is None and not out.exists() and len(_log(runtime)) == size
    real = _run(app, "--format", "jsonl", "--cursor", "daily", "--out", str(out), "--batch", "2")
    assert real.exit_code == 0, real.output
    assert f"Exported {size} event(s)" in real.output
    assert [line["position"] for line in _lines(out)] == list(range(size))
    again = _run(app, "--format", "jsonl", "--cursor", "daily", "--out", str(out), "--dry-run")
    assert f"would send 1 event(s), positions {size}-{size}" in " ".join(again.output.split())
    wrong = _run(app, "--format", "fhir", "--cursor", "daily", "--out", str(out))
    assert wrong.exit_code == 1 and "exports the 'jsonl' format" in wrong.output


def test_cli_stdout_is_json_lines_only(runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _cli(runtime, monkeypatch)
    _record(runtime, 2)
    log = _log(runtime)
    result = _run(app, "--format", "jsonl", "--cursor", "pipe", "--out", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [_expected_line(e) for e in log]
    assert "Exported" in result.stderr


def test_organization_cursor_sends_only_its_organization(world: World, runtime: Runtime, tmp_path: Path) -> None:
    a, b = world.org("alpha"), world.org("beta")
    _record(runtime, 3, org=a)
    _record(runtime, 2, org=b)
    _record(runtime, 2)  # no organization (e.g. a login attempt)
    _record(runtime, 1, org=a)
    log = _log(runtime)
    sink = ListSink()
    result = _export(runtime, "alpha-siem", sink, org=a, batch_size=2)
    expected = [e.position for e in log if e.organization_id == a]
    assert [p for batch in sink.batches for p in batch] == expected
    assert _cursor(runtime, "alpha-siem").next_position == expected[-1] + 1  # type: ignore[union-attr]
    assert result.count == len(expected)
    _record(runtime, 2, org=b)
    _record(runtime, 1, org=a)
    _export(runtime, "alpha-siem", sink, org=a, batch_size=2)
    sent = [p for batch in sink.batches for p in batch]
    assert sent == [e.position for e in _log(runtime) if e.organization_id == a][: len(sent)]
    assert len(sent) == len(set(sent))
    with pytest.raises(AuditExportError):
        _export(runtime, "alpha-siem", ListSink(), org=b)


# FHIR -------------------------------------------------------------------------------------------------------------
def test_fhir_bundle_validates_and_maps_the_fields(world: World, runtime: Runtime, tmp_path: Path) -> None:
    member = world.member("alpha", "biller")
    patient_id = world.create_patient(member, PATIENT)
    denied = system_context("test events", organization_id=member.org_id, permissions=set())
    with runtime.db.session(tenant_id=member.org_id) as s:
        record(s, build_event(denied, action="denied", outcome="denied", patient_ids=[patient_id], reason="no_grant"))
    out = tmp_path / "fhir"
    _export(runtime, "fhir", DirectorySink(out, fmt="fhir", node="cv-test"), fmt="fhir", batch_size=1000)
    [path] = list(out.iterdir())
    assert path.suffix == ".json" and "Quenneville" not in path.read_text()
    bundle = Bundle.model_validate_json(path.read_text())
    assert bundle.type == "batch" and all(e.request.method == "POST" for e in bundle.entry)
    events = {e.resource.id: e.resource for e in bundle.entry}
    log = {str(e.id): e for e in _log(runtime)}
    create = next(e for e in log.values() if e.action == "create" and e.entity_type == "patients")
    resource = events[str(create.id)]
    assert resource.action == "C" and resource.outcome == "0"
    assert resource.type.code == "110110" and resource.type.system.endswith("/DCM")
    assert [c.code for c in resource.purposeOfEvent[0].coding] == ["HPAYMT"]
    agent = resource.agent[0]
    assert agent.requestor is True and agent.who.identifier.value == f"urn:uuid:{member.user_id}"
    assert [r.coding[0].code for r in agent.role] == ["biller"]
    assert (agent.network.address, agent.network.type) == ("testclient", "1")  # TestClient's peer: a host name
    references = [e.what.reference for e in resource.entity if e.what and e.what.reference]
    assert references == [f"Patient/{patient_id}"]
    assert resource.source.site == f"urn:uuid:{member.org_id}"
    assert resource.source.observer.identifier.value == "cv-test"
    record_entity = resource.entity[-1]
    details = {d.type: d.valueString for d in record_entity.detail}
    assert details["position"] == str(create.position) and details["chain-hash"] == create.chain_hash.hex()
    refused = next(r for r in events.values() if r.outcome == "4")
    assert refused.outcomeDesc == "no_grant" and refused.agent[0].name.startswith("test events")
    assert [e.what.reference for e in refused.entity if e.what.reference] == [f"Patient/{patient_id}"]
    assert len(events) == len(log) - 1  # every event but the export's own, recorded after it


# Syslog over TLS --------------------------------------------------------------------------------------------------
@dataclass
class PKI:
    ca: Path
    server_cert: Path
    server_key: Path
    client_ca: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key: Any, issuer: tuple[str, Any] | None, *, ca: bool, san: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]) if issuer else name
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if san:
        alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: Any | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    paths = {}
    for label in ("ca", "client-ca", "rogue-ca"):
        key = _key()
        paths[label] = ("Test " + label, key, _cert("Test " + label, key, None, ca=True))
        _write(d / f"{label}.pem", paths[label][2])
    for label, issuer, san in (("server", "ca", True), ("client", "client-ca", False), ("rogue", "rogue-ca", True)):
        key = _key()
        _write(d / f"{label}.pem", _cert(label, key, paths[issuer][:2], ca=False, san=san), key)
    return PKI(
        d / "ca.pem",
        d / "server.pem",
        d / "server.key",
        d / "client-ca.pem",
        d / "client.pem",
        d / "client.key",
        d / "rogue.pem",
        d / "rogue.key",
    )


class SyslogServer:
    """A real RFC 5425 receiver on 127.0.0.1: TLS, octet-counted frames, optionally closing after N frames."""

    def __init__(
        self,
        cert: Path,
        key: Path,
        *,
        client_ca: Path | None = None,
        close_after: int | None = None,
        max_version: ssl.TLSVersion | None = None,
    ) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        if client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(client_ca)
        if max_version is not None:
            self.context.maximum_version = max_version
        self.close_after = close_after
        self.may_close = threading.Event()
        self.closed = threading.Event()
        self.frames: list[bytes] = []
        self.peer_cert: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(20)
        buffer = b""
        try:
            raw, _ = self.listener.accept()
            raw.settimeout(20)
            with self.context.wrap_socket(raw, server_side=True) as conn:
                self.peer_cert = conn.getpeercert()
                while self.close_after is None or len(self.frames) < self.close_after:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buffer += data
                    while (space := buffer.find(b" ")) > 0 and len(buffer) >= space + 1 + int(buffer[:space]):
                        end = space + 1 + int(buffer[:space])
                        self.frames.append(buffer[space + 1 : end])
                        buffer = buffer[end:]
                if self.close_after is not None:
                    self.may_close.wait(20)
        except (ssl.SSLError, OSError) as exc:
            self.error = exc
        finally:
            self.listener.close()
            self.closed.set()

    def join(self) -> None:
        self.thread.join(20)
        assert not self.thread.is_alive()


def _syslog_sink(server: SyslogServer, pki: PKI, *, client: bool = False, **kw: Any) -> SyslogSink:
    context = tls_context(
        ca_file=pki.ca, client_cert=pki.client_cert if client else None, client_key=pki.client_key if client else None
    )
    return SyslogSink(SyslogTLSConnection(host="127.0.0.1", port=server.port, context=context), app_name="cv", **kw)


def test_syslog_over_tls_sends_rfc5424_frames(world: World, runtime: Runtime, pki: PKI) -> None:
    org = world.org("alpha")
    _record(runtime, 2, org=org)
    _record(runtime, 1, org=org, outcome="denied", action="denied")
    log = _log(runtime)
    server = SyslogServer(pki.server_cert, pki.server_key)
    sink = _syslog_sink(server, pki, hostname="cv-host")
    try:
        _export(runtime, "siem", sink, fmt="syslog", batch_size=2)
    finally:
        sink.close()
    server.join()
    assert server.error is None and len(server.frames) == len(log)
    for frame, event in zip(server.frames, log, strict=True):
        m = RFC5424.match(frame)
        assert m, frame[:120]
        assert int(m["pri"]) == (85 if event.outcome == "success" else 84)  # authpriv.notice / authpriv.warning
        ts = dt.datetime.strptime(m["ts"].decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        assert ts == event.recorded_at.astimezone(dt.UTC)
        assert (m["host"], m["app"], m["msgid"]) == (b"cv-host", b"cv", event.action.encode())
        assert (int(m["pos"]), m["id"].decode(), m["chain"].decode()) == (
            event.position,
            str(event.id),
            event.chain_hash.hex(),
        )
        assert m["msg"].decode() == _expected_line(event)


def test_syslog_message_can_carry_fhir(runtime: Runtime, pki: PKI) -> None:
    _record(runtime, 1)
    server = SyslogServer(pki.server_cert, pki.server_key)
    sink = _syslog_sink(server, pki, body="fhir")
    try:
        _export(runtime, "fhir-syslog", sink, fmt="syslog")
    finally:
        sink.close()
    server.join()
    body = json.loads(RFC5424.match(server.frames[-1])["msg"])  # type: ignore[index]
    assert body["resourceType"] == "AuditEvent" and body["id"] == str(_log(runtime)[len(server.frames) - 1].id)


def test_syslog_refuses_an_untrusted_certificate(runtime: Runtime, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    _record(runtime, 2)
    server = SyslogServer(pki.rogue_cert, pki.rogue_key)
    app = _cli(runtime, monkeypatch)
    args = ["--format", "syslog", "--cursor", "siem", "--host", "127.0.0.1", "--port", str(server.port)]
    result = _run(app, *args, "--ca-file", str(pki.ca))
    server.join()
    assert result.exit_code == 1
    assert "certificate could not be verified" in " ".join(result.output.split())
    cursor = _cursor(runtime, "siem")
    assert cursor is None or cursor.next_position == 0
    assert server.frames == []


def test_syslog_mutual_tls(runtime: Runtime, pki: PKI) -> None:
    _record(runtime, 2)
    server = SyslogServer(pki.server_cert, pki.server_key, client_ca=pki.client_ca)
    sink = _syslog_sink(server, pki, client=True)
    try:
        _export(runtime, "mtls", sink, fmt="syslog")
    finally:
        sink.close()
    server.join()
    assert server.peer_cert is not None and dict(x[0] for x in server.peer_cert["subject"])["commonName"] == "client"
    assert len(server.frames) == len(_log(runtime)) - 1  # all but the run's own export event
    # Without a client certificate the handshake fails (TLS 1.2 server: the refusal comes in the handshake).
    strict = SyslogServer(pki.server_cert, pki.server_key, client_ca=pki.client_ca, max_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(AuditExportError, match="handshake"):
        _syslog_sink(strict, pki)
    strict.join()
    assert strict.frames == []


def test_a_siem_outage_leaves_the_cursor_after_the_last_full_batch(runtime: Runtime, pki: PKI) -> None:
    _record(runtime, 7)
    size = len(_log(runtime))
    server = SyslogServer(pki.server_cert, pki.server_key, close_after=3)

    def after_batch(done: int, total: int) -> None:
        if done == 3:  # the receiver goes away once the first batch is recorded as sent
            server.may_close.set()
            assert server.closed.wait(20)

    sink = _syslog_sink(server, pki)
    try:
        with pytest.raises(AuditExportError, match="closed the connection"):
            _export(runtime, "siem", sink, fmt="syslog", batch_size=3, progress=after_batch)
    finally:
        sink.close()
    server.join()
    assert [int(RFC5424.match(f)["pos"]) for f in server.frames] == [0, 1, 2]  # type: ignore[index]
    assert _cursor(runtime, "siem").next_position == 3  # type: ignore[union-attr]
    failed = _log(runtime)[-1].payload
    assert (failed["outcome"], failed["detail"]["count"], failed["detail"]["to"]) == ("failure", 3, 2)
    # The receiver is back: the next run resumes at 3 and sends everything after it once.
    back = SyslogServer(pki.server_cert, pki.server_key)
    sink = _syslog_sink(back, pki)
    try:
        _export(runtime, "siem", sink, fmt="syslog", batch_size=3)
    finally:
        sink.close()
    back.join()
    assert [int(RFC5424.match(f)["pos"]) for f in back.frames] == list(range(3, size + 1))  # type: ignore[index]


# Concurrency ------------------------------------------------------------------------------------------------------
def test_the_cursor_is_locked_while_a_batch_is_sent(backend: Any, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", **CHEAP_ARGON2)  # type: ignore[arg-type]
    with backend.database(tmp_path, committed=True) as db:
        rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
        _record(rt, 4)
        size = len(_log(rt))
        sending, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def hold(events: Sequence[AuditEvent]) -> None:
            if not sending.is_set():
                sending.set()
                assert release.wait(20)

        first = ListSink(on_send=hold)

        def run() -> None:
            try:
                _export(rt, "shared", first, batch_size=2)
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        assert sending.wait(20)
        try:
            assert _cursor_is_locked(db, backend, "shared")
        finally:
            release.set()
            thread.join(20)
        assert not errors
        second = ListSink()
        _export(rt, "shared", second, batch_size=2)
        sent = [p for batch in first.batches + second.batches for p in batch]
        assert sent == list(range(size + 1))
        rt.close()


def _cursor_is_locked(db: Database, backend: Any, name: str) -> bool:
    """Try to take the cursor's lock from another connection without waiting."""
    if db.is_postgresql:
        engine = create_engine(backend.app_url)
        try:
            with engine.connect() as conn, conn.begin():
                try:
                    conn.execute(
                        text("SELECT 1 FROM audit_export_cursors WHERE name = :n FOR UPDATE NOWAIT"), {"n": name}
                    )
                except OperationalError:
                    return True
                return False
        finally:
            engine.dispose()
    path = db.engine.url.database
    lite = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    try:
        lite.execute("BEGIN IMMEDIATE")
        lite.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        lite.close()
