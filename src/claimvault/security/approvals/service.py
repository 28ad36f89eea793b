"""The two-person rule: an action of a held kind is requested by one person and decided by a different one.

- ``needs_approval`` says whether an action must wait: account kinds (``mfa_reset``, ``user_reactivation``)
  always; money kinds (``write_off``, ``refund``, ``adjustment``) at or above a threshold (``Decimal``, never
  float; ``DEFAULT_THRESHOLD`` unless the organization's own is passed).
- ``request_approval`` records a pending request; its payload holds ids and codes only.
- ``decide`` records the decision in the caller's transaction. The decider must differ from the requester
  (whatever roles they hold), hold ``approval:decide``, and hold ``billing_manager`` for money kinds or
  ``security_admin`` for account kinds. A system context never decides.
- ``execute_approved`` runs the executor registered for the kind (``register_executor``), after the decision
  committed, and marks the request executed. ``decide_request`` does all of it, and records refusals.

Every step writes an audit event naming the actor; refusals are written in a transaction of their own.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from claimvault.accounts.sessions import now_utc, revoke_all_for_user
from claimvault.errors import ClaimVaultError, Conflict, NotFound, PermissionDenied, ValidationFailed
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext, UserContext
from claimvault.security.permissions import Permission, Role
from claimvault.storage.database import Database

MONEY_KINDS = frozenset({"write_off", "refund", "adjustment"})
ACCOUNT_KINDS = frozenset({"mfa_reset", "user_reactivation"})
KINDS = MONEY_KINDS | ACCOUNT_KINDS
STATUSES = ("pending", "approved", "rejected", "cancelled", "executed")
DEFAULT_THRESHOLD = Decimal("100.00")
MAX_AMOUNT = Decimal("9999999999.99")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_PAYLOAD_KEYS = 20


@dataclass(frozen=True)
class Execution:
    """What an executor receives: the database (it opens its own transactions) and the approved request."""

    db: Database
    ctx: UserContext  # the approver
    request: ApprovalRequest  # detached snapshot


Executor = Callable[[Execution], None]
_EXECUTORS: dict[str, Executor] = {}


def register_executor(kind: str, executor: Executor) -> None:
    """Register what runs when a request of ``kind`` is approved (billing registers the money kinds)."""
    if kind not in KINDS:
        raise ValueError("unknown approval kind")
    _EXECUTORS[kind] = executor


def executor_for(kind: str) -> Executor | None:
    return _EXECUTORS.get(kind)


# Rules ---------------------------------------------------------------------------------------------------------
def _money(amount: Any) -> Decimal:
    if isinstance(amount, float | bool) or not isinstance(amount, Decimal | int | str):
        raise ValidationFailed("Amounts are decimal numbers.", code="invalid_amount")
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Amounts are decimal numbers.", code="invalid_amount") from None
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT or value != value.quantize(Decimal("0.01")):
        raise ValidationFailed("Amounts are positive with at most two decimal places.", code="invalid_amount")
    return value.quantize(Decimal("0.01"))


def configure_threshold(amount: Decimal) -> None:
    """Set the threshold used when a caller passes none (the runtime sets it from ``approval_threshold``)."""
    global DEFAULT_THRESHOLD
    DEFAULT_THRESHOLD = _money(amount)


def needs_approval(*, kind: str, amount: Decimal | None = None, threshold: Decimal | None = None) -> bool:
    """True when the action must wait for a second person. Money kinds: ``amount >= threshold``."""
    if kind not in KINDS:
        raise ValidationFailed("Unknown approval kind.", code="invalid_kind")
    if kind in ACCOUNT_KINDS:
        return True
    limit = _money(threshold) if threshold is not None else DEFAULT_THRESHOLD
    return _money(amount) >= limit


def _check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Ids and codes only: short code-shaped strings, integers, booleans; no free text, no nesting."""
    if not isinstance(payload, dict) or len(payload) > MAX_PAYLOAD_KEYS:
        raise ValidationFailed("The payload holds at most 20 ids and codes.", code="invalid_payload")
    clean: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not CODE.match(key):
            raise ValidationFailed("Payload keys are codes.", code="invalid_payload")
        if isinstance(value, uuid.UUID):
            value = str(value)
        ok = value is None or isinstance(value, bool | int) or (isinstance(value, str) and CODE.match(value))
        if not ok:
            raise ValidationFailed("Payload values are ids and codes only.", code="invalid_payload")
        clean[key] = value
    return clean


