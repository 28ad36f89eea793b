"""Where a batch goes: a directory (one file per batch), a stream (stdout), or a syslog receiver over TLS.

Files are named after the batch's position range (``audit-<first:012d>-<last:012d>.jsonl`` or ``.json``) and
written to a temporary file, flushed to disk, then renamed into place (and the directory synced), so a reader never
sees half a batch. If an export stops after writing a file but before moving its cursor, the next run finds the
file that starts at the cursor's next event and writes exactly that range again, under the same name and with the
same bytes, instead of a second, overlapping file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from claimvault.security.audit.export.fhir import render_bundle
from claimvault.security.audit.export.jsonl import render_jsonl
from claimvault.security.audit.export.syslog import (
    SyslogTLSConnection,
    frame,
    local_hostname,
    process_id,
    syslog_message,
)
from claimvault.security.audit.models import AuditEvent

Render = Callable[[Sequence[AuditEvent]], bytes]
SUFFIXES = {"jsonl": "jsonl", "fhir": "json"}


class Sink(Protocol):
    kind: str

    def pending_end(self, first: int) -> int | None:
        """The last position of a batch starting at ``first`` that was delivered but not recorded, if known."""

    def send(self, events: Sequence[AuditEvent]) -> None: ...

    def close(self) -> None: ...


def renderer(fmt: str, *, node: str = "claimvault") -> Render:
    if fmt == "fhir":
        return lambda events: render_bundle(events, node=node)
    return render_jsonl


class DirectorySink:
    kind = "file"

    def __init__(self, directory: Path, *, fmt: str, node: str = "claimvault") -> None:
        self.directory = directory
        self.suffix = SUFFIXES[fmt]
        self.render = renderer(fmt, node=node)
        self.pattern = re.compile(r"^audit-(\d{12})-(\d{12})\." + re.escape(self.suffix) + "$")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path_for(self, first: int, last: int) -> Path:
        return self.directory / f"audit-{first:012d}-{last:012d}.{self.suffix}"

    def pending_end(self, first: int) -> int | None:
        ends = [
            int(m.group(2))
            for p in self.directory.glob(f"audit-{first:012d}-*.{self.suffix}")
            if (m := self.pattern.match(p.name))
        ]
        return max(ends) if ends else None

    def send(self, events: Sequence[AuditEvent]) -> None:
        target = self.path_for(events[0].position, events[-1].position)
        fd, tmp = tempfile.mkstemp(prefix=".audit-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.render(events))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        return None


class StreamSink:
    """JSON lines, or one FHIR Bundle per line, written and flushed batch by batch."""

    kind = "stream"

    def __init__(self, stream: BinaryIO, *, fmt: str, node: str = "claimvault") -> None:
        self.stream = stream
        self.render = renderer(fmt, node=node)

    def pending_end(self, first: int) -> int | None:
        return None

    def send(self, events: Sequence[AuditEvent]) -> None:
        self.stream.write(self.render(events))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class SyslogSink:
    kind = "syslog"

    def __init__(
        self, connection: SyslogTLSConnection, *, app_name: str, body: str = "json", hostname: str | None = None
    ) -> None:
        self.connection = connection
        self.app_name = app_name
        self.body = body
        self.hostname = hostname or local_hostname()
        self.procid = process_id()

    def pending_end(self, first: int) -> int | None:
        return None

    def send(self, events: Sequence[AuditEvent]) -> None:
        messages = [
            syslog_message(e, hostname=self.hostname, app_name=self.app_name, procid=self.procid, body=self.body)
            for e in events
        ]
        self.connection.send([frame(m) for m in messages])

    def close(self) -> None:
        self.connection.close()
