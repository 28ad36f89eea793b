"""Break-the-glass: a time-boxed, justified, audited emergency grant on one patient, and its review queue.

Invoking writes, in one transaction: the grant (its free-text justification encrypted through the PHI gate), a
``break_glass`` audit event naming the reason code and the patient, and a high-severity alert (delivered after
commit). Every grant enters the review queue; a compliance officer other than the holder approves or flags it,
which closes the alert. A flagged grant that is still running ends at once.

``active_grant_patient_ids`` tells the gate which patients a user may read under a running grant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from claimvault.monitoring import alerts
from claimvault.monitoring.models import Alert
from claimvault.monitoring.notifiers import Notifier
from claimvault.security.audit import build_event, record
from claimvault.security.break_glass.models import BreakGlassGrant
from claimvault.security.context import AccessContext
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission
from claimvault.storage.base import Base, utcnow
from claimvault.storage.database import Database

DEFAULT_DURATION = timedelta(minutes=60)
MAX_DURATION = timedelta(hours=4)
JUSTIFICATION_MIN = 20
JUSTIFICATION_MAX = 2000
REASON_CODES = ("emergency_care", "patient_safety", "billing_dispute_urgent", "legal_requirement", "other")
REVIEW_STATUSES = ("pending", "approved", "flagged")
REVIEW_DECISIONS = ("approved", "flagged")
REVIEW_NOTE_CODES = (
    "justified",
    "clinically_necessary",
    "documented_elsewhere",
    "no_clinical_need",
    "excessive_access",
    "policy_violation",
    "referred_to_privacy_officer",
    "other",
)
ALERT_KIND = "break_glass"
MAX_PAGE = 200


@dataclass(frozen=True)
class Grant:
    """A grant as shown to the holder or the reviewer. ``justification`` is present only for reviewers."""

    id: uuid.UUID
    user_id: uuid.UUID
    patient_id: uuid.UUID
    reason_code: str
    granted_at: datetime
    expires_at: datetime
    review_status: str
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_note_code: str | None
    alert_id: uuid.UUID | None
    justification: str | None = None

    def __repr__(self) -> str:  # keep the justification out of reprs and tracebacks
        return f"Grant(id={self.id}, review_status={self.review_status})"

    @property
    def active(self) -> bool:
        return _aware(self.expires_at) > utcnow()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _grant(record_: Record, *, with_justification: bool) -> Grant:
    v = record_.values
    return Grant(
        id=record_.id,
        user_id=v["user_id"],
        patient_id=v["patient_id"],
        reason_code=v["reason_code"],
        granted_at=_aware(v["granted_at"]),
        expires_at=_aware(v["expires_at"]),
        review_status=v["review_status"],
        reviewed_by=v["reviewed_by"],
        reviewed_at=_aware(v["reviewed_at"]) if v["reviewed_at"] is not None else None,
        review_note_code=v["review_note_code"],
        alert_id=v["alert_id"],
        justification=v["justification"] if with_justification else None,
    )


def _patient_in_tenant(session: Session, *, organization_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    # The patients table through metadata: security code does not import billing. Filtered explicitly by
    # organization (Core statements are not scoped by the session) and by RLS on PostgreSQL.
    patients = Base.metadata.tables["patients"]
    found = session.execute(
        select(patients.c.id).where(patients.c.id == patient_id, patients.c.organization_id == organization_id)
    ).first()
    return found is not None


def invoke(
    *,
    gate: PHIGate,
    patient_id: uuid.UUID,
    reason_code: str,
    justification: str,
    notifier: Notifier | None = None,
    duration: timedelta = DEFAULT_DURATION,
) -> Grant:
    """Open a grant for the gate's user on ``patient_id``. The caller checked a recent re-authentication."""
    ctx = gate.ctx
    if ctx.actor_type != "user" or ctx.actor_id is None or ctx.organization_id is None:
        raise PermissionDenied("Break-the-glass is for a person, not a system job.")
    if reason_code not in REASON_CODES:
        raise ValidationFailed("Unknown reason code.", code="invalid_reason_code")
    text = justification.strip()
    if not JUSTIFICATION_MIN <= len(text) <= JUSTIFICATION_MAX:
        raise ValidationFailed(
            f"The justification must have {JUSTIFICATION_MIN} to {JUSTIFICATION_MAX} characters.",
            code="invalid_justification",
        )
    if not timedelta(minutes=1) <= duration <= MAX_DURATION:
        raise ValidationFailed("Grants last between one minute and four hours.")
    gate.authorize(Permission.BREAK_GLASS, entity_type=BreakGlassGrant.__tablename__)
    session = gate.session
    if not _patient_in_tenant(session, organization_id=ctx.organization_id, patient_id=patient_id):
        raise NotFound("No such patient.")
    alert = alerts.raise_alert(
        session,
        organization_id=ctx.organization_id,
        kind=ALERT_KIND,
        severity="high",
        summary=f"Break-the-glass access invoked, reason {reason_code}",
        entity_type=BreakGlassGrant.__tablename__,
        notifier=notifier,
    )
    now = utcnow()
    created = gate.create(
        BreakGlassGrant,
        {
            "user_id": ctx.actor_id,
            "patient_id": patient_id,
            "reason_code": reason_code,
            "justification": text,
            "granted_at": now,
            "expires_at": now + duration,
            "review_status": "pending",
            "alert_id": alert.id,
        },
        permission=Permission.BREAK_GLASS,
    )
    alert.entity_id = created.id
    record(
        session,
        build_event(
            ctx,
            action="break_glass",
            permission=Permission.BREAK_GLASS.value,
            entity_type=BreakGlassGrant.__tablename__,
            entity_id=created.id,
            patient_ids=[patient_id],
            reason=reason_code,
            detail={"expires_at": (now + duration).isoformat(), "alert_id": str(alert.id)},
        ),
    )
    return _grant(created, with_justification=False)


