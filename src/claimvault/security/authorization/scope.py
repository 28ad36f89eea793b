"""Row scopes: which patients an access context reaches with a permission, as data the PHI gate applies.

A context whose grant of a permission comes only from relationship-limited roles (``provider``,
``partner_biller``) reaches only the patients of its relationships: a provider, those of its active care
assignments (and any registered source, such as encounters); a partner biller, all of a client practice's
patients while an active service agreement links the two organizations. Active break-the-glass grants add
patients in either case. Any other granting role reaches the whole organization (its tenant already bounds it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, true
from sqlalchemy.orm import Session

from claimvault.security.authorization import relationships
from claimvault.security.context import AccessContext, UserContext
from claimvault.security.permissions import (
    PROTECTED_DATA_PERMISSIONS,
    RELATIONSHIP_LIMITED_ROLES,
    Permission,
    Role,
    role_allows,
)
from claimvault.storage.base import utcnow


@dataclass(frozen=True)
class PatientScope:
    """``unrestricted``, or the union of ``sources`` (selects of patient ids) and ``patient_ids``."""

    unrestricted: bool
    sources: tuple[Select[Any], ...] = ()
    patient_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    reason: str = ""

    def criterion(self, column: Any) -> ColumnElement[bool]:
        """A SQL condition on a patient-id column that keeps only reachable rows."""
        if self.unrestricted:
            return true()
        parts: list[ColumnElement[bool]] = [column.in_(source) for source in self.sources]
        if self.patient_ids:
            parts.append(column.in_(sorted(self.patient_ids)))
        return or_(*parts) if parts else false()


UNRESTRICTED = PatientScope(unrestricted=True)


def granting_roles(roles: Iterable[str], permission: Permission) -> frozenset[str]:
    return frozenset(r for r in roles if role_allows(r, permission))


def patient_scope(
    session: Session, ctx: AccessContext, permission: Permission, *, now: datetime | None = None
) -> PatientScope:
    """The patients ``ctx`` reaches with ``permission`` in the session's organization."""
    if not isinstance(ctx, UserContext):
        return UNRESTRICTED  # system contexts hold only what their command declared, for the whole tenant
    if permission not in PROTECTED_DATA_PERMISSIONS:
        return UNRESTRICTED  # e.g. break-the-glass itself, or its review: not limited by relationships
    granting = granting_roles(ctx.roles, permission)
    if granting - RELATIONSHIP_LIMITED_ROLES:
        return UNRESTRICTED
    now = now or utcnow()
    if Role.PARTNER_BILLER.value in granting and relationships.partner_reaches(
        session, user_id=ctx.user_id, client_organization_id=ctx.organization_id, now=now
    ):
        return UNRESTRICTED
    sources: tuple[Select[Any], ...] = ()
    if Role.PROVIDER.value in granting:
        sources = tuple(
            source(ctx.user_id, ctx.organization_id, now) for source in relationships.patient_relationship_sources()
        )
    grants = relationships.break_glass_patients(session, user_id=ctx.user_id, organization_id=ctx.organization_id)
    return PatientScope(
        unrestricted=False,
        sources=sources,
        patient_ids=frozenset(grants),
        reason="no_care_relationship" if Role.PROVIDER.value in granting else "no_service_agreement",
    )
