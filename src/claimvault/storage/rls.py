"""PostgreSQL row-level security statements, used by migrations. Stable on purpose: migrations import them.

The tenant comes from the per-transaction setting ``claimvault.org_id``. A missing or empty setting makes
``NULLIF(...)::uuid`` NULL, and a comparison with NULL is never true, so every protected row is refused.
"""

from __future__ import annotations

from alembic import op

TENANT_EXPR = "NULLIF(current_setting('claimvault.org_id', true), '')::uuid"


def enable_tenant_rls(table: str) -> None:
    """Tenant isolation on ``table``: rows visible and writable only for the current tenant."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(
        f'CREATE POLICY tenant_isolation ON "{table}" '
        f"USING (organization_id = {TENANT_EXPR}) WITH CHECK (organization_id = {TENANT_EXPR})"
    )


def enable_append_only_rls(table: str) -> None:
    """For the audit trail: read own tenant's rows; insert rows of own tenant or of no tenant; nothing else."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(f'CREATE POLICY tenant_read ON "{table}" FOR SELECT USING (organization_id = {TENANT_EXPR})')
    op.execute(
        f'CREATE POLICY tenant_append ON "{table}" FOR INSERT '
        f"WITH CHECK (organization_id IS NULL OR organization_id = {TENANT_EXPR})"
    )


def disable_rls(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"')
    op.execute(f'DROP POLICY IF EXISTS tenant_read ON "{table}"')
    op.execute(f'DROP POLICY IF EXISTS tenant_append ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
