"""Payment plans: a total paid in installments (monthly or biweekly from a start date) charged to the patient's
stored card by ``run_due_installments``, a job that posts each paid installment as a card payment applied oldest
claim first.

Each installment is charged at most once: the job takes the due installments under row locks (plans, then
installments, in id order; ``SKIP LOCKED`` on PostgreSQL so two runs never take the same one), skips any no
longer due, and charges with the installment id as the processor's idempotency key, so a run whose transaction
failed after charging replays the same charge when run again. A declined charge marks the installment ``missed``
(flagged, with a code, and counted on the plan); an unreachable processor leaves it due for the next run.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from claimvault.billing.patient_payments.models import PaymentPlan, PlanInstallment
from claimvault.billing.patient_payments.service import (
    PAY,
    ZERO,
    PaymentDeclined,
    Receipt,
    charge_card,
    money,
    post_payment,
    require_patient,
    stored_card_token,
)
from claimvault.billing.payments.processor import PaymentProcessor
from claimvault.billing.payments.service import PaymentProcessorUnavailable
from claimvault.billing.remittance.ledger import Ledger
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.security.gate import PHIGate
from claimvault.storage.base import utcnow

log = logging.getLogger(__name__)

SCHEDULES = ("monthly", "biweekly")
MAX_INSTALLMENTS = 120


@dataclass(frozen=True)
class InstallmentOut:
    id: uuid.UUID
    sequence: int
    due_date: date
    amount: Decimal
    status: str  # due | paid | missed | cancelled
    failure_code: str | None = None


@dataclass(frozen=True)
class PlanOut:
    id: uuid.UUID
    patient_id: uuid.UUID
    total: Decimal
    installment_amount: Decimal
    schedule: str
    start_date: date
    status: str  # active | completed | cancelled
    paid: Decimal
    missed_count: int
    installments: tuple[InstallmentOut, ...]


@dataclass(frozen=True)
class InstallmentRun:
    charged: tuple[Receipt, ...]
    missed: tuple[uuid.UUID, ...]  # installment ids
    deferred: tuple[uuid.UUID, ...]  # processor unreachable: still due


def due_dates(start: date, schedule: str, count: int) -> list[date]:
    """Biweekly: every 14 days. Monthly: the start's day of month, or the month's last day when shorter."""
    if schedule == "biweekly":
        return [start + timedelta(days=14 * n) for n in range(count)]
    dates = []
    for n in range(count):
        month_index = start.month - 1 + n
        year, month = start.year + month_index // 12, month_index % 12 + 1
        dates.append(date(year, month, min(start.day, calendar.monthrange(year, month)[1])))
    return dates


def split(total: Decimal, installment: Decimal) -> list[Decimal]:
    """Equal installments, the last one the remainder: they always sum to ``total`` exactly."""
    full, rest = divmod(total, installment)
    parts = [installment] * int(full)
    if rest:
        parts.append(rest.quantize(Decimal("0.01")))
    return parts


def _out(plan: PaymentPlan, installments: list[PlanInstallment]) -> PlanOut:
    return PlanOut(
        id=plan.id,
        patient_id=plan.patient_id,
        total=plan.total,
        installment_amount=plan.installment_amount,
        schedule=plan.schedule,
        start_date=plan.start_date,
        status=plan.status,
        paid=plan.paid,
        missed_count=plan.missed_count,
        installments=tuple(
            InstallmentOut(i.id, i.sequence, i.due_date, i.amount, i.status, i.failure_code)
            for i in sorted(installments, key=lambda i: i.sequence)
        ),
    )


def _installments(gate: PHIGate, plan_id: uuid.UUID, *, lock: bool = False) -> list[PlanInstallment]:
    stmt = select(PlanInstallment).where(PlanInstallment.plan_id == plan_id).order_by(PlanInstallment.id)
    if lock:
        stmt = stmt.with_for_update()
    return list(gate.session.scalars(stmt.execution_options(populate_existing=True)))


def create_payment_plan(
    *,
    gate: PHIGate,
    patient_id: uuid.UUID,
    payment_method_id: uuid.UUID,
    total: Decimal,
    installment_amount: Decimal,
    schedule: str,
    start_date: date,
) -> PlanOut:
    """A plan charged to the patient's stored card; every installment is scheduled now."""
    gate.authorize(PAY, entity_type=PaymentPlan.__tablename__)
    total = money(total, field="total")
    installment_amount = money(installment_amount, field="installment amount")
    if installment_amount > total:
        raise ValidationFailed("An installment cannot exceed the plan's total.", code="invalid_amount")
    if schedule not in SCHEDULES:
        raise ValidationFailed("The schedule is monthly or biweekly.", code="invalid_schedule")
    parts = split(total, installment_amount)
    if len(parts) > MAX_INSTALLMENTS:
        raise ValidationFailed("A plan has at most 120 installments.", code="too_many_installments")
    require_patient(gate, patient_id, PAY)
    stored_card_token(gate, patient_id=patient_id, payment_method_id=payment_method_id)  # a current card of theirs
    record = gate.create(
        PaymentPlan,
        {
            "patient_id": patient_id,
            "payment_method_id": payment_method_id,
            "total": total,
            "installment_amount": installment_amount,
            "schedule": schedule,
            "start_date": start_date,
            "status": "active",
            "paid": ZERO,
            "missed_count": 0,
            "created_by": Ledger(gate).actor,
            "created_at": utcnow(),
        },
        permission=PAY,
    )
    for n, (due, amount) in enumerate(zip(due_dates(start_date, schedule, len(parts)), parts, strict=True), 1):
        values = {"plan_id": record.id, "patient_id": patient_id, "sequence": n, "due_date": due, "amount": amount}
        gate.create(PlanInstallment, {**values, "status": "due"}, permission=PAY)
    plan = gate.session.get(PaymentPlan, record.id)
    assert plan is not None
    return _out(plan, _installments(gate, plan.id))