def _decider_role(kind: str) -> str:
    return Role.BILLING_MANAGER.value if kind in MONEY_KINDS else Role.SECURITY_ADMIN.value


# Requests ------------------------------------------------------------------------------------------------------
def request_approval(
    session: Session,
    *,
    ctx: AccessContext,
    kind: str,
    amount: Decimal | None = None,
    subject_type: str,
    subject_id: uuid.UUID,
    payload: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Record a pending request in the caller's (tenant) transaction. One pending request per kind and subject."""
    if kind not in KINDS:
        raise ValidationFailed("Unknown approval kind.", code="invalid_kind")
    if ctx.organization_id is None:
        raise ValidationFailed("Approval requests belong to an organization.")
    if not CODE.match(subject_type):
        raise ValidationFailed("The subject type is a code.")
    value = _money(amount) if kind in MONEY_KINDS else None
    if kind in ACCOUNT_KINDS and amount is not None:
        raise ValidationFailed("Account requests carry no amount.", code="invalid_amount")
    clean = _check_payload(payload or {})
    existing = session.scalar(
        select(ApprovalRequest.id).where(
            ApprovalRequest.kind == kind,
            ApprovalRequest.subject_id == subject_id,
            ApprovalRequest.status == "pending",
        )
    )
    if existing is not None:
        raise Conflict("A request for this is already waiting for a decision.", code="approval_pending")
    row = ApprovalRequest(
        organization_id=ctx.organization_id,
        kind=kind,
        amount=value,
        currency="USD",
        subject_type=subject_type,
        subject_id=subject_id,
        payload=clean,
        requested_by=ctx.user_id if isinstance(ctx, UserContext) else None,
        requested_by_name=ctx.actor_name,
        requested_at=now_utc(),
        status="pending",
    )
    session.add(row)
    session.flush()
    record(
        session,
        build_event(
            ctx,
            action="approval.request",
            entity_type="approval_requests",
            entity_id=row.id,
            detail={"kind": kind, "subject_type": subject_type, "subject_id": str(subject_id)},
        ),
    )
    return row


def list_requests(*, db: Database, ctx: AccessContext, status: str | None = None) -> list[ApprovalRequest]:
    if status is not None and status not in STATUSES:
        raise ValidationFailed("Unknown status.")
    query = select(ApprovalRequest).order_by(ApprovalRequest.requested_at.desc(), ApprovalRequest.id.desc())
    if status is not None:
        query = query.where(ApprovalRequest.status == status)
    with db.session(tenant_id=ctx.organization_id) as session:
        return list(session.scalars(query.limit(500)))


def get_request(*, db: Database, ctx: AccessContext, request_id: uuid.UUID) -> ApprovalRequest:
    with db.session(tenant_id=ctx.organization_id) as session:
        row = session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id))
    if row is None:
        raise NotFound("No such approval request.")
    return row


# Decisions -----------------------------------------------------------------------------------------------------
def decide(
    session: Session,
    *,
    ctx: AccessContext,
    request_id: uuid.UUID,
    approve: bool,
    reason_code: str,
) -> ApprovalRequest:
    """Record the decision in the caller's transaction (run ``execute_approved`` after it commits)."""
    if not CODE.match(reason_code or ""):
        raise ValidationFailed("The reason is a code.", code="invalid_reason_code")
    row = session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id))
    if row is None:
        raise NotFound("No such approval request.")
    if row.status != "pending":
        raise Conflict("This request was already decided.", code="approval_decided")
    if not isinstance(ctx, UserContext):
        raise PermissionDenied("Approvals are decided by a person.", code="approval_needs_person")
    if row.requested_by is not None and row.requested_by == ctx.user_id:
        raise PermissionDenied("A different person must decide your request.", code="approval_same_person")
    if row.subject_type == "users" and row.subject_id == ctx.user_id:
        raise PermissionDenied("A different person must decide a request about you.", code="approval_same_person")
    if not ctx.allows(Permission.APPROVAL_DECIDE) or _decider_role(row.kind) not in ctx.roles:
        raise PermissionDenied("Your role cannot decide this kind of request.", code="approval_wrong_role")
    row.status = "approved" if approve else "rejected"
    row.decided_by = ctx.user_id
    row.decided_at = now_utc()
    row.reason_code = reason_code
    record(
        session,
        build_event(
            ctx,
            action="approval.approve" if approve else "approval.reject",
            permission=Permission.APPROVAL_DECIDE.value,
            entity_type="approval_requests",
            entity_id=row.id,
            reason=reason_code,
            detail={"kind": row.kind},
        ),
    )
    return row


