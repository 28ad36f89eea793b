"""Provider and facility services. Keyword-only; every function takes the PHI gate (a provider's tax id is
ciphertext, so even directory reads are tenant-checked, authorized and audited)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from claimvault.billing.providers.models import Facility, Provider
from claimvault.billing.providers.schemas import FacilityCreate, FacilityOut, ProviderCreate, ProviderOut
from claimvault.errors import Conflict
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

READ = Permission.PROVIDER_READ
MANAGE = Permission.PROVIDER_MANAGE


def _provider(record: Record) -> ProviderOut:
    return ProviderOut.model_validate({"id": record.id, **record.values, "withheld": sorted(record.masked)})


def _facility(record: Record) -> FacilityOut:
    return FacilityOut.model_validate({"id": record.id, **record.values})


def add_provider(*, gate: PHIGate, data: ProviderCreate) -> ProviderOut:
    gate.authorize(MANAGE, entity_type=Provider.__tablename__)
    if gate.session.scalar(select(Provider.id).where(Provider.npi == data.npi)) is not None:
        raise Conflict("A provider with this NPI already exists.")
    return _provider(gate.create(Provider, data.model_dump(exclude_none=True), permission=MANAGE))


def get_provider(*, gate: PHIGate, provider_id: uuid.UUID) -> ProviderOut:
    return _provider(gate.get(Provider, provider_id, permission=READ))


def list_providers(*, gate: PHIGate) -> list[ProviderOut]:
    stmt = select(Provider).order_by(Provider.family_name, Provider.organization_name, Provider.id)
    return [_provider(r) for r in gate.select(stmt, model=Provider, permission=READ, action="list")]


def add_facility(*, gate: PHIGate, data: FacilityCreate) -> FacilityOut:
    return _facility(gate.create(Facility, data.model_dump(exclude_none=True), permission=MANAGE))


def list_facilities(*, gate: PHIGate) -> list[FacilityOut]:
    stmt = select(Facility).order_by(Facility.name, Facility.id)
    return [_facility(r) for r in gate.select(stmt, model=Facility, permission=READ, action="list")]
