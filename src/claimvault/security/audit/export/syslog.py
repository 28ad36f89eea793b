"""RFC 5424 syslog messages, sent over TLS with RFC 5425 octet-counting framing, in the style of IHE ATNA.

Each event is one message::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [claimvault@32473 position=".." id=".." ...] BOM MSG

PRI uses facility 10 (security/authorization), severity 5 (notice) for a success and 4 (warning) for a denial or
failure, as ATNA (ITI-20) asks. TIMESTAMP is the event's recorded time (UTC, microseconds); MSGID is the event's
action code. The structured-data element carries the log position, event id, outcome, organization and chain hash,
so a receiver can drop a message it already has (after a crash between sending and moving the cursor) and see
gaps. 32473 is the private enterprise number IANA reserves for documentation examples (RFC 5612): an operator who
has their own number may use it instead. MSG is the event's JSON line (the same bytes a JSON-lines export holds)
or, optionally, its FHIR AuditEvent JSON, behind a UTF-8 byte order mark.

On the wire each message is ``MSG-LEN SP SYSLOG-MSG``. The connection verifies the server's certificate and host
name (the system trust store or ``ca_file``), requires TLS 1.2 or later, and presents a client certificate when one
is given (mutual TLS, which ATNA's node authentication requires).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path

from claimvault.errors import ConfigurationError
from claimvault.security.audit.canonical import as_utc
from claimvault.security.audit.export.cursor import AuditExportError
from claimvault.security.audit.export.fhir import render_event
from claimvault.security.audit.export.jsonl import event_line
from claimvault.security.audit.models import AuditEvent

FACILITY_AUTHPRIV = 10
SEVERITY_NOTICE = 5
SEVERITY_WARNING = 4
SD_ID = "claimvault@32473"
BOM = b"\xef\xbb\xbf"
MESSAGE_BODIES = ("json", "fhir")


def _printable(value: str, limit: int) -> str:
    """RFC 5424 header field: printable US-ASCII without spaces, at most ``limit`` characters, or NILVALUE."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


def check_app_name(value: str) -> str:
    if not value or len(value) > 48 or any(not 33 <= ord(c) <= 126 for c in value):
        raise ConfigurationError("The syslog APP-NAME must be 1-48 printable ASCII characters without spaces.")
    return value


def _param(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(event: AuditEvent, *, hostname: str, app_name: str, procid: str, body: str = "json") -> bytes:
    p = event.payload
    severity = SEVERITY_NOTICE if p["outcome"] == "success" else SEVERITY_WARNING
    pri = FACILITY_AUTHPRIV * 8 + severity
    timestamp = as_utc(event.recorded_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    params = {
        "position": event.position,
        "id": p["id"],
        "outcome": p["outcome"],
        "org": p.get("organization_id") or "-",
        "chain": bytes(event.chain_hash).hex(),
    }
    sd = "[" + SD_ID + "".join(f' {k}="{_param(v)}"' for k, v in params.items()) + "]"
    header = " ".join(
        [
            f"<{pri}>1",
            timestamp,
            _printable(hostname, 255),
            _printable(app_name, 48),
            _printable(procid, 128),
            _printable(p["action"], 32),
            sd,
        ]
    )
    text = render_event(event, node=app_name) if body == "fhir" else event_line(event)
    return header.encode("ascii") + b" " + BOM + text.encode("utf-8")


def frame(message: bytes) -> bytes:
    """RFC 5425 octet counting: the message's length in bytes, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


def local_hostname() -> str:
    return _printable(socket.getfqdn() or socket.gethostname(), 255)


def process_id() -> str:
    return str(os.getpid())


def tls_context(*, ca_file: Path | None, client_cert: Path | None, client_key: Path | None) -> ssl.SSLContext:
    """Certificate and host name verification on, TLS 1.2 minimum, optional client certificate."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if client_cert is not None:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    except (OSError, ssl.SSLError):
        raise ConfigurationError("The syslog TLS CA file or client certificate/key cannot be loaded.") from None
    if client_key is not None and client_cert is None:
        raise ConfigurationError("--client-key needs --client-cert.")
    return context


class SyslogTLSConnection:
    """One TLS connection to a syslog receiver. ``send`` writes whole batches and checks the peer is still there."""

    def __init__(self, *, host: str, port: int, context: ssl.SSLContext, timeout: float = 30.0) -> None:
        self.timeout = timeout
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError:
            raise AuditExportError("The syslog receiver cannot be reached.") from None
        try:
            self.sock = context.wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError:
            raw.close()
            raise AuditExportError(
                "The syslog receiver's TLS certificate could not be verified (untrusted issuer or wrong host name)."
            ) from None
        except (ssl.SSLError, OSError):
            raw.close()
            raise AuditExportError("The TLS handshake with the syslog receiver failed.") from None

    def _peer_gone(self) -> bool:
        """A syslog receiver never sends application data: a readable end of stream or an error means it left."""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(4096) == b""
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except (ssl.SSLError, OSError):
            return True
        finally:
            self.sock.settimeout(self.timeout)

    def send(self, frames: Sequence[bytes]) -> None:
        if self._peer_gone():
            raise AuditExportError("The syslog receiver closed the connection; the batch was not sent.")
        try:
            self.sock.sendall(b"".join(frames))
        except (ssl.SSLError, OSError):
            raise AuditExportError("Sending to the syslog receiver failed; the batch will be sent again.") from None
        if self._peer_gone():
            raise AuditExportError("The syslog receiver closed the connection; the batch will be sent again.")

    def close(self) -> None:
        try:
            self.sock.settimeout(5)
            self.sock.unwrap()  # close_notify, as RFC 5425 section 4.4 asks
        except (ssl.SSLError, OSError, ValueError):
            pass
        finally:
            self.sock.close()