def execute_approved(*, db: Database, ctx: UserContext, request_id: uuid.UUID) -> ApprovalRequest:
    """Run the kind's executor for an approved request, then mark it executed. Without an executor (a kind whose
    issue has not registered one yet) the request stays ``approved``."""
    row = get_request(db=db, ctx=ctx, request_id=request_id)
    if row.status != "approved":
        raise Conflict("Only approved requests are executed.", code="approval_not_approved")
    executor = executor_for(row.kind)
    if executor is None:
        return row
    try:
        executor(Execution(db=db, ctx=ctx, request=row))
    except ClaimVaultError:
        _audit_own_transaction(db, ctx, row.id, "approval.execute", "failure", "executor_refused")
        raise
    with db.session(tenant_id=ctx.organization_id) as session:
        fresh = session.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id))
        assert fresh is not None
        fresh.status = "executed"
        fresh.executed_at = now_utc()
        record(
            session,
            build_event(ctx, action="approval.execute", entity_type="approval_requests", entity_id=fresh.id),
        )
    return fresh


def decide_request(
    *, db: Database, ctx: AccessContext, request_id: uuid.UUID, approve: bool, reason_code: str
) -> ApprovalRequest:
    """Decide, and on approval execute. A refused decision is audited in its own transaction."""
    try:
        with db.session(tenant_id=ctx.organization_id) as session:
            row = decide(session, ctx=ctx, request_id=request_id, approve=approve, reason_code=reason_code)
    except PermissionDenied as exc:
        _audit_own_transaction(db, ctx, request_id, "approval.decide", "denied", exc.code)
        raise
    if approve and isinstance(ctx, UserContext):
        return execute_approved(db=db, ctx=ctx, request_id=row.id)
    return row


def _audit_own_transaction(
    db: Database, ctx: AccessContext, request_id: uuid.UUID, action: str, outcome: str, reason: str
) -> None:
    with db.session(tenant_id=ctx.organization_id) as session:
        record(
            session,
            build_event(
                ctx,
                action=action,
                outcome=outcome,
                permission=Permission.APPROVAL_DECIDE.value,
                entity_type="approval_requests",
                entity_id=request_id,
                reason=reason,
            ),
        )


# Executors of the account kinds ---------------------------------------------------------------------------------
def _execute_user_reactivation(execution: Execution) -> None:
    lifecycle = importlib.import_module("claimvault.accounts.lifecycle")
    lifecycle.reactivate_user(db=execution.db, ctx=execution.ctx, user_id=execution.request.subject_id)


def _execute_mfa_reset(execution: Execution) -> None:
    """Clear the user's second factors (the MFA service's ``apply_mfa_reset``) and end their sessions."""
    mfa = importlib.import_module("claimvault.security.mfa.service")
    apply = getattr(mfa, "apply_mfa_reset", None)
    if apply is None:
        raise ClaimVaultError(
            "Resetting a second factor is not available yet.", code="mfa_reset_unavailable", status_code=503
        )
    apply(db=execution.db, target_user_id=execution.request.subject_id)
    revoke_all_for_user(db=execution.db, user_id=execution.request.subject_id)


register_executor("user_reactivation", _execute_user_reactivation)
register_executor("mfa_reset", _execute_mfa_reset)
