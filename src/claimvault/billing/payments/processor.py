"""The payment-processor interface, and the in-process fake that serves tests and the demo.

ClaimVault never stores a card number: it hands the number to a processor, which keeps it in its own vault and
returns an opaque token. Only the token, brand, last four digits and expiry are kept. Real processors are adapters
behind ``PaymentProcessor``; ``FakeProcessor`` behaves like one (Luhn and brand checks, expiry, its own vault,
idempotency keys) without leaving the process. Amounts are ``Decimal``, never float.

Processor errors carry a reason code and never the card number; services turn them into ClaimVaultErrors.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000.00")
# A Luhn-valid Visa number the fake processor tokenizes but declines to charge (like processors' test cards).
FAKE_DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True)
class CardToken:
    """What a processor returns for a card: nothing here lets anyone charge the card outside the processor."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None = None  # the same card gives the same fingerprint (duplicate detection)


@dataclass(frozen=True)
class Charge:
    id: str
    token: str
    amount: Decimal
    status: str  # "succeeded"


@dataclass(frozen=True)
class Refund:
    id: str
    charge_id: str
    amount: Decimal


class PaymentProcessorError(Exception):
    """A refusal by the processor. ``reason`` is a code; the message never holds card data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentProcessor(Protocol):
    name: str

    def tokenize_card(
        self, pan: str, exp_month: int, exp_year: int, cvc: str | None, *, idempotency_key: str
    ) -> CardToken: ...

    def charge(self, token: str, amount: Decimal, *, idempotency_key: str) -> Charge: ...

    def refund(self, charge_id: str, amount: Decimal, *, idempotency_key: str | None = None) -> Refund: ...


def luhn_valid(digits: str) -> bool:
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# (brand, allowed lengths, predicate on the number)
_BRANDS: tuple[tuple[str, frozenset[int], Callable[[str], bool]], ...] = (
    ("amex", frozenset({15}), lambda n: n[:2] in {"34", "37"}),
    ("visa", frozenset({13, 16, 19}), lambda n: n[0] == "4"),
    ("mastercard", frozenset({16}), lambda n: 51 <= int(n[:2]) <= 55 or 2221 <= int(n[:4]) <= 2720),
    (
        "discover",
        frozenset({16, 17, 18, 19}),
        lambda n: n[:4] == "6011" or n[:2] == "65" or 644 <= int(n[:3]) <= 649,
    ),
)


def card_brand(digits: str) -> str | None:
    """The brand by issuer identification number (IIN) range and length; None when unsupported."""
    if len(digits) < 4 or not digits.isascii() or not digits.isdigit():
        return None
    for brand, lengths, matches in _BRANDS:
        if len(digits) in lengths and matches(digits):
            return brand
    return None


def check_amount(amount: Decimal) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal):
        raise PaymentProcessorError("amount_not_decimal")
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(CENT):
        raise PaymentProcessorError("invalid_amount")
    return amount.quantize(CENT)


@dataclass
class _VaultEntry:
    pan: str = field(repr=False)
    exp_month: int
    exp_year: int


def _today() -> date:
    return datetime.now(UTC).date()


class FakeProcessor:
    """An in-process processor. The card number lives only in this object's vault, as in a real processor's."""

    name = "fake"

    def __init__(self, *, clock: Callable[[], date] = _today) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._vault: dict[str, _VaultEntry] = {}
        self._charges: dict[str, Charge] = {}
        self._refunded: dict[str, Decimal] = {}
        self._idempotent: dict[str, tuple[str, Any]] = {}  # key -> (request digest, result)

    def __repr__(self) -> str:
        return f"FakeProcessor(tokens={len(self._vault)})"

    def _digest(self, *parts: object) -> str:
        return hmac.new(self._secret, "\x1f".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()

    def _replay(self, key: str | None, digest: str) -> Any:
        if key is None or key not in self._idempotent:
            return None
        seen, result = self._idempotent[key]
        if seen != digest:
            raise PaymentProcessorError("idempotency_key_reused")
        return result

    def tokenize_card(
        self, pan: str, exp_month: int, exp_year: int, cvc: str | None, *, idempotency_key: str
    ) -> CardToken:
        digest = self._digest("tokenize", pan, exp_month, exp_year, cvc)
        with self._lock:
            replayed = self._replay(idempotency_key, digest)
            if replayed is not None:
                return replayed
            brand = card_brand(pan)
            if not luhn_valid(pan) or len(pan) < 12:
                raise PaymentProcessorError("invalid_number")
            if brand is None:
                raise PaymentProcessorError("unsupported_brand")
            if not 1 <= exp_month <= 12 or not 2000 <= exp_year <= 2100:
                raise PaymentProcessorError("invalid_expiry")
            today = self._clock()
            if (exp_year, exp_month) < (today.year, today.month):
                raise PaymentProcessorError("expired_card")
            if cvc is not None and (
                not cvc.isascii() or not cvc.isdigit() or len(cvc) != (4 if brand == "amex" else 3)
            ):
                raise PaymentProcessorError("invalid_cvc")
            token = f"tok_fake_{secrets.token_urlsafe(18)}"
            self._vault[token] = _VaultEntry(pan=pan, exp_month=exp_month, exp_year=exp_year)
            result = CardToken(
                token=token,
                brand=brand,
                last4=pan[-4:],
                exp_month=exp_month,
                exp_year=exp_year,
                fingerprint=f"fp_{self._digest('fingerprint', pan)[:24]}",
            )
            self._idempotent[idempotency_key] = (digest, result)
            return result

    def charge(self, token: str, amount: Decimal, *, idempotency_key: str) -> Charge:
        amount = check_amount(amount)
        digest = self._digest("charge", token, amount)
        with self._lock:
            replayed = self._replay(idempotency_key, digest)
            if replayed is not None:
                return replayed
            entry = self._vault.get(token)
            if entry is None:
                raise PaymentProcessorError("unknown_token")
            today = self._clock()
            if (entry.exp_year, entry.exp_month) < (today.year, today.month):
                raise PaymentProcessorError("expired_card")
            if entry.pan == FAKE_DECLINED_CARD:
                raise PaymentProcessorError("card_declined")
            result = Charge(id=f"ch_fake_{secrets.token_urlsafe(12)}", token=token, amount=amount, status="succeeded")
            self._charges[result.id] = result
            self._refunded[result.id] = Decimal("0.00")
            self._idempotent[idempotency_key] = (digest, result)
            return result

    def refund(self, charge_id: str, amount: Decimal, *, idempotency_key: str | None = None) -> Refund:
        amount = check_amount(amount)
        digest = self._digest("refund", charge_id, amount)
        with self._lock:
            replayed = self._replay(idempotency_key, digest)
            if replayed is not None:
                return replayed
            charge = self._charges.get(charge_id)
            if charge is None:
                raise PaymentProcessorError("unknown_charge")
            if self._refunded[charge_id] + amount > charge.amount:
                raise PaymentProcessorError("refund_exceeds_charge")
            self._refunded[charge_id] += amount
            result = Refund(id=f"re_fake_{secrets.token_urlsafe(12)}", charge_id=charge_id, amount=amount)
            if idempotency_key is not None:
                self._idempotent[idempotency_key] = (digest, result)
            return result

    def refunded_total(self, charge_id: str) -> Decimal:
        with self._lock:
            return self._refunded.get(charge_id, Decimal("0.00"))


def build_processor(settings: object) -> PaymentProcessor:
    """The processor for these settings. Only the fake exists so far; real processors are adapters behind
    ``PaymentProcessor`` selected here by a setting."""
    del settings
    return FakeProcessor()
