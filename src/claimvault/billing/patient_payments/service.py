"""Patient payments: cash, check (number encrypted) and card (charged through the tokenizing processor with a
stored payment method or a one-time token; never a card number) applied to the patient's claims oldest first or to
chosen claims. What is left stays on account as credit, to apply later or refund. Receipts hold ids and amounts.

Each payment is one transaction (the caller's gate). The claims are row-locked in claim-id order through the
ledger (``Ledger.lock``), like remittance posting, so payments and postings on the same claims queue instead of
losing updates; the allocation is computed from the balances read under those locks. A card is charged after
everything is validated and locked, just before the rows are written: a refusal raises and writes nothing, and a
failure after the charge refunds it before re-raising. Keyword-only; money is ``Decimal`` in whole cents.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import func, select

# Importing the models here registers their tables (until the storage model registry imports them itself).
from claimvault.billing.claims.models import Claim
from claimvault.billing.patient_payments.models import (
    PatientAdjustment,
    PatientPayment,
    PatientRefund,
    PaymentApplication,
    PaymentPlan,
    PlanInstallment,
)
from claimvault.billing.patients.models import Patient
from claimvault.billing.payments.models import PaymentMethod
from claimvault.billing.payments.processor import Charge, PaymentProcessor, PaymentProcessorError, luhn_valid
from claimvault.billing.payments.service import PaymentProcessorUnavailable
from claimvault.billing.remittance.ledger import Ledger, Movement
from claimvault.billing.remittance.models import ClaimBalance
from claimvault.errors import ClaimVaultError, NotFound, ValidationFailed
from claimvault.ids import uuid7
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow

__all__ = [
    "PatientAdjustment",
    "PatientPayment",
    "PatientRefund",
    "PaymentApplication",
    "PaymentPlan",
    "PlanInstallment",
]

log = logging.getLogger(__name__)

PAY = Permission.PAYMENT_POST
METHOD_READ = Permission.PAYMENT_METHOD_READ
METHODS = ("cash", "check", "card")
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000.00")
CHECK_NUMBER = re.compile(r"^[0-9]{1,15}$")
ONE_TIME_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
# Processor refusals turned into our own codes (anything else: "declined").
REFUSALS = frozenset({"card_declined", "expired_card", "unknown_token", "invalid_amount"})


class PaymentDeclined(ClaimVaultError):
    status_code = 402
    code = "payment_declined"


@dataclass(frozen=True)
class Applied:
    claim_id: uuid.UUID
    amount: Decimal


@dataclass(frozen=True)
class Receipt:
    """What a payment did: ids and amounts only (no check number, no card detail, no name)."""

    payment_id: uuid.UUID
    patient_id: uuid.UUID
    method: str
    amount: Decimal
    applied: tuple[Applied, ...]
    unapplied: Decimal  # left on account as credit
    received_at: datetime


def money(amount: Decimal, *, field: str = "amount") -> Decimal:
    """A positive ``Decimal`` in whole cents (never a float)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationFailed(f"The {field} must be a Decimal amount.", code="invalid_amount")
    if amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(CENT):
        raise ValidationFailed(f"The {field} must be positive, in whole cents.", code="invalid_amount")
    return amount.quantize(CENT)


def require_patient(gate: PHIGate, patient_id: uuid.UUID, permission: Permission) -> None:
    """The patient exists in this tenant and is within the caller's reach; otherwise "not found"."""
    stmt = select(Patient.id).where(Patient.id == patient_id)
    scope = gate.scope(permission)
    if not scope.unrestricted:
        stmt = stmt.where(scope.criterion(Patient.id))
    if gate.session.scalar(stmt) is None:
        raise NotFound("No such patient.")


def charge_card(processor: PaymentProcessor, token: str, amount: Decimal, *, key: str) -> Charge:
    """Charge through the processor; refusals become data-free errors raised ``from None``."""
    try:
        return processor.charge(token, amount, idempotency_key=key)
    except PaymentProcessorError as refusal:
        code = refusal.reason if refusal.reason in REFUSALS else "declined"
        raise PaymentDeclined("The card payment was declined.", details=[{"reason": code}]) from None
    except Exception:  # noqa: BLE001 - an adapter's own errors may quote the request; never let them through
        raise PaymentProcessorUnavailable("The payment processor could not take the payment.") from None


def stored_card_token(gate: PHIGate, *, patient_id: uuid.UUID, payment_method_id: uuid.UUID) -> str:
    """The processor token of the patient's current stored card (read through the gate, audited)."""
    record = gate.get(PaymentMethod, payment_method_id, permission=METHOD_READ)
    token = record.values.get("processor_token")
    usable = record["patient_id"] == patient_id and record["kind"] == "card" and record["removed_at"] is None
    if not usable or not isinstance(token, str):
        raise NotFound("No such payment method.")
    return token


