"""Payment-method services. Keyword-only; every function takes the PHI gate.

A card is tokenized by the processor first; only the token (as ciphertext), brand, last four digits and expiry
are stored. The card number and CVC never reach the database, logs, audit events or exceptions: processor
refusals become plain ClaimVaultErrors raised ``from None`` so no chained exception can carry them. Bank routing
and account numbers are encrypted (class "financial") with the last four account digits kept as metadata.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from claimvault.billing.patients.models import Patient
from claimvault.billing.payments.models import PaymentMethod
from claimvault.billing.payments.processor import PaymentProcessor, PaymentProcessorError
from claimvault.billing.payments.schemas import BankAccountIn, CardIn, PaymentMethodOut
from claimvault.errors import ClaimVaultError, NotFound, ValidationFailed
from claimvault.ids import uuid7
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow

# Until dedicated payment-method permissions exist, writes need patient:update and reads patient:read.
MANAGE_PERMISSION = Permission.PAYMENT_METHOD_MANAGE
READ_PERMISSION = Permission.PAYMENT_METHOD_READ

_FINANCIAL_FIELDS = frozenset({"routing_number", "account_number", "processor_token"})
_CARD_REFUSALS = {
    "invalid_number": "The card number is not valid.",
    "unsupported_brand": "This card brand is not accepted.",
    "invalid_expiry": "The card expiry date is not valid.",
    "expired_card": "The card has expired.",
    "invalid_cvc": "The card security code is not valid.",
    "card_declined": "The card was declined.",
}


class PaymentProcessorUnavailable(ClaimVaultError):
    status_code = 502
    code = "payment_processor_unavailable"


def _require_patient(gate: PHIGate, patient_id: uuid.UUID, permission: Permission) -> None:
    """The patient exists in this tenant and is within the caller's reach; otherwise "not found"."""
    gate.authorize(permission, entity_type=PaymentMethod.__tablename__)
    stmt = select(Patient.id).where(Patient.id == patient_id)
    scope = gate.scope(permission)
    if not scope.unrestricted:
        stmt = stmt.where(scope.criterion(Patient.id))
    if gate.session.scalar(stmt) is None:
        raise NotFound("No such patient.")


def _view(record: Record) -> PaymentMethodOut:
    values = record.values
    base: dict[str, Any] = {
        "id": record.id,
        "patient_id": values["patient_id"],
        "kind": values["kind"],
        "created_at": values.get("created_at"),
    }
    if record.masked & _FINANCIAL_FIELDS:
        return PaymentMethodOut(**base, details_withheld=True)
    details = {k: values.get(k) for k in ("brand", "last4", "exp_month", "exp_year", "account_type")}
    return PaymentMethodOut(**base, **details)


def add_card(
    *,
    gate: PHIGate,
    processor: PaymentProcessor,
    patient_id: uuid.UUID,
    pan: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None = None,
    idempotency_key: str | None = None,
) -> PaymentMethodOut:
    """Tokenize the card with ``processor`` and store only what it returns. Authorization and the patient check
    come first, so refused callers cannot use ClaimVault to test card numbers."""
    _require_patient(gate, patient_id, MANAGE_PERMISSION)
    try:
        data = CardIn(number=pan, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
    except ValueError:
        raise ValidationFailed("The card details are not valid.") from None
    try:
        token = processor.tokenize_card(
            data.number, data.exp_month, data.exp_year, data.cvc, idempotency_key=idempotency_key or uuid7().hex
        )
    except PaymentProcessorError as refusal:
        message = _CARD_REFUSALS.get(refusal.reason, "The card was refused by the payment processor.")
        raise ValidationFailed(message, code="card_refused") from None
    except Exception:  # noqa: BLE001 - an adapter's own errors may quote the request; never let them through
        raise PaymentProcessorUnavailable("The payment processor could not process the card.") from None
    del data, pan, cvc  # out of this frame's locals before anything else can fail and be reported
    record = gate.create(
        PaymentMethod,
        {
            "patient_id": patient_id,
            "kind": "card",
            "processor": processor.name,
            "processor_token": token.token,
            "brand": token.brand,
            "last4": token.last4,
            "exp_month": token.exp_month,
            "exp_year": token.exp_year,
            "created_by": gate.ctx.actor_id,
        },
        permission=MANAGE_PERMISSION,
    )
    return _view(record)


def add_bank_account(
    *,
    gate: PHIGate,
    patient_id: uuid.UUID,
    routing_number: str,
    account_number: str,
    account_type: str,
) -> PaymentMethodOut:
    _require_patient(gate, patient_id, MANAGE_PERMISSION)
    try:
        data = BankAccountIn(
            routing_number=routing_number,
            account_number=account_number,
            account_type=account_type,
        )
    except ValueError:
        raise ValidationFailed("The bank account details are not valid.") from None
    record = gate.create(
        PaymentMethod,
        {
            "patient_id": patient_id,
            "kind": "bank_account",
            "routing_number": data.routing_number,
            "account_number": data.account_number,
            "last4": data.account_number[-4:],
            "account_type": data.account_type,
            "created_by": gate.ctx.actor_id,
        },
        permission=MANAGE_PERMISSION,
    )
    return _view(record)


def list_payment_methods(*, gate: PHIGate, patient_id: uuid.UUID) -> list[PaymentMethodOut]:
    """The patient's current payment methods, masked; one audit event for the list."""
    _require_patient(gate, patient_id, READ_PERMISSION)
    stmt = (
        select(PaymentMethod)
        .where(PaymentMethod.patient_id == patient_id, PaymentMethod.removed_at.is_(None))
        .order_by(PaymentMethod.id)
    )
    records = gate.select(
        stmt, model=PaymentMethod, permission=READ_PERMISSION, action="list", about_patient=patient_id
    )
    return [_view(r) for r in records]


def remove_payment_method(*, gate: PHIGate, patient_id: uuid.UUID, method_id: uuid.UUID) -> None:
    """Mark the method removed and forget its secrets (token, routing and account numbers)."""
    _require_patient(gate, patient_id, MANAGE_PERMISSION)
    stmt = select(PaymentMethod.id).where(
        PaymentMethod.id == method_id,
        PaymentMethod.patient_id == patient_id,
        PaymentMethod.removed_at.is_(None),
    )
    if gate.session.scalar(stmt) is None:
        raise NotFound("No such payment method.")
    gate.update(
        PaymentMethod,
        method_id,
        {"removed_at": utcnow(), "processor_token": None, "routing_number": None, "account_number": None},
        permission=MANAGE_PERMISSION,
        action="delete",
    )
