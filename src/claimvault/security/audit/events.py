"""Writing audit events: one per access to protected data, per change, per security event, per denial.

Events hold ids, field names and codes, never protected values. They are written as pending events in the
caller's transaction when it commits (so a change never commits without its event; see ``pending.py``); the
sequencer later gives them positions in the tamper-evident log. Denials are written in their own transaction
because the failing operation rolls back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from claimvault.security.audit import pending
from claimvault.security.audit.canonical import check_codes
from claimvault.security.audit.pending import AuditRecord
from claimvault.security.context import AccessContext
from claimvault.storage.database import AUDIT_PENDING_FLAG as PENDING_FLAG


def build_event(
    ctx: AccessContext | None,
    *,
    action: str,
    outcome: str = "success",
    permission: str | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    patient_ids: Iterable[uuid.UUID] = (),
    fields: Iterable[str] = (),
    reason: str | None = None,
    organization_id: uuid.UUID | None = None,
    source_address: str | None = None,
    user_agent: str | None = None,
    actor_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    check_codes(action=action, outcome=outcome, entity_type=entity_type)
    return AuditRecord(
        organization_id=organization_id if organization_id is not None else (ctx.organization_id if ctx else None),
        action=action,
        outcome=outcome,
        actor_type=ctx.actor_type if ctx else ("user" if actor_id else "anonymous"),
        actor_id=ctx.actor_id if ctx else actor_id,
        actor_name=ctx.actor_name if ctx else None,
        roles=sorted(ctx.roles) if ctx else [],
        permission=permission,
        entity_type=entity_type,
        entity_id=entity_id,
        patient_ids=sorted(str(p) for p in patient_ids),
        fields=sorted(fields),
        purpose_of_use=ctx.purpose_of_use if ctx else None,
        request_id=ctx.request_id if ctx else None,
        session_id=ctx.session_id if ctx else None,
        source_address=ctx.source_address if ctx else source_address,
        user_agent=ctx.user_agent if ctx else user_agent,
        reason=reason,
        detail=detail or {},
    )


def record(session: Session, event: AuditRecord) -> None:
    """Record ``event`` in the session's current transaction: written when it commits (and sequenced after),
    dropped if it, or the savepoint it was recorded in, rolls back. Later changes to ``event`` are not seen."""
    pending.add(session, event)
    session.info[PENDING_FLAG] = True