def get_payment_plan(*, gate: PHIGate, plan_id: uuid.UUID) -> PlanOut:
    record = gate.get(PaymentPlan, plan_id, permission=PAY)
    plan = gate.session.get(PaymentPlan, record.id)
    assert plan is not None
    return _out(plan, _installments(gate, plan_id))


def cancel_payment_plan(*, gate: PHIGate, plan_id: uuid.UUID) -> PlanOut:
    """Stop an active plan: its installments still due are cancelled (paid ones stay paid)."""
    gate.authorize(PAY, entity_type=PaymentPlan.__tablename__, entity_id=plan_id)
    stmt = select(PaymentPlan).where(PaymentPlan.id == plan_id).with_for_update()
    plan = gate.session.scalar(stmt.execution_options(populate_existing=True))
    if plan is None:
        raise NotFound("No such payment plan.")
    gate.check_in_scope(PaymentPlan, plan_id, PAY)
    if plan.status != "active":
        raise Conflict("Only an active plan is cancelled.", code="plan_not_active")
    installments = _installments(gate, plan_id, lock=True)
    for installment in installments:
        if installment.status == "due":
            installment.status = "cancelled"
    gate.update(PaymentPlan, plan_id, {"status": "cancelled"}, permission=PAY)
    return _out(plan, installments)


def run_due_installments(*, gate: PHIGate, processor: PaymentProcessor, today: date) -> InstallmentRun:
    """Charge every installment due on or before ``today`` of the active plans (safe to run again)."""
    gate.authorize(PAY, entity_type=PlanInstallment.__tablename__)
    session = gate.session
    due = (
        select(PlanInstallment.plan_id)
        .join(PaymentPlan, PaymentPlan.id == PlanInstallment.plan_id)
        .where(PlanInstallment.status == "due", PlanInstallment.due_date <= today, PaymentPlan.status == "active")
    )
    plan_ids = sorted(set(session.scalars(due)))
    plans = {
        p.id: p
        for p in session.scalars(
            select(PaymentPlan)
            .where(PaymentPlan.id.in_(plan_ids), PaymentPlan.status == "active")
            .order_by(PaymentPlan.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    }
    charged: list[Receipt] = []
    missed: list[uuid.UUID] = []
    deferred: list[uuid.UUID] = []
    for plan_id in sorted(plans):
        plan = plans[plan_id]
        installments = _installments(gate, plan_id, lock=True)
        for installment in installments:
            if installment.status != "due" or installment.due_date > today:
                continue
            outcome = _charge_installment(gate, processor, plan, installment)
            if isinstance(outcome, Receipt):
                charged.append(outcome)
            elif installment.status == "missed":
                missed.append(outcome)
            else:
                deferred.append(outcome)
        if all(i.status in ("paid", "cancelled") for i in installments) and plan.paid == plan.total:
            plan.status = "completed"
    session.flush()
    return InstallmentRun(tuple(charged), tuple(missed), tuple(deferred))


def _charge_installment(
    gate: PHIGate, processor: PaymentProcessor, plan: PaymentPlan, installment: PlanInstallment
) -> Receipt | uuid.UUID:
    """The receipt when paid; else the installment's id (left ``missed`` or, processor unreachable, ``due``)."""
    installment.attempted_at = utcnow()
    try:
        token = stored_card_token(gate, patient_id=plan.patient_id, payment_method_id=plan.payment_method_id)
    except NotFound:
        return _miss(plan, installment, "no_card")
    key = f"installment:{installment.id}"
    try:
        receipt = post_payment(
            gate,
            patient_id=plan.patient_id,
            amount=installment.amount,
            method="card",
            source="installment",
            values={"payment_method_id": plan.payment_method_id},
            charge=lambda: charge_card(processor, token, installment.amount, key=key),
            processor=processor,
        )
    except PaymentDeclined as declined:
        code = str((declined.details or [{}])[0].get("reason", "declined"))
        return _miss(plan, installment, code)
    except PaymentProcessorUnavailable:
        return installment.id
    installment.status = "paid"
    installment.payment_id = receipt.payment_id
    installment.failure_code = None
    plan.paid += installment.amount
    return receipt


def _miss(plan: PaymentPlan, installment: PlanInstallment, code: str) -> uuid.UUID:
    installment.status = "missed"
    installment.failure_code = code[:32]
    plan.missed_count += 1
    log.warning("payment plan installment missed", extra={"installment_id": str(installment.id), "code": code})
    return installment.id
