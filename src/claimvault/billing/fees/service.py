"""Fee schedule entries (added and listed through the gate, audited) and the charge lookup that service lines use
when no charge is given: the entry for the procedure and first modifier in force on the date of service, else the
procedure's entry without modifier; the charge is per unit."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from claimvault.billing.fees.models import FeeScheduleEntry
from claimvault.errors import Conflict
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

MANAGE = Permission.PAYER_MANAGE
READ = Permission.ENCOUNTER_READ


class FeeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(pattern=r"^[A-Za-z0-9]{5}$")
    modifier: str = Field(default="", pattern=r"^([A-Za-z0-9]{2})?$")
    charge: Decimal = Field(gt=0, max_digits=12, decimal_places=2, description="Per unit")
    effective_from: date
    effective_to: date | None = None

    @field_validator("procedure_code", "modifier")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _dates(self) -> FeeCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to must not be before effective_from")
        return self


class FeeOut(BaseModel):
    id: uuid.UUID
    procedure_code: str
    modifier: str
    charge: Decimal
    effective_from: date
    effective_to: date | None = None


def _out(record: Record) -> FeeOut:
    return FeeOut.model_validate({"id": record.id, **record.values})


def _in_force(on: date) -> list[ColumnElement[bool]]:
    return [
        FeeScheduleEntry.effective_from <= on,
        or_(FeeScheduleEntry.effective_to.is_(None), FeeScheduleEntry.effective_to >= on),
    ]


def add_fee(*, gate: PHIGate, data: FeeCreate) -> FeeOut:
    """Add an entry; one that overlaps an entry of the same procedure and modifier is refused (end that one first)."""
    gate.authorize(MANAGE, entity_type=FeeScheduleEntry.__tablename__)
    far = date.max
    clash = gate.session.scalar(
        select(FeeScheduleEntry.id).where(
            FeeScheduleEntry.procedure_code == data.procedure_code,
            FeeScheduleEntry.modifier == data.modifier,
            FeeScheduleEntry.effective_from <= (data.effective_to or far),
            or_(FeeScheduleEntry.effective_to.is_(None), FeeScheduleEntry.effective_to >= data.effective_from),
        )
    )
    if clash is not None:
        raise Conflict("The fee schedule already has a charge for this procedure and modifier on these dates.")
    return _out(gate.create(FeeScheduleEntry, data.model_dump(), permission=MANAGE))


def list_fees(*, gate: PHIGate, on: date | None = None) -> list[FeeOut]:
    """Every entry (or those in force ``on`` a day), by procedure and modifier."""
    stmt = select(FeeScheduleEntry).order_by(
        FeeScheduleEntry.procedure_code, FeeScheduleEntry.modifier, FeeScheduleEntry.effective_from
    )
    if on is not None:
        stmt = stmt.where(*_in_force(on))
    return [_out(r) for r in gate.select(stmt, model=FeeScheduleEntry, permission=READ)]


def unit_charge(session: Session, *, procedure_code: str, modifiers: list[str], on: date) -> Decimal | None:
    """The per-unit charge in force ``on`` the day: procedure + first modifier, else procedure alone."""
    wanted = [modifiers[0], ""] if modifiers else [""]
    rows = session.execute(
        select(FeeScheduleEntry.modifier, FeeScheduleEntry.charge).where(
            FeeScheduleEntry.procedure_code == procedure_code,
            FeeScheduleEntry.modifier.in_(wanted),
            *_in_force(on),
        )
    ).all()
    by_modifier = {r.modifier: r.charge for r in rows}
    for modifier in wanted:
        if modifier in by_modifier:
            return Decimal(by_modifier[modifier])
    return None