def _one_time_token(card_token: str) -> str:
    digits = card_token.replace(" ", "").replace("-", "")
    if digits.isdigit() and 12 <= len(digits) <= 19 and luhn_valid(digits):
        raise ValidationFailed("Send a processor token, never a card number.", code="card_number_refused")
    if not ONE_TIME_TOKEN.match(card_token):
        raise ValidationFailed("The card token is not valid.", code="invalid_token")
    return card_token


def _owed_claims(gate: PHIGate, patient_id: uuid.UUID, claim_ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID]:
    """Chosen claims (all must be the patient's), or every claim of the patient with a patient balance."""
    if claim_ids is not None:
        wanted = set(claim_ids)
        if not wanted:
            raise ValidationFailed("Choose at least one claim.")
        found = set(gate.session.scalars(select(Claim.id).where(Claim.id.in_(wanted), Claim.patient_id == patient_id)))
        if found != wanted:
            raise NotFound("No such record.")
        for claim_id in sorted(wanted):
            gate.check_in_scope(Claim, claim_id, PAY)
        return sorted(wanted)
    stmt = select(ClaimBalance.claim_id).where(ClaimBalance.patient_id == patient_id, ClaimBalance.patient_balance > 0)
    return sorted(gate.session.scalars(stmt))


def _allocate(ledger: Ledger, claim_ids: Sequence[uuid.UUID], amount: Decimal) -> list[Applied]:
    """Oldest claim first, each up to its patient balance as read under the locks."""
    live = [c for c in claim_ids if c in ledger.claims]
    order = sorted(live, key=lambda c: (ledger.claims[c].created_at, c))
    remaining, parts = amount, []
    for claim_id in order:
        owed = ledger.balances[claim_id].patient_balance
        take = min(owed, remaining)
        if take > 0:
            parts.append(Applied(claim_id, take))
            remaining -= take
        if remaining == 0:
            break
    return parts


def _apply(gate: PHIGate, ledger: Ledger, payment: PatientPayment, parts: Sequence[Applied]) -> None:
    for part in parts:
        gate.create(
            PaymentApplication,
            {
                "payment_id": payment.id,
                "claim_id": part.claim_id,
                "patient_id": payment.patient_id,
                "amount": part.amount,
            },
            permission=PAY,
        )
        ledger.add(Movement(part.claim_id, "patient_paid", ZERO, -part.amount, method=payment.method))
    ledger.flush()


def post_payment(
    gate: PHIGate,
    *,
    patient_id: uuid.UUID,
    amount: Decimal,
    method: str,
    source: str,
    claim_ids: Sequence[uuid.UUID] | None = None,
    values: dict[str, object] | None = None,
    charge: Callable[[], Charge] | None = None,
    processor: PaymentProcessor | None = None,
) -> Receipt:
    """Lock, allocate, charge (when ``charge`` is given), then write the payment, its applications and ledger
    entries. Internal: callers have authorized and validated."""
    ledger = Ledger(gate)
    ledger.lock(_owed_claims(gate, patient_id, claim_ids))
    ledger.flush()  # the opening charge entries of a claim whose ledger was just opened
    parts = _allocate(ledger, [c for c in ledger.claims if ledger.claims[c].patient_id == patient_id], amount)
    extra = dict(values or {})
    done = charge() if charge is not None else None
    try:
        if done is not None:
            extra.update(charge_reference=done.id, processor=getattr(processor, "name", None))
        applied = sum((p.amount for p in parts), ZERO)
        record = gate.create(
            PatientPayment,
            {
                "patient_id": patient_id,
                "method": method,
                "source": source,
                "amount": amount,
                "unapplied": amount - applied,
                "refunded": ZERO,
                "received_at": utcnow(),
                "created_by": ledger.actor,
                **extra,
            },
            permission=PAY,
        )
        payment = gate.session.get(PatientPayment, record.id)
        assert payment is not None
        _apply(gate, ledger, payment, parts)
    except BaseException:
        if done is not None and processor is not None and charge is not None:
            _void(processor, done)
        raise
    log.info("patient payment posted", extra={"payment_id": str(payment.id), "applied_claims": len(parts)})
    return Receipt(payment.id, patient_id, method, amount, tuple(parts), amount - applied, payment.received_at)


def _void(processor: PaymentProcessor, done: Charge) -> None:
    """Give back a charge whose payment could not be recorded (best effort; the charge id is never logged)."""
    try:
        processor.refund(done.id, done.amount, idempotency_key=f"void:{done.id}")
    except Exception:  # noqa: BLE001 - the original failure is the one to report
        log.error("a card charge could not be voided after a failed payment; reconcile with the processor")


