"""Alert delivery over real local channels: an SMTP server (aiosmtpd) and an HTTP webhook receiver, both on
127.0.0.1; failures are swallowed and logged without data."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from claimvault.errors import ConfigurationError
from claimvault.monitoring.notifiers import (
    SIGNATURE_HEADER,
    AlertMessage,
    FanoutNotifier,
    NotifierSettings,
    NullNotifier,
    SmtpNotifier,
    WebhookNotifier,
    build_notifier,
    deliver,
    notifier_for,
)
from claimvault.web.tls import ensure_dev_certificate

SECRET = "webhook-secret-0123456789abcdef"


def _message() -> AlertMessage:
    alert_id, org_id = uuid.uuid4(), uuid.uuid4()
    return AlertMessage(
        alert_id=alert_id,
        organization_id=org_id,
        organization_slug="alpha",
        kind="break_glass",
        severity="high",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        link_path=f"/api/v1/orgs/alpha/alerts/{alert_id}",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Collect:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Collect, int]]:
    handler = _Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("/redirect"):
            self.send_response(307)
            self.send_header("Location", "/hooks/claimvault")
            self.end_headers()
            return
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def webhook_server() -> Iterator[tuple[list[tuple[dict[str, str], bytes]], str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.received, f"http://127.0.0.1:{server.server_address[1]}/hooks/claimvault"  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_smtp_notifier_delivers_an_email_with_ids_and_codes_only(smtp_server: tuple[_Collect, int]) -> None:
    handler, port = smtp_server
    alert = _message()
    SmtpNotifier(
        host="127.0.0.1", port=port, sender="alerts@claimvault.test", recipients=["privacy@practice.test"]
    ).send(alert)
    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.mail_from == "alerts@claimvault.test"
    assert envelope.rcpt_tos == ["privacy@practice.test"]
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"] == "[ClaimVault] high alert: break_glass (alpha)"
    body = mail.get_payload(decode=True).decode()
    assert str(alert.alert_id) in body and str(alert.organization_id) in body
    assert alert.link_path in body
    lines = {line.split(": ", 1)[0] for line in body.splitlines() if ": " in line}
    assert lines == {"alert_id", "organization_id", "organization", "kind", "severity", "created_at", "link"}


def test_smtp_notifier_upgrades_with_starttls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_dev_certificate(cert, key)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    handler = _Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True)
    controller.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - the server refuses mail before STARTTLS
            SmtpNotifier(host="127.0.0.1", port=port, sender="a@claimvault.test", recipients=["b@p.test"]).send(
                _message()
            )
        client_tls = ssl.create_default_context(cafile=str(cert))
        SmtpNotifier(
            host="localhost",
            port=port,
            sender="a@claimvault.test",
            recipients=["b@p.test"],
            starttls=True,
            ssl_context=client_tls,
        ).send(_message())
    finally:
        controller.stop()
    assert len(handler.envelopes) == 1


def test_webhook_notifier_posts_signed_json(webhook_server: tuple[list[Any], str]) -> None:
    received, url = webhook_server
    alert = _message()
    WebhookNotifier(url=url, secret=SECRET).send(alert)
    assert len(received) == 1
    headers, body = received[0]
    assert headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)
    wrong = "sha256=" + hmac.new(b"another-secret-entirely", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] != wrong
    assert json.loads(body) == {
        "alert_id": str(alert.alert_id),
        "organization_id": str(alert.organization_id),
        "organization": "alpha",
        "kind": "break_glass",
        "severity": "high",
        "created_at": "2026-01-02T03:04:05+00:00",
        "link": alert.link_path,
    }


def test_webhook_does_not_follow_redirects(webhook_server: tuple[list[Any], str]) -> None:
    received, url = webhook_server
    assert deliver(WebhookNotifier(url=url + "/redirect", secret=SECRET), _message()) is False
    assert received == []


@pytest.mark.parametrize(
    "url",
    ["http://alerts.example.com/hook", "ftp://127.0.0.1/hook", "file:///etc/passwd", "https:///nohost"],
)
def test_webhook_refuses_unsafe_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        WebhookNotifier(url=url, secret=SECRET)


def test_webhook_needs_a_real_secret() -> None:
    with pytest.raises(ConfigurationError):
        WebhookNotifier(url="https://alerts.example.com/hook", secret="short")


def test_failures_are_swallowed_and_logged_without_data(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()  # nothing listens there any more: connection refused
    alert = _message()
    url = f"http://127.0.0.1:{port}/secret-path"
    caplog.set_level(logging.WARNING, logger="claimvault.alerts")
    assert deliver(WebhookNotifier(url=url, secret=SECRET, timeout=2), alert) is False
    assert (
        deliver(SmtpNotifier(host="127.0.0.1", port=port, sender="a@x.test", recipients=["b@x.test"]), alert) is False
    )
    records = [r for r in caplog.records if r.name == "claimvault.alerts"]
    assert [r.getMessage() for r in records] == ["alert delivery failed", "alert delivery failed"]
    for r in records:
        assert r.exc_info is None
        assert r.error_type in {"URLError", "ConnectionRefusedError"}  # type: ignore[attr-defined]
        assert r.alert_id == str(alert.alert_id)  # type: ignore[attr-defined]
        dumped = json.dumps({k: str(v) for k, v in vars(r).items()})
        assert str(port) not in dumped and "secret-path" not in dumped and "x.test" not in dumped


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[AlertMessage] = []

    def send(self, alert: AlertMessage) -> None:
        self.sent.append(alert)


class _Broken:
    def send(self, alert: AlertMessage) -> None:
        raise RuntimeError("channel down: alerts@example.com")


def test_fanout_sends_to_every_channel_even_when_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    first, last = _Recorder(), _Recorder()
    alert = _message()
    FanoutNotifier([first, _Broken(), last]).send(alert)
    assert first.sent == [alert] and last.sent == [alert]
    assert "example.com" not in caplog.text


def test_build_notifier_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_HOST", "SMTP_TO", "WEBHOOK_URL", "WEBHOOK_SECRET", "SMTP_PORT"):
        monkeypatch.delenv(f"CLAIMVAULT_ALERT_{name}", raising=False)
    assert isinstance(build_notifier(NotifierSettings()), NullNotifier)

    monkeypatch.setenv("CLAIMVAULT_ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CLAIMVAULT_ALERT_SMTP_PORT", "2525")
    monkeypatch.setenv("CLAIMVAULT_ALERT_SMTP_TO", "privacy@p.test, security@p.test")
    smtp = build_notifier(NotifierSettings())
    assert isinstance(smtp, SmtpNotifier)
    assert (smtp.port, smtp.recipients) == (2525, ["privacy@p.test", "security@p.test"])

    monkeypatch.setenv("CLAIMVAULT_ALERT_WEBHOOK_URL", "https://alerts.example.com/hook")
    with pytest.raises(ConfigurationError):
        build_notifier(NotifierSettings())  # a webhook without its secret
    monkeypatch.setenv("CLAIMVAULT_ALERT_WEBHOOK_SECRET", SECRET)
    both = build_notifier(NotifierSettings())
    assert isinstance(both, FanoutNotifier)
    assert [type(n) for n in both.notifiers] == [SmtpNotifier, WebhookNotifier]


def test_notifier_for_prefers_the_runtime_attribute() -> None:
    recorder = _Recorder()

    class WithNotifier:
        notifier = recorder

    assert notifier_for(WithNotifier()) is recorder
    assert notifier_for(object()) is notifier_for(None)  # built once from the environment
