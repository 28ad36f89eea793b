"""JSON lines: one sequenced event per line, exactly as recorded, plus its chain hash.

Each line is the event's payload (the body's JSON: ``position``, ``id``, ``recorded_at``, ``organization_id``,
``action``, ``outcome``, actor, roles, permission, entity, ``patient_ids``, ``fields``, purpose of use, request and
session ids, source address, user agent, reason, ``detail``) with ``chain_hash`` added: the hex of the log's hash
chain after this event, so a receiver can check that positions arrive without gaps and match the log. Keys are
sorted and the text is ASCII, so the same events always give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from claimvault.security.audit.models import AuditEvent


def event_record(event: AuditEvent) -> dict[str, Any]:
    record = dict(event.payload)
    record["position"] = int(event.position)
    record["chain_hash"] = bytes(event.chain_hash).hex()
    return record


def event_line(event: AuditEvent) -> str:
    return json.dumps(event_record(event), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def render_jsonl(events: Sequence[AuditEvent]) -> bytes:
    return "".join(event_line(e) + "\n" for e in events).encode("ascii")
