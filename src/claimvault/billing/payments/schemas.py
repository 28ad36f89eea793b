"""Payment-method data shapes. Submitted numbers are never echoed: validation messages carry no digits and
pydantic is told to leave inputs out of its errors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from claimvault.billing.payments.processor import luhn_valid

ACCOUNT_TYPES = ("checking", "savings")


def digits_only(value: str) -> str:
    """Drop spaces and dashes; anything else that is not an ASCII digit is refused."""
    cleaned = "".join(ch for ch in value if ch not in " -")
    if not cleaned.isascii() or not cleaned.isdigit():
        raise ValueError("must contain digits only")
    return cleaned


def aba_routing_valid(routing: str) -> bool:
    """Nine digits, a Federal Reserve prefix, and the ABA checksum (weights 3, 7, 1)."""
    if len(routing) != 9 or not routing.isascii() or not routing.isdigit():
        return False
    prefix = int(routing[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    number: str = Field(min_length=12, max_length=23)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str | None = Field(default=None, min_length=3, max_length=4)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        digits = digits_only(value)
        if not 12 <= len(digits) <= 19 or not luhn_valid(digits):
            raise ValueError("card number is not valid")
        return digits

    @field_validator("cvc")
    @classmethod
    def _cvc(cls, value: str | None) -> str | None:
        return None if value is None else digits_only(value)


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    routing_number: str = Field(min_length=9, max_length=11)
    account_number: str = Field(min_length=4, max_length=21)
    account_type: Literal["checking", "savings"]

    @field_validator("routing_number")
    @classmethod
    def _routing(cls, value: str) -> str:
        digits = digits_only(value)
        if not aba_routing_valid(digits):
            raise ValueError("routing number is not valid")
        return digits

    @field_validator("account_number")
    @classmethod
    def _account(cls, value: str) -> str:
        digits = digits_only(value)
        if not 4 <= len(digits) <= 17:
            raise ValueError("account number must have 4 to 17 digits")
        return digits


class PaymentMethodOut(BaseModel):
    """The masked view: never a card number, token, routing or full account number. ``details_withheld`` is set
    for readers whose minimum-necessary view removes financial data: they learn only that a method exists."""

    id: uuid.UUID
    patient_id: uuid.UUID
    kind: Literal["card", "bank_account"]
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    account_type: str | None = None
    created_at: datetime | None = None
    details_withheld: bool = False
