"""Alert routes: list and read an organization's alerts, acknowledge, assign and close them (all audited).

Alerts hold codes and ids only, so these routes carry no protected data and use a tenant session directly.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from claimvault.monitoring import alerts
from claimvault.monitoring.models import Alert
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/alerts", tags=["alerts"])

ReadCtx = Annotated[UserContext, Depends(requires(Permission.ALERT_READ))]
ManageCtx = Annotated[UserContext, Depends(requires(Permission.ALERT_MANAGE))]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    severity: str
    status: str
    summary: str
    entity_type: str | None
    entity_id: uuid.UUID | None
    assignee_user_id: uuid.UUID | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    closed_at: datetime | None
    closed_by: uuid.UUID | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_before: uuid.UUID | None


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID


def _out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(alert)


@router.get("", summary="List the organization's alerts, newest first")
def list_alerts(
    runtime: RuntimeDep,
    ctx: ReadCtx,
    status: Literal["open", "acknowledged", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=alerts.MAX_PAGE)] = 50,
    before: uuid.UUID | None = None,
) -> AlertPage:
    with runtime.db.session(tenant_id=ctx.organization_id) as session:
        items = [_out(a) for a in alerts.list_alerts(session, status=status, limit=limit, before=before)]
    return AlertPage(items=items, next_before=items[-1].id if len(items) == limit else None)


@router.get("/{alert_id}", summary="Read one alert")
def get_alert(alert_id: uuid.UUID, runtime: RuntimeDep, ctx: ReadCtx) -> AlertOut:
    with runtime.db.session(tenant_id=ctx.organization_id) as session:
        return _out(alerts.get_alert(session, alert_id=alert_id))


@router.post("/{alert_id}/acknowledge", summary="Acknowledge an alert")
def acknowledge_alert(alert_id: uuid.UUID, runtime: RuntimeDep, ctx: ManageCtx) -> AlertOut:
    with runtime.db.session(tenant_id=ctx.organization_id) as session:
        return _out(alerts.acknowledge(session, ctx=ctx, alert_id=alert_id))


@router.post("/{alert_id}/assign", summary="Assign an alert to a member who can read alerts")
def assign_alert(alert_id: uuid.UUID, body: AssignBody, runtime: RuntimeDep, ctx: ManageCtx) -> AlertOut:
    with runtime.db.session(tenant_id=ctx.organization_id) as session:
        return _out(alerts.assign(session, ctx=ctx, alert_id=alert_id, assignee_user_id=body.user_id))


@router.post("/{alert_id}/close", summary="Close an alert (final)")
def close_alert(alert_id: uuid.UUID, runtime: RuntimeDep, ctx: ManageCtx) -> AlertOut:
    with runtime.db.session(tenant_id=ctx.organization_id) as session:
        return _out(alerts.close(session, ctx=ctx, alert_id=alert_id))
