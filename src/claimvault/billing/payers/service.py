"""Payer and trading-partner services. Keyword-only; through the PHI gate (a partner's credential is ciphertext
and only ``payer:manage`` reaches it; no output shape carries it)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from claimvault.billing.payers.models import Payer, TradingPartner
from claimvault.billing.payers.schemas import PayerCreate, PayerOut, TradingPartnerCreate, TradingPartnerOut
from claimvault.errors import Conflict, NotFound
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

READ = Permission.PAYER_READ
MANAGE = Permission.PAYER_MANAGE


def _payer(record: Record) -> PayerOut:
    return PayerOut.model_validate({"id": record.id, **record.values})


def _partner(record: Record) -> TradingPartnerOut:
    values = {k: v for k, v in record.values.items() if k != "credential"}
    return TradingPartnerOut.model_validate(
        {"id": record.id, **values, "has_credential": record.values.get("credential") is not None}
    )


def add_trading_partner(*, gate: PHIGate, data: TradingPartnerCreate) -> TradingPartnerOut:
    gate.authorize(MANAGE, entity_type=TradingPartner.__tablename__)
    if gate.session.scalar(select(TradingPartner.id).where(TradingPartner.name == data.name)) is not None:
        raise Conflict("A trading partner with this name already exists.")
    return _partner(gate.create(TradingPartner, data.model_dump(exclude_none=True), permission=MANAGE))


def list_trading_partners(*, gate: PHIGate) -> list[TradingPartnerOut]:
    stmt = select(TradingPartner).order_by(TradingPartner.name)
    return [_partner(r) for r in gate.select(stmt, model=TradingPartner, permission=MANAGE, action="list")]


def trading_partner_record(*, gate: PHIGate, partner_id: uuid.UUID) -> Record:
    """The whole partner, credential included: for the transport only (``payer:manage``, audited)."""
    return gate.get(TradingPartner, partner_id, permission=MANAGE)


def add_payer(*, gate: PHIGate, data: PayerCreate) -> PayerOut:
    gate.authorize(MANAGE, entity_type=Payer.__tablename__)
    if gate.session.scalar(select(Payer.id).where(Payer.payer_id == data.payer_id)) is not None:
        raise Conflict("A payer with this payer id already exists.")
    if data.trading_partner_id is not None and gate.session.get(TradingPartner, data.trading_partner_id) is None:
        raise NotFound("No such trading partner.")
    return _payer(gate.create(Payer, data.model_dump(exclude_none=True), permission=MANAGE))


def get_payer(*, gate: PHIGate, payer_id: uuid.UUID) -> PayerOut:
    return _payer(gate.get(Payer, payer_id, permission=READ))


def list_payers(*, gate: PHIGate) -> list[PayerOut]:
    stmt = select(Payer).order_by(Payer.name, Payer.id)
    return [_payer(r) for r in gate.select(stmt, model=Payer, permission=READ, action="list")]
