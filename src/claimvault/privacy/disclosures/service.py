"""Disclosure services. Keyword-only; every function takes the PHI gate, which checks tenant and permission,
encrypts or decrypts, and audits. Recording a disclosure also writes a ``disclose`` audit event; producing an
accounting reads through the gate as an ``export`` and writes an ``accounting`` event naming the patient."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select

from claimvault.accounts.models import Organization
from claimvault.billing.patients.models import Patient
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.privacy.disclosures.accounting import AccountingInput, build_accounting
from claimvault.privacy.disclosures.models import Disclosure, DisclosureSuspension
from claimvault.privacy.disclosures.schemas import (
    Accounting,
    DisclosureIn,
    DisclosureOut,
    SuspensionIn,
    SuspensionOut,
)
from claimvault.security.audit import build_event, record
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission

RECORD_PERMISSION = Permission.DISCLOSURE_RECORD
READ_PERMISSION = Permission.DISCLOSURE_READ
# Suspensions withhold entries from a patient's accounting, so only holders of disclosure:read (compliance
# officers) manage them; a dedicated permission can replace this one without touching the routes' logic.
SUSPEND_PERMISSION = Permission.DISCLOSURE_READ
_TABLE = Disclosure.__tablename__


def _require_patient(gate: PHIGate, patient_id: uuid.UUID, permission: Permission) -> None:
    """The patient exists in this tenant and is within the caller's reach; otherwise "not found"."""
    gate.authorize(permission, entity_type=_TABLE)
    stmt = select(Patient.id).where(Patient.id == patient_id)
    scope = gate.scope(permission)
    if not scope.unrestricted:
        stmt = stmt.where(scope.criterion(Patient.id))
    if gate.session.scalar(stmt) is None:
        raise NotFound("No such patient.")


def _out(record: Record) -> DisclosureOut:
    return DisclosureOut.model_validate({"id": record.id, **record.values})


def _check_suspension(gate: PHIGate, suspension_id: uuid.UUID, purpose_code: str) -> None:
    kind = gate.session.scalar(select(DisclosureSuspension.agency_kind).where(DisclosureSuspension.id == suspension_id))
    if kind is None:
        raise NotFound("No such suspension.")
    if kind != purpose_code:
        raise ValidationFailed("The suspension's agency kind does not match the disclosure's purpose code.")


def record_disclosure(*, gate: PHIGate, patient_id: uuid.UUID, data: DisclosureIn) -> DisclosureOut:
    """Record one disclosure of the patient's PHI (also those exempt from the accounting, with their category)."""
    _require_patient(gate, patient_id, RECORD_PERMISSION)
    if data.suspension_id is not None:
        _check_suspension(gate, data.suspension_id, data.purpose_code)
    created = gate.create(
        Disclosure,
        {**data.model_dump(), "patient_id": patient_id, "recorded_by": gate.ctx.actor_id},
        permission=RECORD_PERMISSION,
    )
    record(
        gate.session,
        build_event(
            gate.ctx,
            action="disclose",
            permission=RECORD_PERMISSION.value,
            entity_type=_TABLE,
            entity_id=created.id,
            patient_ids=[patient_id],
            detail={"purpose_code": data.purpose_code, "excluded_category": data.excluded_category},
        ),
    )
    return _out(created)


def _sorted(records: Sequence[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.values.get("disclosed_on") or date.min, r.id))


def list_disclosures(*, gate: PHIGate, patient_id: uuid.UUID) -> list[DisclosureOut]:
    """Every recorded disclosure of the patient (exempt and suspended ones included), in date order."""
    _require_patient(gate, patient_id, READ_PERMISSION)
    stmt = select(Disclosure).where(Disclosure.patient_id == patient_id)
    return [
        _out(r)
        for r in _sorted(gate.select(stmt, model=Disclosure, permission=READ_PERMISSION, about_patient=patient_id))
    ]


def _organization(gate: PHIGate) -> Organization:
    org = gate.session.get(Organization, gate.ctx.organization_id)
    if org is None:  # the context was checked against the membership; this cannot normally happen
        raise NotFound("No such organization.")
    return org


