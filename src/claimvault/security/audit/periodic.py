"""Periodic checkpoints while the server runs: after the sequencer's ticks, at most once per interval, and only
when the log grew. A log that no longer verifies is never signed; the failure is logged (positions only)."""

from __future__ import annotations

import logging
import time

from claimvault.security.audit.checkpoints import CheckpointSigner, CheckpointSink
from claimvault.security.audit.log import log_size
from claimvault.security.audit.verify import AuditLogTampered, write_checkpoint
from claimvault.storage.database import AUDIT_READER, Database

log = logging.getLogger(__name__)


class PeriodicCheckpointer:
    def __init__(self, *, db: Database, signer: CheckpointSigner, sink: CheckpointSink, interval: float) -> None:
        self.db = db
        self.signer = signer
        self.sink = sink
        self.interval = interval
        self._last_time = time.monotonic()
        self._last_size = -1

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_time < self.interval:
            return
        self._last_time = now
        if self._size() == self._last_size:
            return
        try:
            cp = write_checkpoint(db=self.db, signer=self.signer, sink=self.sink)
        except AuditLogTampered as exc:
            log.critical("audit log failed verification at position %s; checkpoint refused", exc.position)
            return
        self._last_size = cp.tree_size
        log.info("audit checkpoint written", extra={"tree_size": cp.tree_size})

    def _size(self) -> int:
        with self.db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
            return log_size(session)