def record_payment(
    *,
    gate: PHIGate,
    patient_id: uuid.UUID,
    amount: Decimal,
    method: str,
    processor: PaymentProcessor | None = None,
    check_number: str | None = None,
    payment_method_id: uuid.UUID | None = None,
    card_token: str | None = None,
    claim_ids: Sequence[uuid.UUID] | None = None,
) -> Receipt:
    """A payment by the patient, applied oldest claim first (or to ``claim_ids``); the rest stays as credit.

    ``check``: ``check_number`` (digits, stored encrypted). ``card``: ``processor`` and either a stored card
    (``payment_method_id``) or a one-time processor token (``card_token``); a card number is refused."""
    gate.authorize(PAY, entity_type=PatientPayment.__tablename__)
    amount = money(amount)
    if method not in METHODS:
        raise ValidationFailed("Unknown payment method (allowed: card, cash, check).", code="invalid_method")
    if method != "check" and check_number is not None:
        raise ValidationFailed("A check number goes with a check payment only.")
    if method != "card" and (payment_method_id is not None or card_token is not None):
        raise ValidationFailed("A card goes with a card payment only.")
    values: dict[str, object] = {}
    if method == "check":
        if check_number is None or not CHECK_NUMBER.match(check_number):
            raise ValidationFailed("A check payment needs the check number (digits).", code="invalid_check_number")
        values["check_number"] = check_number
    require_patient(gate, patient_id, PAY)
    charge: Callable[[], Charge] | None = None
    if method == "card":
        if processor is None or (payment_method_id is None) == (card_token is None):
            raise ValidationFailed("A card payment needs a stored card or a one-time token.", code="invalid_card")
        if payment_method_id is not None:
            token = stored_card_token(gate, patient_id=patient_id, payment_method_id=payment_method_id)
            values["payment_method_id"] = payment_method_id
        else:
            token = _one_time_token(str(card_token))
        charge = partial(charge_card, processor, token, amount, key=f"patient-payment:{uuid7().hex}")
    return post_payment(
        gate,
        patient_id=patient_id,
        amount=amount,
        method=method,
        source="desk",
        claim_ids=claim_ids,
        values=values,
        charge=charge,
        processor=processor,
    )


def account_credit(*, gate: PHIGate, patient_id: uuid.UUID) -> Decimal:
    """Money the patient has on account (received, not applied to a claim, not refunded)."""
    gate.authorize(PAY, entity_type=PatientPayment.__tablename__)
    require_patient(gate, patient_id, PAY)
    total = gate.session.scalar(
        select(func.sum(PatientPayment.unapplied)).where(PatientPayment.patient_id == patient_id)
    )
    return Decimal(total or 0).quantize(CENT)


def apply_account_credit(
    *, gate: PHIGate, patient_id: uuid.UUID, claim_ids: Sequence[uuid.UUID] | None = None
) -> tuple[Applied, ...]:
    """Apply the patient's credit to what they owe (oldest claim first, or ``claim_ids``). Payments are locked
    before claims, as refunds lock them."""
    gate.authorize(PAY, entity_type=PaymentApplication.__tablename__)
    require_patient(gate, patient_id, PAY)
    stmt = (
        select(PatientPayment)
        .where(PatientPayment.patient_id == patient_id, PatientPayment.unapplied > 0)
        .order_by(PatientPayment.received_at, PatientPayment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    payments = list(gate.session.scalars(stmt))
    credit = sum((p.unapplied for p in payments), ZERO)
    if credit == 0:
        return ()
    ledger = Ledger(gate)
    ledger.lock(_owed_claims(gate, patient_id, claim_ids))
    ledger.flush()
    parts = _allocate(ledger, list(ledger.claims), credit)
    applied: list[Applied] = []
    for part in parts:
        left = part.amount
        for payment in payments:
            take = min(payment.unapplied, left)
            if take <= 0:
                continue
            payment.unapplied -= take
            left -= take
            _apply(gate, ledger, payment, [Applied(part.claim_id, take)])
            if left == 0:
                break
        applied.append(part)
    gate.session.flush()
    return tuple(applied)


def get_receipt(*, gate: PHIGate, payment_id: uuid.UUID) -> Receipt:
    """The receipt of a payment (audited read; ids and amounts only)."""
    record = gate.get(PatientPayment, payment_id, permission=PAY)
    rows = gate.select(
        select(PaymentApplication).where(PaymentApplication.payment_id == payment_id).order_by(PaymentApplication.id),
        model=PaymentApplication,
        permission=PAY,
    )
    parts = tuple(Applied(r["claim_id"], r["amount"]) for r in rows)
    v = record.values
    return Receipt(payment_id, v["patient_id"], v["method"], v["amount"], parts, v["unapplied"], v["received_at"])
