"""Refunds and patient-side write-offs, under the two-person rule.

- A refund gives back part of one payment: to the original card through the processor, or by check (number
  encrypted). It takes first from what the payment left on account, then un-applies it from the claims it paid
  (latest first, ledger kind ``patient_refund``). Refunds of a payment never exceed what it paid; a pending one
  reserves its amount until its approval is rejected or expires.
- A write-off (``small_balance``, ``bad_debt``: approval kind ``write_off``; ``courtesy``: ``adjustment``) lowers
  a claim's patient balance (ledger kind ``patient_write_off``) and never exceeds it.
- At or above the threshold (``threshold``, default the approvals service's) the action waits for a different
  person holding ``billing_manager`` (``security.approvals``); below it applies at once. ``register_executors``
  makes an approved request run; bounds are checked again then, under the same row locks. An approval decided
  after ``APPROVAL_VALID_FOR`` is refused and the request marked ``expired``: nothing moves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from claimvault.billing.claims.models import Claim
from claimvault.billing.patient_payments.models import PatientAdjustment, PatientPayment, PatientRefund
from claimvault.billing.patient_payments.service import CHECK_NUMBER, ZERO, PaymentApplication, money
from claimvault.billing.payments.processor import PaymentProcessor, PaymentProcessorError
from claimvault.billing.payments.service import PaymentProcessorUnavailable
from claimvault.billing.remittance.ledger import Ledger, Movement
from claimvault.errors import ClaimVaultError, Conflict, NotFound, ValidationFailed
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.approvals.service import (
    Execution,
    Executor,
    executor_for,
    needs_approval,
    register_executor,
    request_approval,
)
from claimvault.security.crypto.keys import KeyService
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow

# Refunds and write-offs are billing staff's (the front desk takes payments only).
ADJUST = Permission.REMITTANCE_POST
REFUND_METHODS = ("card", "check")
# category -> (approval kind, ledger reason code)
CATEGORIES = {
    "small_balance": ("write_off", "SMBAL"),
    "bad_debt": ("write_off", "BADDT"),
    "courtesy": ("adjustment", "CRTSY"),
}
APPROVAL_VALID_FOR = timedelta(days=7)
REASON = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")
LIVE_APPROVALS = ("pending", "approved")


class ExceedsAllowed(ClaimVaultError):
    status_code = 409
    code = "amount_exceeds_allowed"


class ApprovalExpired(Conflict):
    code = "approval_expired"


@dataclass(frozen=True)
class MoneyActionOut:
    """A refund or write-off: ``completed``/``applied`` at once, or ``pending_approval`` with its request."""

    id: uuid.UUID
    status: str
    amount: Decimal
    approval_request_id: uuid.UUID | None = None


def _reason(code: str) -> str:
    if not isinstance(code, str) or not REASON.match(code):
        raise ValidationFailed("The reason is a code (lower-case letters, digits, underscores).", code="invalid_reason")
    return code


def _locked(gate: PHIGate, model: Any, row_id: uuid.UUID) -> Any:
    stmt = select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    row = gate.session.scalar(stmt)
    if row is None:
        raise NotFound("No such record.")
    gate.check_in_scope(model, row_id, ADJUST)
    return row


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _reserved(gate: PHIGate, payment_id: uuid.UUID) -> Decimal:
    """Amounts of refunds of this payment still waiting for a live (pending or approved, unexpired) approval."""
    since = utcnow() - APPROVAL_VALID_FOR
    stmt = (
        select(func.sum(PatientRefund.amount))
        .join(ApprovalRequest, ApprovalRequest.id == PatientRefund.approval_request_id)
        .where(
            PatientRefund.payment_id == payment_id,
            PatientRefund.status == "pending_approval",
            ApprovalRequest.status.in_(LIVE_APPROVALS),
            ApprovalRequest.requested_at >= since,
        )
    )
    return Decimal(gate.session.scalar(stmt) or 0)


def _hold(
    gate: PHIGate, *, kind: str, amount: Decimal, model: Any, row_id: uuid.UUID, payload: dict[str, Any]
) -> uuid.UUID:
    request = request_approval(
        gate.session,
        ctx=gate.ctx,
        kind=kind,
        amount=amount,
        subject_type=model.__tablename__,
        subject_id=row_id,
        payload=payload,
    )
    gate.update(model, row_id, {"approval_request_id": request.id}, permission=ADJUST)
    return request.id


def _ready(gate: PHIGate, row: Any, approval_request_id: uuid.UUID | None) -> bool:
    """Still pending, and either never held (below the threshold, same transaction) or held by this request,
    which a second person approved."""
    if row.status != "pending_approval" or row.approval_request_id != approval_request_id:
        return False
    if approval_request_id is None:
        return True
    status = gate.session.scalar(select(ApprovalRequest.status).where(ApprovalRequest.id == approval_request_id))
    return status == "approved"


# Refunds -------------------------------------------------------------------------------------------------------
def request_refund(
    *,
    gate: PHIGate,
    processor: PaymentProcessor,
    payment_id: uuid.UUID,
    amount: Decimal,
    method: str,
    reason_code: str,
    check_number: str | None = None,
    threshold: Decimal | None = None,
) -> MoneyActionOut:
    """Refund ``amount`` of a payment: ``card`` (a card payment, to its card) or ``check`` (``check_number``)."""
    gate.authorize(ADJUST, entity_type=PatientRefund.__tablename__, entity_id=payment_id)
    amount = money(amount)
    code = _reason(reason_code)
    if method not in REFUND_METHODS:
        raise ValidationFailed("A refund goes to the original card or by check.", code="invalid_method")
    if method == "check" and (check_number is None or not CHECK_NUMBER.match(check_number)):
        raise ValidationFailed("A check refund needs the check number (digits).", code="invalid_check_number")
    if method == "card" and check_number is not None:
        raise ValidationFailed("A check number goes with a check refund only.")
    payment: PatientPayment = _locked(gate, PatientPayment, payment_id)
    if method == "card" and payment.method != "card":
        raise ValidationFailed("Only a card payment is refunded to a card.", code="invalid_method")
    if amount > payment.amount - payment.refunded - _reserved(gate, payment_id):
        raise ExceedsAllowed("A refund cannot exceed what the payment paid and was not refunded yet.")
    record = gate.create(
        PatientRefund,
        {
            "patient_id": payment.patient_id,
            "payment_id": payment_id,
            "amount": amount,
            "method": method,
            "check_number": check_number,
            "reason_code": code,
            "status": "pending_approval",
            "requested_by": Ledger(gate).actor,
            "requested_at": utcnow(),
        },
        permission=ADJUST,
    )
    if needs_approval(kind="refund", amount=amount, threshold=threshold):
        payload = {"payment_id": payment_id, "patient_id": payment.patient_id, "reason": code}
        request_id = _hold(gate, kind="refund", amount=amount, model=PatientRefund, row_id=record.id, payload=payload)
        return MoneyActionOut(record.id, "pending_approval", amount, request_id)
    _complete_refund(gate=gate, processor=processor, refund_id=record.id)
    return MoneyActionOut(record.id, "completed", amount)


def _complete_refund(
    *, gate: PHIGate, processor: PaymentProcessor, refund_id: uuid.UUID, approval_request_id: uuid.UUID | None = None
) -> None:
    """Carry out a pending refund (at once below the threshold, or by the approval executor)."""
    refund: PatientRefund = _locked(gate, PatientRefund, refund_id)
    if not _ready(gate, refund, approval_request_id):
        raise Conflict("This refund is not waiting to be carried out.", code="refund_not_pending")
    payment: PatientPayment = _locked(gate, PatientPayment, refund.payment_id)
    if refund.amount > payment.amount - payment.refunded:
        raise ExceedsAllowed("A refund cannot exceed what the payment paid and was not refunded yet.")
    remaining = refund.amount
    from_credit = min(payment.unapplied, remaining)
    payment.unapplied -= from_credit
    remaining -= from_credit
    if remaining > 0:
        applications = list(
            gate.session.scalars(
                select(PaymentApplication)
                .where(
                    PaymentApplication.payment_id == payment.id, PaymentApplication.amount > PaymentApplication.refunded
                )
                .order_by(PaymentApplication.applied_at.desc(), PaymentApplication.id.desc())
                .with_for_update()
            )
        )
        ledger = Ledger(gate)
        ledger.lock({a.claim_id for a in applications})
        ledger.flush()
        for application in applications:
            take = min(application.amount - application.refunded, remaining)
            application.refunded += take
            ledger.add(Movement(application.claim_id, "patient_refund", ZERO, take, method=refund.method))
            remaining -= take
            if remaining == 0:
                break
        ledger.flush()
    payment.refunded += refund.amount
    reference = None
    if refund.method == "card":
        charge_id = gate.get(PatientPayment, payment.id, permission=ADJUST).values.get("charge_reference")
        if not isinstance(charge_id, str):
            raise Conflict("The payment has no card charge to refund.", code="refund_without_charge")
        try:
            reference = processor.refund(charge_id, refund.amount, idempotency_key=f"patient-refund:{refund.id}").id
        except PaymentProcessorError:
            raise Conflict("The processor refused the refund.", code="refund_refused") from None
        except Exception:  # noqa: BLE001 - an adapter's own errors may quote the request
            raise PaymentProcessorUnavailable("The payment processor could not refund.") from None
    changes = {"status": "completed", "completed_by": Ledger(gate).actor, "completed_at": utcnow()}
    gate.update(PatientRefund, refund.id, {**changes, "refund_reference": reference}, permission=ADJUST)


# Write-offs ----------------------------------------------------------------------------------------------------
def request_write_off(
    *,
    gate: PHIGate,
    claim_id: uuid.UUID,
    amount: Decimal,
    category: str,
    reason_code: str,
    threshold: Decimal | None = None,
) -> MoneyActionOut:
    """Write off ``amount`` of the claim's patient balance (small balance, bad debt, courtesy)."""
    gate.authorize(ADJUST, entity_type=PatientAdjustment.__tablename__, entity_id=claim_id)
    amount = money(amount)
    code = _reason(reason_code)
    if category not in CATEGORIES:
        raise ValidationFailed("Unknown write-off category (bad_debt, courtesy, small_balance).", code="invalid_kind")
    gate.check_in_scope(Claim, claim_id, ADJUST)
    ledger = Ledger(gate)
    ledger.lock([claim_id])
    if claim_id not in ledger.claims:
        raise NotFound("No such record.")
    ledger.flush()
    if amount > ledger.balances[claim_id].patient_balance:
        raise ExceedsAllowed("A write-off cannot exceed what the patient owes on the claim.")
    patient_id = ledger.claims[claim_id].patient_id
    record = gate.create(
        PatientAdjustment,
        {
            "patient_id": patient_id,
            "claim_id": claim_id,
            "category": category,
            "reason_code": code,
            "amount": amount,
            "status": "pending_approval",
            "requested_by": ledger.actor,
            "requested_at": utcnow(),
        },
        permission=ADJUST,
    )
    kind = CATEGORIES[category][0]
    if needs_approval(kind=kind, amount=amount, threshold=threshold):
        payload = {"claim_id": claim_id, "patient_id": patient_id, "category": category, "reason": code}
        request_id = _hold(gate, kind=kind, amount=amount, model=PatientAdjustment, row_id=record.id, payload=payload)
        return MoneyActionOut(record.id, "pending_approval", amount, request_id)
    _apply_write_off(gate=gate, adjustment_id=record.id)
    return MoneyActionOut(record.id, "applied", amount)


