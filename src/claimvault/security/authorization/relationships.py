"""Relationship rules as policy functions: which patients a provider reaches (care assignments, plus any
registered source such as encounters, plus active break-the-glass grants), and which client practices a
billing company's staff may act for (an active service agreement).

Each rule takes ``now`` explicitly so tests can move the clock by editing stored dates instead of sleeping.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from claimvault.accounts.models import Membership, Organization
from claimvault.accounts.services import OrgMembership
from claimvault.security.authorization.models import CareAssignment, ServiceAgreement
from claimvault.security.permissions import Role
from claimvault.storage.base import utcnow
from claimvault.storage.database import Database

# A source of patients a provider has a treatment relationship with: (provider user id, organization id, now) ->
# a select of patient ids. Care assignments are built in; the billing work registers encounters here.
PatientRelationshipSource = Callable[[uuid.UUID, uuid.UUID, datetime], Select[Any]]


# Care assignments -----------------------------------------------------------------------------------------------
def care_assignment_active(*, starts_at: datetime, ends_at: datetime | None, now: datetime) -> bool:
    return _aware(starts_at) <= now and (ends_at is None or now < _aware(ends_at))


def active_care_assignments(now: datetime) -> ColumnElement[bool]:
    return and_(
        CareAssignment.starts_at <= now,
        or_(CareAssignment.ends_at.is_(None), CareAssignment.ends_at > now),
    )


def assigned_patients(provider_user_id: uuid.UUID, organization_id: uuid.UUID, now: datetime) -> Select[Any]:
    """Patient ids with an active care assignment of this provider in this organization."""
    return select(CareAssignment.patient_id).where(
        CareAssignment.organization_id == organization_id,
        CareAssignment.provider_user_id == provider_user_id,
        active_care_assignments(now),
    )


_PATIENT_SOURCES: list[PatientRelationshipSource] = [assigned_patients]


def register_patient_relationship_source(source: PatientRelationshipSource) -> None:
    """Add a source of treatment relationships (the billing work adds encounters: a provider with an encounter
    for a patient reaches that patient). Sources are unioned; each must filter on the organization itself."""
    if source not in _PATIENT_SOURCES:
        _PATIENT_SOURCES.append(source)


def patient_relationship_sources() -> tuple[PatientRelationshipSource, ...]:
    return tuple(_PATIENT_SOURCES)


def break_glass_patients(session: Session, *, user_id: uuid.UUID, organization_id: uuid.UUID) -> set[uuid.UUID]:
    """Patients reached through the user's active break-the-glass grants (none while that package does not
    provide ``active_grant_patient_ids``)."""
    lookup = _break_glass_lookup()
    return set() if lookup is None else set(lookup(session, user_id=user_id, organization_id=organization_id))


def _break_glass_lookup() -> Callable[..., Any] | None:
    """Imported lazily: the break-the-glass package builds on the gate, which uses these rules."""
    for module in ("claimvault.security.break_glass.service", "claimvault.security.break_glass"):
        try:
            found = getattr(importlib.import_module(module), "active_grant_patient_ids", None)
        except ImportError:
            continue
        if callable(found):
            return found
    return None


# Service agreements ---------------------------------------------------------------------------------------------
def agreement_active(*, status: str, starts_at: datetime, ends_at: datetime | None, now: datetime) -> bool:
    return status == "active" and care_assignment_active(starts_at=starts_at, ends_at=ends_at, now=now)


def active_agreements(now: datetime) -> ColumnElement[bool]:
    return and_(
        ServiceAgreement.status == "active",
        ServiceAgreement.starts_at <= now,
        or_(ServiceAgreement.ends_at.is_(None), ServiceAgreement.ends_at > now),
    )


def partner_organizations_of(
    session: Session, *, user_id: uuid.UUID, client_organization_id: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    """Billing companies in which the user holds ``partner_biller`` and that have an active agreement with the
    client practice."""
    stmt = (
        select(ServiceAgreement.partner_organization_id)
        .join(Membership, Membership.organization_id == ServiceAgreement.partner_organization_id)
        .where(
            Membership.user_id == user_id,
            Membership.role == Role.PARTNER_BILLER.value,
            ServiceAgreement.client_organization_id == client_organization_id,
            active_agreements(now),
        )
    )
    return list(session.scalars(stmt))


def partner_reaches(session: Session, *, user_id: uuid.UUID, client_organization_id: uuid.UUID, now: datetime) -> bool:
    return bool(
        partner_organizations_of(session, user_id=user_id, client_organization_id=client_organization_id, now=now)
    )


def partner_membership(*, db: Database, user_id: uuid.UUID, org_slug: str) -> OrgMembership | None:
    """Roles a billing company's user holds for a client practice under an active service agreement."""
    now = utcnow()
    with db.session(tenant_id=None) as session:
        client = session.scalar(select(Organization).where(Organization.slug == org_slug))
        if client is None:
            return None
        if not partner_reaches(session, user_id=user_id, client_organization_id=client.id, now=now):
            return None
    return OrgMembership(client, frozenset({Role.PARTNER_BILLER.value}))


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
