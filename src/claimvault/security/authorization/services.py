"""Managing relationships: care assignments within a practice, service agreements between a practice and a
billing company. Keyword-only; every change writes an audit event (ids and codes only) in its transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from claimvault.accounts.models import Membership, Organization
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.audit.pending import AuditRecord
from claimvault.security.authorization.models import AGREEMENT_STATUSES, CareAssignment, ServiceAgreement
from claimvault.security.authorization.relationships import agreement_active, care_assignment_active
from claimvault.security.context import AccessContext
from claimvault.security.permissions import Permission, Role
from claimvault.storage.base import Base, utcnow
from claimvault.storage.database import Database


@dataclass(frozen=True)
class CareAssignmentView:
    id: uuid.UUID
    provider_user_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None
    active: bool


@dataclass(frozen=True)
class AgreementView:
    id: uuid.UUID
    client_organization: str
    partner_organization: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    active: bool


def _check_period(starts_at: datetime, ends_at: datetime | None) -> None:
    if starts_at.tzinfo is None or (ends_at is not None and ends_at.tzinfo is None):
        raise ValidationFailed("Times need a time zone offset.")
    if ends_at is not None and ends_at <= starts_at:
        raise ValidationFailed("The end must come after the start.")


def _assignment_view(row: CareAssignment, now: datetime) -> CareAssignmentView:
    return CareAssignmentView(
        id=row.id,
        provider_user_id=row.provider_user_id,
        patient_id=row.patient_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        active=care_assignment_active(starts_at=row.starts_at, ends_at=row.ends_at, now=now),
    )


# Care assignments -----------------------------------------------------------------------------------------------
def create_care_assignment(
    *,
    db: Database,
    ctx: AccessContext,
    provider_user_id: uuid.UUID,
    patient_id: uuid.UUID,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> CareAssignmentView:
    now = utcnow()
    starts_at = starts_at or now
    _check_period(starts_at, ends_at)
    patients = Base.metadata.tables["patients"]
    with db.session(tenant_id=None) as session:
        is_provider = session.scalar(
            select(Membership.id).where(
                Membership.user_id == provider_user_id,
                Membership.organization_id == ctx.organization_id,
                Membership.role == Role.PROVIDER.value,
            )
        )
    if is_provider is None:
        raise ValidationFailed("The user is not a provider of this organization.", code="not_a_provider")
    with db.session(tenant_id=ctx.organization_id) as session:
        # Existence only, within the tenant (RLS as well on PostgreSQL): nothing is decrypted.
        exists = session.scalar(
            select(patients.c.id).where(patients.c.id == patient_id, patients.c.organization_id == ctx.organization_id)
        )
        if exists is None:
            raise NotFound("No such patient.")
        row = CareAssignment(
            organization_id=ctx.organization_id,
            provider_user_id=provider_user_id,
            patient_id=patient_id,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=ctx.actor_id,
        )
        session.add(row)
        session.flush()
        record(
            session,
            build_event(
                ctx,
                action="care_assignment.create",
                permission=Permission.CARE_ASSIGNMENT_MANAGE.value,
                entity_type="care_assignments",
                entity_id=row.id,
                patient_ids={patient_id},
                detail={"provider_user_id": str(provider_user_id)},
            ),
        )
        return _assignment_view(row, now)


def list_care_assignments(
    *,
    db: Database,
    ctx: AccessContext,
    provider_user_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    active_only: bool = False,
    limit: int = 200,
) -> list[CareAssignmentView]:
    now = utcnow()
    stmt = select(CareAssignment).order_by(CareAssignment.id).limit(max(1, min(limit, 500)))
    if provider_user_id is not None:
        stmt = stmt.where(CareAssignment.provider_user_id == provider_user_id)
    if patient_id is not None:
        stmt = stmt.where(CareAssignment.patient_id == patient_id)
    with db.session(tenant_id=ctx.organization_id) as session:
        views = [_assignment_view(r, now) for r in session.scalars(stmt)]
    return [v for v in views if v.active] if active_only else views


def end_care_assignment(*, db: Database, ctx: AccessContext, assignment_id: uuid.UUID) -> CareAssignmentView:
    """End an assignment now (the row stays, for the record)."""
    now = utcnow()
    with db.session(tenant_id=ctx.organization_id) as session:
        row = session.get(CareAssignment, assignment_id, with_for_update=True)
        if row is None:
            raise NotFound("No such care assignment.")
        if row.ends_at is None or not _before(row.ends_at, now):
            starts = _aware(row.starts_at)
            row.ends_at = max(starts, now)  # one that has not started yet never will
        session.flush()
        record(
            session,
            build_event(
                ctx,
                action="care_assignment.end",
                permission=Permission.CARE_ASSIGNMENT_MANAGE.value,
                entity_type="care_assignments",
                entity_id=row.id,
                patient_ids={row.patient_id},
                fields=["ends_at"],
            ),
        )
        return _assignment_view(row, now)


# Service agreements ---------------------------------------------------------------------------------------------
def _agreement_view(row: ServiceAgreement, slugs: dict[uuid.UUID, str], now: datetime) -> AgreementView:
    return AgreementView(
        id=row.id,
        client_organization=slugs.get(row.client_organization_id, ""),
        partner_organization=slugs.get(row.partner_organization_id, ""),
        status=row.status,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        active=agreement_active(status=row.status, starts_at=row.starts_at, ends_at=row.ends_at, now=now),
    )


def _slugs(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = session.execute(select(Organization.id, Organization.slug).where(Organization.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


def create_service_agreement(
    *,
    db: Database,
    ctx: AccessContext,
    partner_slug: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> AgreementView:
    """The practice of ``ctx`` engages a billing company. The same answer for an unknown slug and for an
    organization that is not a billing company, so slugs cannot be probed."""
    now = utcnow()
    starts_at = starts_at or now
    _check_period(starts_at, ends_at)
    with db.session(tenant_id=ctx.organization_id) as session:
        client = session.get(Organization, ctx.organization_id)
        partner = session.scalar(select(Organization).where(Organization.slug == partner_slug))
        if client is None or client.kind != "practice":
            raise ValidationFailed("Only a practice engages a billing company.", code="not_a_practice")
        if partner is None or partner.kind != "billing_company" or partner.id == client.id:
            raise ValidationFailed("No such billing company.", code="unknown_partner")
        current = session.scalar(
            select(ServiceAgreement.id).where(
                ServiceAgreement.client_organization_id == client.id,
                ServiceAgreement.partner_organization_id == partner.id,
                ServiceAgreement.status != "ended",
            )
        )
        if current is not None:
            raise Conflict("An agreement with this billing company is already in place.")
        row = ServiceAgreement(
            client_organization_id=client.id,
            partner_organization_id=partner.id,
            status="active",
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=ctx.actor_id,
        )
        session.add(row)
        session.flush()
        view = _agreement_view(row, {client.id: client.slug, partner.id: partner.slug}, now)
        record(session, _agreement_event(ctx, row, "service_agreement.create", client.id))
    _tell_partner(db, ctx, row, "service_agreement.create")
    return view


def list_service_agreements(*, db: Database, ctx: AccessContext) -> list[AgreementView]:
    """Agreements in which the organization of ``ctx`` is the client or the partner."""
    now = utcnow()
    org = ctx.organization_id
    with db.session(tenant_id=None) as session:
        rows = list(
            session.scalars(
                select(ServiceAgreement)
                .where(
                    or_(ServiceAgreement.client_organization_id == org, ServiceAgreement.partner_organization_id == org)
                )
                .order_by(ServiceAgreement.id)
            )
        )
        ids = {r.client_organization_id for r in rows} | {r.partner_organization_id for r in rows}
        slugs = _slugs(session, ids)
        return [_agreement_view(r, slugs, now) for r in rows]


_TRANSITIONS = {"active": {"suspended", "ended"}, "suspended": {"active", "ended"}, "ended": set()}


def change_service_agreement(
    *, db: Database, ctx: AccessContext, agreement_id: uuid.UUID, status: str
) -> AgreementView:
    """Suspend, resume or end an agreement; only the client practice may. Ending is final."""
    if status not in AGREEMENT_STATUSES:
        raise ValidationFailed("Unknown agreement status.")
    now = utcnow()
    with db.session(tenant_id=ctx.organization_id) as session:
        row = session.get(ServiceAgreement, agreement_id, with_for_update=True)
        if row is None or row.client_organization_id != ctx.organization_id:
            raise NotFound("No such service agreement.")
        if status != row.status:
            if status not in _TRANSITIONS[row.status]:
                raise Conflict("An ended agreement cannot change.")
            row.status = status
            if status == "ended" and (row.ends_at is None or not _before(row.ends_at, now)):
                row.ends_at = now
            session.flush()
        view = _agreement_view(row, _slugs(session, {row.client_organization_id, row.partner_organization_id}), now)
        record(session, _agreement_event(ctx, row, f"service_agreement.{status}", ctx.organization_id))
    _tell_partner(db, ctx, row, f"service_agreement.{status}")
    return view


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def _before(value: datetime, now: datetime) -> bool:
    return _aware(value) <= now


def _agreement_event(ctx: AccessContext, row: ServiceAgreement, action: str, org_id: uuid.UUID) -> AuditRecord:
    return build_event(
        ctx,
        action=action,
        permission=Permission.SERVICE_AGREEMENT_MANAGE.value,
        entity_type="service_agreements",
        entity_id=row.id,
        fields=("status",),
        organization_id=org_id,
        detail={
            "client_organization_id": str(row.client_organization_id),
            "partner_organization_id": str(row.partner_organization_id),
        },
    )


def _tell_partner(db: Database, ctx: AccessContext, row: ServiceAgreement, action: str) -> None:
    """The same event in the billing company's trail: its staff's reach changed."""
    with db.session(tenant_id=row.partner_organization_id) as session:
        record(session, _agreement_event(ctx, row, action, row.partner_organization_id))