def record_refusal(
    *, db: Database, ctx: AccessContext, action: str, reason: str, entity_id: uuid.UUID | None = None
) -> None:
    """Audit a refused attempt (no recent re-authentication, reviewing one's own grant) in its own transaction."""
    permission = Permission.BREAK_GLASS if action == "break_glass" else Permission.BREAK_GLASS_REVIEW
    with db.session(tenant_id=ctx.organization_id) as session:
        record(
            session,
            build_event(
                ctx,
                action=action,
                outcome="denied",
                permission=permission.value,
                entity_type=BreakGlassGrant.__tablename__,
                entity_id=entity_id,
                reason=reason,
            ),
        )


def active_grant_patient_ids(session: Session, *, user_id: uuid.UUID, organization_id: uuid.UUID) -> set[uuid.UUID]:
    """Patients on which ``user_id`` holds a running (not expired, not flagged) grant in ``organization_id``.

    ``session`` must be scoped to ``organization_id`` (the gate's session is). Reads no protected column.
    """
    stmt = select(BreakGlassGrant.patient_id).where(
        BreakGlassGrant.organization_id == organization_id,
        BreakGlassGrant.user_id == user_id,
        BreakGlassGrant.expires_at > utcnow(),
        BreakGlassGrant.review_status != "flagged",
    )
    return set(session.scalars(stmt))


def review_queue(
    *, gate: PHIGate, status: str | None = "pending", limit: int = 50, after: uuid.UUID | None = None
) -> list[Grant]:
    """Grants to review (oldest first), with justifications decrypted and the read audited by the gate."""
    if status is not None and status not in REVIEW_STATUSES:
        raise ValidationFailed("Unknown review status.")
    stmt = select(BreakGlassGrant).order_by(BreakGlassGrant.id).limit(max(1, min(limit, MAX_PAGE)))
    if status is not None:
        stmt = stmt.where(BreakGlassGrant.review_status == status)
    if after is not None:
        stmt = stmt.where(BreakGlassGrant.id > after)
    records = gate.select(stmt, model=BreakGlassGrant, permission=Permission.BREAK_GLASS_REVIEW, action="review_list")
    return [_grant(r, with_justification=True) for r in records]


def review(*, gate: PHIGate, grant_id: uuid.UUID, decision: str, note_code: str) -> Grant:
    """Approve or flag a pending grant. The reviewer cannot be its holder. Closes the grant's alert."""
    ctx = gate.ctx
    if decision not in REVIEW_DECISIONS:
        raise ValidationFailed("The decision is approved or flagged.", code="invalid_decision")
    if note_code not in REVIEW_NOTE_CODES:
        raise ValidationFailed("Unknown review note code.", code="invalid_note_code")
    gate.authorize(Permission.BREAK_GLASS_REVIEW, entity_type=BreakGlassGrant.__tablename__, entity_id=grant_id)
    session = gate.session
    row = session.get(BreakGlassGrant, grant_id, with_for_update=True)
    if row is None:
        raise NotFound("No such grant.")
    if row.user_id == ctx.actor_id:
        raise PermissionDenied("You cannot review your own break-the-glass access.", code="own_grant")
    if row.review_status != "pending":
        raise Conflict("This grant was already reviewed.", code="already_reviewed")
    now = utcnow()
    changes: dict[str, Any] = {
        "review_status": decision,
        "reviewed_by": ctx.actor_id,
        "reviewed_at": now,
        "review_note_code": note_code,
    }
    if decision == "flagged" and _aware(row.expires_at) > now:
        changes["expires_at"] = now  # a flagged grant stops at once
    patient_id = row.patient_id
    updated = gate.update(BreakGlassGrant, grant_id, changes, permission=Permission.BREAK_GLASS_REVIEW)
    if row.alert_id is not None:
        alert = session.get(Alert, row.alert_id)
        if alert is not None and alert.status != "closed":
            alerts.close(session, ctx=ctx, alert_id=row.alert_id)
    record(
        session,
        build_event(
            ctx,
            action="break_glass_review",
            permission=Permission.BREAK_GLASS_REVIEW.value,
            entity_type=BreakGlassGrant.__tablename__,
            entity_id=grant_id,
            patient_ids=[patient_id],
            reason=decision,
            detail={"note_code": note_code},
        ),
    )
    values = dict(updated.values)
    values.setdefault("id", grant_id)
    return _grant(Record(id=grant_id, values=values), with_justification=False)
