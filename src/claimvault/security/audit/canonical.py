"""The canonical body of a sequenced audit event: the exact text that is hashed into the chain and the tree.

A body is two lines. The first is a header of the values that are also kept in queryable columns, in the form
the databases print them (so ``audit verify`` compares columns and body inside SQL); the second holds every other
field that has a value, as JSON with sorted keys, ASCII only (empty fields are left out: the body stays short, and
verification hashes every byte of it). Leaf data for the Merkle tree is the body's bytes. ``parse_body`` turns a
body back into the whole event.

    cv1|<position>|<event id hex>|<recorded at, UTC, YYYY-MM-DD HH:MM:SS.ffffff>|<org hex>|<actor hex>|
    <action>|<outcome>|<entity type>|<entity id hex>|<patient count>|<patient id hex,...>
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the models import this module's parser
    from claimvault.security.audit.models import PendingAuditEvent

FORMAT = "cv1"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# Codes that go into the header: no separators, no line breaks, no free text.
CODE = re.compile(r"^[a-z0-9_.:-]{0,64}$")


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hex(value: uuid.UUID | None) -> str:
    return value.hex if value is not None else ""


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def patient_uuids(event: PendingAuditEvent | Any) -> list[uuid.UUID]:
    return sorted({uuid.UUID(str(p)) for p in event.patient_ids or ()})


def canonical_body(*, position: int, event: PendingAuditEvent | Any) -> str:
    """The body of ``event`` (a pending event, or a row of its table) at ``position``. Deterministic: the same
    event and position give the same text."""
    recorded_at = as_utc(event.recorded_at)
    patients = patient_uuids(event)
    header = "|".join(
        [
            FORMAT,
            str(position),
            event.id.hex,
            recorded_at.strftime(TIME_FORMAT),
            _hex(event.organization_id),
            _hex(event.actor_id),
            event.action,
            event.outcome,
            event.entity_type or "",
            _hex(event.entity_id),
            str(len(patients)),
            ",".join(p.hex for p in patients),
        ]
    )
    rest: dict[str, Any] = {
        "actor_type": event.actor_type,
        "actor_name": event.actor_name,
        "roles": sorted(event.roles or []),
        "permission": event.permission,
        "fields": sorted(event.fields or []),
        "purpose_of_use": event.purpose_of_use,
        "request_id": event.request_id,
        "session_id": _str(event.session_id),
        "source_address": event.source_address,
        "user_agent": event.user_agent,
        "reason": event.reason,
        "detail": event.detail or {},
    }
    present = {k: v for k, v in rest.items() if v not in (None, [], {}, "")}
    return header + "\n" + json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# Fields of the JSON line and their value when left out.
_DEFAULTS: dict[str, Any] = {
    "actor_type": None,
    "actor_name": None,
    "roles": [],
    "permission": None,
    "fields": [],
    "purpose_of_use": None,
    "request_id": None,
    "session_id": None,
    "source_address": None,
    "user_agent": None,
    "reason": None,
    "detail": {},
}


def _uuid_text(value: str) -> str | None:
    return str(uuid.UUID(hex=value)) if value else None


def parse_body(body: str) -> dict[str, Any]:
    """The whole event recorded in ``body``: header values and the JSON line, with left-out fields restored."""
    header, _, rest = body.partition("\n")
    parts = header.split("|")
    if len(parts) != 12 or parts[0] != FORMAT:
        raise ValueError("not a ClaimVault audit event body")
    _, position, event_id, recorded, org, actor, action, outcome, entity_type, entity_id, _count, patients = parts
    recorded_at = datetime.strptime(recorded, TIME_FORMAT).replace(tzinfo=UTC)
    event: dict[str, Any] = {
        "position": int(position),
        "id": _uuid_text(event_id),
        "recorded_at": recorded_at.isoformat(),
        "organization_id": _uuid_text(org),
        "actor_id": _uuid_text(actor),
        "action": action,
        "outcome": outcome,
        "entity_type": entity_type or None,
        "entity_id": _uuid_text(entity_id),
        "patient_ids": [str(uuid.UUID(hex=p)) for p in patients.split(",") if p],
    }
    values = json.loads(rest) if rest else {}
    event.update({name: values.get(name, default) for name, default in _DEFAULTS.items()})
    return event


def check_codes(**codes: str | None) -> None:
    """Refuse header values that could break the body's layout (raised where the event is built, not later)."""
    for name, value in codes.items():
        if value is not None and not CODE.match(value):
            raise ValueError(f"Audit {name} must be a short lowercase code.")
