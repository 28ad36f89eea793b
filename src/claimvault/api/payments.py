"""Payment-method routes: add a card (tokenized by the processor, never stored), add a bank account (encrypted),
list masked views, remove. Card numbers travel only in request bodies and are never echoed back."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from claimvault.billing.payments import service
from claimvault.billing.payments.processor import FakeProcessor, PaymentProcessor
from claimvault.billing.payments.schemas import BankAccountIn, CardIn, PaymentMethodOut
from claimvault.runtime import Runtime
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}/patients/{patient_id}/payment-methods", tags=["payments"])

_FALLBACK_PROCESSOR = FakeProcessor()


def _processor(runtime: Runtime) -> PaymentProcessor:
    found: PaymentProcessor | None = getattr(runtime, "payment_processor", None)
    return found or _FALLBACK_PROCESSOR


@router.post("/card", status_code=201, summary="Add a card (tokenized by the payment processor)")
def add_card(
    patient_id: uuid.UUID,
    body: CardIn,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.MANAGE_PERMISSION))],
) -> PaymentMethodOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.add_card(
            gate=gate,
            processor=_processor(runtime),
            patient_id=patient_id,
            pan=body.number,
            exp_month=body.exp_month,
            exp_year=body.exp_year,
            cvc=body.cvc,
        )


@router.post("/bank-account", status_code=201, summary="Add a bank account (stored encrypted)")
def add_bank_account(
    patient_id: uuid.UUID,
    body: BankAccountIn,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.MANAGE_PERMISSION))],
) -> PaymentMethodOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.add_bank_account(
            gate=gate,
            patient_id=patient_id,
            routing_number=body.routing_number,
            account_number=body.account_number,
            account_type=body.account_type,
        )


@router.get("", summary="List a patient's payment methods (masked)")
def list_payment_methods(
    patient_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.READ_PERMISSION))],
) -> list[PaymentMethodOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_payment_methods(gate=gate, patient_id=patient_id)


@router.delete("/{method_id}", status_code=204, summary="Remove a payment method")
def remove_payment_method(
    patient_id: uuid.UUID,
    method_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(service.MANAGE_PERMISSION))],
) -> Response:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        service.remove_payment_method(gate=gate, patient_id=patient_id, method_id=method_id)
    return Response(status_code=204)