def organization_today(gate: PHIGate) -> date:
    """Today's date where the organization is (the accounting's request date)."""
    try:
        zone = ZoneInfo(_organization(gate).time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def _suspended_ids(gate: PHIGate, *days: date) -> set[uuid.UUID]:
    """Suspensions in force on any of ``days`` (plain columns; nothing is decrypted)."""
    conditions = [(DisclosureSuspension.starts_on <= d) & (DisclosureSuspension.ends_on >= d) for d in days]
    return set(gate.session.scalars(select(DisclosureSuspension.id).where(or_(*conditions))))


def accounting_for(
    *,
    gate: PHIGate,
    patient_id: uuid.UUID,
    as_of: date | None = None,
    summarize: bool = False,
    output_format: str = "json",
) -> Accounting:
    """The patient's accounting for the six years up to ``as_of`` (default: today where the organization is).

    Exempt categories are left out, and so are disclosures under a suspension in force on ``as_of`` or today (an
    accounting never shows what an agency asked to withhold, even when dated back). Entries come in date order.
    """
    _require_patient(gate, patient_id, READ_PERMISSION)
    today = organization_today(gate)
    as_of = as_of or today
    if as_of > today:
        raise ValidationFailed("The accounting date cannot be in the future.")
    org = _organization(gate)
    stmt = select(Disclosure).where(Disclosure.patient_id == patient_id, Disclosure.excluded_category.is_(None))
    records = gate.select(stmt, model=Disclosure, permission=READ_PERMISSION, action="export", about_patient=patient_id)
    accounting = build_accounting(
        AccountingInput(
            organization_id=org.id,
            organization_name=org.name,
            patient_id=patient_id,
            as_of=as_of,
            generated_at=datetime.now(UTC),
            summarize=summarize,
            suspended=_suspended_ids(gate, as_of, today),
        ),
        [r.values for r in _sorted(records)],
    )
    record(
        gate.session,
        build_event(
            gate.ctx,
            action="accounting",
            permission=READ_PERMISSION.value,
            entity_type=_TABLE,
            patient_ids=[patient_id],
            detail={"format": output_format, "entry_count": accounting.entry_count, "summarized": summarize},
        ),
    )
    return accounting


def _suspension_out(record: Record, disclosure_ids: Sequence[uuid.UUID]) -> SuspensionOut:
    return SuspensionOut.model_validate({"id": record.id, **record.values, "disclosure_ids": list(disclosure_ids)})


def create_suspension(*, gate: PHIGate, data: SuspensionIn) -> SuspensionOut:
    """Record an agency's statement and link the disclosures it covers (more can be linked when recorded)."""
    values = data.model_dump(exclude={"disclosure_ids"})
    created = gate.create(
        DisclosureSuspension, {**values, "created_by": gate.ctx.actor_id}, permission=SUSPEND_PERMISSION
    )
    linked: list[uuid.UUID] = []
    for disclosure_id in dict.fromkeys(data.disclosure_ids):
        row = gate.session.execute(
            select(Disclosure.purpose_code, Disclosure.excluded_category).where(Disclosure.id == disclosure_id)
        ).first()
        if row is None:
            raise NotFound("No such disclosure.")
        if row.excluded_category is not None or row.purpose_code != data.agency_kind:
            raise Conflict("A listed disclosure was not made for this kind of agency.", code="disclosure_mismatch")
        gate.update(Disclosure, disclosure_id, {"suspension_id": created.id}, permission=SUSPEND_PERMISSION)
        linked.append(disclosure_id)
    return _suspension_out(created, linked)


def list_suspensions(*, gate: PHIGate) -> list[SuspensionOut]:
    stmt = select(DisclosureSuspension).order_by(DisclosureSuspension.starts_on, DisclosureSuspension.id)
    records = gate.select(stmt, model=DisclosureSuspension, permission=SUSPEND_PERMISSION)
    links: dict[uuid.UUID, list[uuid.UUID]] = {}
    if records:
        rows = gate.session.execute(
            select(Disclosure.suspension_id, Disclosure.id)
            .where(Disclosure.suspension_id.in_([r.id for r in records]))
            .order_by(Disclosure.id)
        )
        for suspension_id, disclosure_id in rows:
            if suspension_id is not None:
                links.setdefault(suspension_id, []).append(disclosure_id)
    return [_suspension_out(r, links.get(r.id, [])) for r in records]
