"""Automatic tenant scoping for ORM sessions: reads are filtered and writes are checked against the tenant.

A session carries at most one tenant (``session.info["tenant_id"]``), set by ``Database.session`` only after
the caller's membership (or system context) was checked. Querying a tenant-scoped table in a session without a
tenant is refused: deny by default, no cross-tenant reads.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from claimvault.errors import TenantViolation
from claimvault.storage.base import TenantScoped

TENANT_KEY = "tenant_id"


def session_tenant(session: Session) -> uuid.UUID | None:
    value = session.info.get(TENANT_KEY)
    return value if isinstance(value, uuid.UUID) else None


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statements(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        # Lazy loads of attributes on already-scoped objects; the criteria below propagate to relationships.
        pass
    touches_tenant_rows = any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)
    tenant = session_tenant(state.session)
    if touches_tenant_rows and tenant is None:
        raise TenantViolation("This operation needs an organization context.")
    if tenant is not None:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.organization_id == tenant,
                include_aliases=True,
                track_closure_variables=True,
            )
        )


@event.listens_for(Session, "before_flush")
def _check_tenant_on_write(session: Session, flush_context: Any, instances: Any) -> None:
    tenant = session_tenant(session)
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantScoped):
            continue
        if tenant is None:
            raise TenantViolation("This operation needs an organization context.")
        if obj.organization_id is None and obj in session.new:
            obj.organization_id = tenant
        if obj.organization_id != tenant:
            raise TenantViolation("A row of another organization cannot be written here.")