def _apply_write_off(*, gate: PHIGate, adjustment_id: uuid.UUID, approval_request_id: uuid.UUID | None = None) -> None:
    """Carry out a pending write-off, checking the balance again under the claim's lock."""
    row: PatientAdjustment = _locked(gate, PatientAdjustment, adjustment_id)
    if not _ready(gate, row, approval_request_id):
        raise Conflict("This write-off is not waiting to be carried out.", code="write_off_not_pending")
    ledger = Ledger(gate)
    ledger.lock([row.claim_id])
    ledger.flush()
    if row.amount > ledger.balances[row.claim_id].patient_balance:
        raise ExceedsAllowed("A write-off cannot exceed what the patient owes on the claim.")
    code = CATEGORIES[row.category][1]
    ledger.add(Movement(row.claim_id, "patient_write_off", ZERO, -row.amount, reason_code=code))
    ledger.flush()
    changes = {"status": "applied", "applied_by": ledger.actor, "applied_at": utcnow()}
    gate.update(PatientAdjustment, row.id, changes, permission=ADJUST)


# Approval executors --------------------------------------------------------------------------------------------
def register_executors(*, keys: KeyService, processor: PaymentProcessor) -> None:
    """Make approved refunds and write-offs run (call once at start-up, with the runtime's keys and processor).
    Requests of the same kinds about other subjects go to the executor registered before, if any."""

    def refund(gate: PHIGate, request: ApprovalRequest) -> None:
        _complete_refund(gate=gate, processor=processor, refund_id=request.subject_id, approval_request_id=request.id)

    def write_off(gate: PHIGate, request: ApprovalRequest) -> None:
        _apply_write_off(gate=gate, adjustment_id=request.subject_id, approval_request_id=request.id)

    for kind, model, run in (
        ("refund", PatientRefund, refund),
        ("write_off", PatientAdjustment, write_off),
        ("adjustment", PatientAdjustment, write_off),
    ):
        previous = executor_for(kind)
        while previous is not None and getattr(previous, "patient_payments_wraps", False) is not False:
            previous = previous.patient_payments_wraps  # type: ignore[attr-defined]  # replace ours, keep others
        register_executor(kind, _executor(keys, model, run, previous))


def _executor(
    keys: KeyService, model: Any, run: Callable[[PHIGate, ApprovalRequest], None], previous: Executor | None
) -> Executor:
    table = model.__tablename__

    def execute(execution: Execution) -> None:
        request = execution.request
        if request.subject_type != table:
            if previous is None:
                raise Conflict("Nothing carries out this request.", code="approval_subject_unknown")
            previous(execution)
            return
        with open_gate(db=execution.db, keys=keys, ctx=execution.ctx) as gate:
            expired = utcnow() - _aware(request.requested_at) > APPROVAL_VALID_FOR
            if expired:
                row = _locked(gate, model, request.subject_id)
                if row.status == "pending_approval" and row.approval_request_id == request.id:
                    gate.update(model, row.id, {"status": "expired"}, permission=ADJUST)
            else:
                run(gate, request)
        if expired:
            raise ApprovalExpired("The approval came too late; request the action again.")

    execute.patient_payments_wraps = previous  # type: ignore[attr-defined]  # marks ours (and what it wraps)
    return execute
