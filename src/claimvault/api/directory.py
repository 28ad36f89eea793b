"""Billing directory routes: providers and facilities, trading partners, payers and the fee schedule of an
organization, through the PHI gate (tax ids and trading-partner credentials are encrypted; a credential is
written, never returned)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends

from claimvault.billing.fees import service as fees
from claimvault.billing.payers import service as payers
from claimvault.billing.payers.schemas import PayerCreate, PayerOut, TradingPartnerCreate, TradingPartnerOut
from claimvault.billing.providers import service as providers
from claimvault.billing.providers.schemas import FacilityCreate, FacilityOut, ProviderCreate, ProviderOut
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["providers and payers"])


@router.post("/providers", status_code=201, summary="Add a billing, rendering or referring provider")
def add_provider(
    body: ProviderCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PROVIDER_MANAGE))],
) -> ProviderOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return providers.add_provider(gate=gate, data=body)


@router.get("/providers", summary="List providers")
def list_providers(
    runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.PROVIDER_READ))]
) -> list[ProviderOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return providers.list_providers(gate=gate)


@router.get("/providers/{provider_id}", summary="Read one provider")
def get_provider(
    provider_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PROVIDER_READ))],
) -> ProviderOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return providers.get_provider(gate=gate, provider_id=provider_id)


@router.post("/facilities", status_code=201, summary="Add a service facility")
def add_facility(
    body: FacilityCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PROVIDER_MANAGE))],
) -> FacilityOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return providers.add_facility(gate=gate, data=body)


@router.get("/facilities", summary="List service facilities")
def list_facilities(
    runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.PROVIDER_READ))]
) -> list[FacilityOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return providers.list_facilities(gate=gate)


@router.post(
    "/trading-partners",
    status_code=201,
    summary="Add a clearinghouse or trading partner",
    description="ISA/GS identities and transport settings; the credential is stored encrypted and never returned.",
)
def add_trading_partner(
    body: TradingPartnerCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PAYER_MANAGE))],
) -> TradingPartnerOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return payers.add_trading_partner(gate=gate, data=body)


@router.get("/trading-partners", summary="List trading partners (credentials never shown; payer managers only)")
def list_trading_partners(
    runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.PAYER_MANAGE))]
) -> list[TradingPartnerOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return payers.list_trading_partners(gate=gate)


@router.post("/payers", status_code=201, summary="Add a payer")
def add_payer(
    body: PayerCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PAYER_MANAGE))],
) -> PayerOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return payers.add_payer(gate=gate, data=body)


@router.get("/payers", summary="List payers")
def list_payers(
    runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.PAYER_READ))]
) -> list[PayerOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return payers.list_payers(gate=gate)


@router.get("/payers/{payer_id}", summary="Read one payer")
def get_payer(
    payer_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PAYER_READ))],
) -> PayerOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return payers.get_payer(gate=gate, payer_id=payer_id)


@router.post(
    "/fee-schedule",
    status_code=201,
    summary="Add a fee schedule entry (per-unit charge of a procedure, optionally per modifier, for a date range)",
    description="Service lines given without a charge take the entry in force on the date of service times the"
    " units (procedure + first modifier, else the procedure alone). Overlapping entries are refused.",
)
def add_fee(
    body: fees.FeeCreate,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.PAYER_MANAGE))],
) -> fees.FeeOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return fees.add_fee(gate=gate, data=body)


@router.get("/fee-schedule", summary="The fee schedule (optionally only the entries in force on a day)")
def list_fees(
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.ENCOUNTER_READ))],
    on: date | None = None,
) -> list[fees.FeeOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return fees.list_fees(gate=gate, on=on)
