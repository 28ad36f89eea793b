"""The alert mechanism every detector uses: raise an alert in the caller's transaction, deliver it after commit.

``raise_alert`` adds the row (and its audit event) to the caller's session and queues a notification on that
session. The notification is sent only once the transaction has committed, so rolled-back work never alerts
anybody, and a failing channel is logged without data and never breaks the request. Acknowledge, assign and
close are audited state changes; ``closed`` is final.

Pass ``notifier=notifier_for(runtime)`` where a runtime is at hand; without one, the notifier configured by the
``CLAIMVAULT_ALERT_*`` environment is used.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, SessionTransaction

from claimvault.accounts.models import Membership, Organization
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.monitoring.models import SEVERITIES, STATUSES, Alert
from claimvault.monitoring.notifiers import AlertMessage, Notifier, deliver, notifier_for
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext
from claimvault.security.permissions import Permission, roles_allow
from claimvault.storage.base import utcnow

MAX_PAGE = 200
_PENDING_KEY = "claimvault.pending_alerts"
_LISTENING_KEY = "claimvault.alert_delivery"
# Summaries are built from codes: letters, digits and a little punctuation, no '@' and nothing long.
_SUMMARY = re.compile(r"^[A-Za-z0-9 _.,:;()=/+-]{1,200}$")
_KIND = re.compile(r"^[a-z][a-z0-9_.]{0,47}$")


def alert_link(organization_slug: str, alert_id: uuid.UUID) -> str:
    return f"/api/v1/orgs/{organization_slug}/alerts/{alert_id}"


def raise_alert(
    session: Session,
    *,
    organization_id: uuid.UUID,
    kind: str,
    severity: str,
    summary: str,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    notifier: Notifier | None = None,
) -> Alert:
    """Record an open alert in the caller's transaction; notify after that transaction commits.

    ``summary`` must be built from codes (never from names, notes or other submitted text).
    """
    if severity not in SEVERITIES:
        raise ValidationFailed("Unknown alert severity.")
    if not _KIND.match(kind):
        raise ValidationFailed("Alert kinds are lower-case codes.")
    if not _SUMMARY.match(summary):
        raise ValidationFailed("Alert summaries are short texts built from codes.")
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("No such organization.")
    alert = Alert(
        organization_id=organization_id,
        kind=kind,
        severity=severity,
        status="open",
        summary=summary,
        entity_type=entity_type,
        entity_id=entity_id,
        created_at=utcnow(),
    )
    session.add(alert)
    session.flush()
    record(
        session,
        build_event(
            None,
            action="alert_raised",
            organization_id=organization_id,
            entity_type="alerts",
            entity_id=alert.id,
            reason=kind,
            detail={"severity": severity},
        ),
    )
    message = AlertMessage(
        alert_id=alert.id,
        organization_id=organization_id,
        organization_slug=organization.slug,
        kind=kind,
        severity=severity,
        created_at=alert.created_at,
        link_path=alert_link(organization.slug, alert.id),
    )
    _queue(session, alert, message, notifier)
    return alert


def _queue(session: Session, alert: Alert, message: AlertMessage, notifier: Notifier | None) -> None:
    if not session.info.get(_LISTENING_KEY):
        event.listen(session, "after_commit", _deliver_pending)
        event.listen(session, "after_soft_rollback", _discard_pending)
        session.info[_LISTENING_KEY] = True
    session.info.setdefault(_PENDING_KEY, []).append((alert, message, notifier))


def _discard_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    """The whole transaction rolled back: nothing it raised is sent (savepoints are handled at delivery)."""
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def _deliver_pending(session: Session) -> None:
    """After commit: send what is still persistent (an alert added in a rolled-back savepoint was expunged)."""
    pending: list[tuple[Alert, AlertMessage, Notifier | None]] = session.info.pop(_PENDING_KEY, None) or []
    for alert, message, notifier in pending:
        if inspect(alert).persistent:
            deliver(notifier if notifier is not None else notifier_for(None), message)


def get_alert(session: Session, *, alert_id: uuid.UUID) -> Alert:
    """One alert of the session's tenant (tenant scoping makes other organizations' alerts not found)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> list[Alert]:
    """Newest first (UUIDv7 ids are creation-ordered); ``before`` pages on from the last id seen."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed("Unknown alert status.")
    stmt = select(Alert).order_by(Alert.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    if before is not None:
        stmt = stmt.where(Alert.id < before)
    return list(session.scalars(stmt))


def _audit_change(session: Session, ctx: AccessContext, alert: Alert, action: str, **detail: Any) -> None:
    record(
        session,
        build_event(
            ctx,
            action=action,
            permission=Permission.ALERT_MANAGE.value,
            entity_type="alerts",
            entity_id=alert.id,
            reason=alert.kind,
            detail={k: str(v) for k, v in detail.items()} or None,
        ),
    )


def _open_alert(session: Session, alert_id: uuid.UUID) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound("No such alert.")
    if alert.status == "closed":
        raise Conflict("The alert is closed.", code="alert_closed")
    return alert


def acknowledge(session: Session, *, ctx: AccessContext, alert_id: uuid.UUID) -> Alert:
    """Mark an open alert as seen by the acting user. Acknowledging twice keeps the first acknowledgement."""
    alert = _open_alert(session, alert_id)
    if alert.status == "open":
        alert.status = "acknowledged"
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = ctx.actor_id
        _audit_change(session, ctx, alert, "alert_acknowledged")
    return alert


def assign(session: Session, *, ctx: AccessContext, alert_id: uuid.UUID, assignee_user_id: uuid.UUID) -> Alert:
    """Give the alert to a member of its organization who may read alerts."""
    alert = _open_alert(session, alert_id)
    roles = frozenset(
        session.scalars(
            select(Membership.role).where(
                Membership.user_id == assignee_user_id, Membership.organization_id == alert.organization_id
            )
        )
    )
    if not roles_allow(roles, Permission.ALERT_READ):
        raise ValidationFailed(
            "The assignee must be a member of this organization who can read alerts.", code="invalid_assignee"
        )
    alert.assignee_user_id = assignee_user_id
    _audit_change(session, ctx, alert, "alert_assigned", assignee_user_id=assignee_user_id)
    return alert


def close(session: Session, *, ctx: AccessContext, alert_id: uuid.UUID) -> Alert:
    """Close the alert (final). Closing an already closed alert is a conflict."""
    alert = _open_alert(session, alert_id)
    now = utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = ctx.actor_id
    alert.status = "closed"
    alert.closed_at = now
    alert.closed_by = ctx.actor_id
    _audit_change(session, ctx, alert, "alert_closed")
    return alert
