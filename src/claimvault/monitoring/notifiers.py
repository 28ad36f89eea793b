"""Alert delivery: the ``Notifier`` interface and its SMTP, webhook, null and fan-out adapters.

A notification carries the alert id, kind, severity, organization id and slug and a link path into the API:
never a summary, a patient id or any other value, so a mailbox or a chat channel learns only that something
needs a look. Delivery runs after the raising transaction committed (see ``monitoring.alerts``); a failing
notifier is logged by type only and never breaks the request.

Settings come from ``CLAIMVAULT_ALERT_*`` environment variables (``NotifierSettings``) until they move into
``claimvault.config``. ``notifier_for(runtime)`` prefers a ``runtime.notifier`` attribute when there is one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import smtplib
import ssl
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from functools import cache
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from claimvault.errors import ConfigurationError

logger = logging.getLogger("claimvault.alerts")

SIGNATURE_HEADER = "X-ClaimVault-Signature"
DEFAULT_TIMEOUT_SECONDS = 10.0
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class AlertMessage:
    """What leaves ClaimVault about an alert. Ids and codes only, by construction."""

    alert_id: uuid.UUID
    organization_id: uuid.UUID
    organization_slug: str
    kind: str
    severity: str
    created_at: datetime
    link_path: str

    def to_payload(self) -> dict[str, Any]:
        return {
            "alert_id": str(self.alert_id),
            "organization_id": str(self.organization_id),
            "organization": self.organization_slug,
            "kind": self.kind,
            "severity": self.severity,
            "created_at": self.created_at.isoformat(),
            "link": self.link_path,
        }


@runtime_checkable
class Notifier(Protocol):
    def send(self, alert: AlertMessage) -> None: ...


class NullNotifier:
    """Delivers nothing: the default when no channel is configured (alerts stay in the database and the API)."""

    def send(self, alert: AlertMessage) -> None:
        return None


class SmtpNotifier:
    """Sends a short plain-text e-mail per alert through an SMTP relay, optionally upgraded with STARTTLS."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not recipients:
            raise ConfigurationError("The alert e-mail notifier needs at least one recipient.")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context

    def build_message(self, alert: AlertMessage) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"[ClaimVault] {alert.severity} alert: {alert.kind} ({alert.organization_slug})"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = [f"{key}: {value}" for key, value in alert.to_payload().items()]
        message.set_content("A ClaimVault alert needs attention. Log in to see it.\n\n" + "\n".join(lines) + "\n")
        return message

    def send(self, alert: AlertMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=self._ssl_context or ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self._password or "")
            smtp.send_message(self.build_message(alert))


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sign(secret: bytes, body: bytes) -> str:
    """The webhook signature header value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs the alert as JSON; the ``X-ClaimVault-Signature`` header is the HMAC-SHA256 of the body.

    Only ``https`` URLs are accepted, or plain ``http`` to a loopback address (a local relay, tests).
    """

    def __init__(self, *, url: str, secret: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise ConfigurationError("The alert webhook URL must be an https URL.")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ConfigurationError("The alert webhook URL must use https (plain http only to loopback).")
        if len(secret) < 16:
            raise ConfigurationError("The alert webhook secret must have at least 16 characters.")
        self.url = url
        self._secret = secret.encode("utf-8")
        self.timeout = timeout

    def send(self, alert: AlertMessage) -> None:
        body = json.dumps(alert.to_payload(), separators=(",", ":"), sort_keys=True).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "ClaimVault-Alerts/1",
                SIGNATURE_HEADER: sign(self._secret, body),
            },
        )
        with _OPENER.open(request, timeout=self.timeout) as response:
            response.read(1024)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off the checked URL (to plain http, say): a 3xx is a failed delivery instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


class FanoutNotifier:
    """Sends to every notifier; one failing does not stop the others (each failure is logged)."""

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def send(self, alert: AlertMessage) -> None:
        for notifier in self.notifiers:
            deliver(notifier, alert)


def deliver(notifier: Notifier, alert: AlertMessage) -> bool:
    """Send ``alert`` and swallow any failure: logged with the notifier, alert id and error type, no message
    (driver and network errors may quote addresses or content). Returns whether it was delivered."""
    try:
        notifier.send(alert)
    except Exception as exc:  # noqa: BLE001 - delivery must never break the request
        logger.warning(
            "alert delivery failed",
            extra={
                "notifier": type(notifier).__name__,
                "alert_id": str(alert.alert_id),
                "error_type": type(exc).__name__,
            },
        )
        return False
    return True


class NotifierSettings(BaseSettings):
    """Alert delivery settings from ``CLAIMVAULT_ALERT_*`` (to move into ``claimvault.config.Settings``)."""

    model_config = SettingsConfigDict(env_prefix="CLAIMVAULT_ALERT_", extra="ignore", env_file=None)

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "claimvault-alerts@localhost"
    smtp_to: str = ""  # comma-separated recipients
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    @property
    def smtp_recipients(self) -> list[str]:
        return [r.strip() for r in self.smtp_to.split(",") if r.strip()]


def build_notifier(settings: NotifierSettings) -> Notifier:
    """The configured channels (e-mail, webhook, both, or none) as one notifier."""
    channels: list[Notifier] = []
    if settings.smtp_host:
        channels.append(
            SmtpNotifier(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                recipients=settings.smtp_recipients,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            )
        )
    if settings.webhook_url:
        if settings.webhook_secret is None:
            raise ConfigurationError("CLAIMVAULT_ALERT_WEBHOOK_SECRET is required with a webhook URL.")
        channels.append(WebhookNotifier(url=settings.webhook_url, secret=settings.webhook_secret.get_secret_value()))
    if not channels:
        return NullNotifier()
    return channels[0] if len(channels) == 1 else FanoutNotifier(channels)


@cache
def _notifier_from_environment() -> Notifier:
    """Built once. An invalid configuration is logged (the message names the setting, never a value) and
    delivers nothing rather than failing the emergency request that raised the alert."""
    try:
        return build_notifier(NotifierSettings())
    except (ConfigurationError, ValueError) as exc:
        logger.error(
            "alert notifier configuration is invalid; alerts are stored but not delivered",
            extra={"error_type": type(exc).__name__},
        )
        return NullNotifier()


def notifier_for(runtime: object) -> Notifier:
    """``runtime.notifier`` when the runtime has one, else the notifier built once from the environment."""
    found = getattr(runtime, "notifier", None)
    if found is not None:
        return found
    return _notifier_from_environment()
