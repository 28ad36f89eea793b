"""Tamper-evident audit log: pending events, sequenced events, patient references.

The former ``audit_events`` table becomes ``audit_pending`` (its rows are sequenced by the next sequencer run);
a new ``audit_events`` holds the sequenced, hash-chained log. On PostgreSQL the log is append-only for every
role: a trigger refuses UPDATE, DELETE and TRUNCATE, and the application role holds only SELECT and INSERT.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_append_only_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Wrapped in sub-selects so PostgreSQL evaluates each setting once per query, not once per row: verification and
# queries scan many audit rows.
TENANT = "(SELECT NULLIF(current_setting('claimvault.org_id', true), '')::uuid)"
AUDIT_ROLE = "(SELECT current_setting('claimvault.audit_role', true))"
LOG_TABLES = ("audit_events", "audit_patient_refs")


def upgrade() -> None:
    disable_rls("audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_org_time")
    op.rename_table("audit_events", "audit_pending")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_pending RENAME CONSTRAINT pk_audit_events TO pk_audit_pending")
        op.execute(
            "ALTER TABLE audit_pending RENAME CONSTRAINT fk_audit_events_organization_id_organizations "
            "TO fk_audit_pending_organization_id_organizations"
        )
    with op.batch_alter_table("audit_pending", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))

    op.create_table(
        "audit_events",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=True),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column("patient_count", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_audit_events_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_events_id")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_org_time", ["organization_id", "recorded_at"], unique=False)
        batch_op.create_index("ix_audit_events_actor_time", ["actor_id", "recorded_at"], unique=False)
    op.create_table(
        "audit_patient_refs",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_audit_patient_refs_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["position"], ["audit_events.position"], name=op.f("fk_audit_patient_refs_position_audit_events")
        ),
        sa.PrimaryKeyConstraint("position", "patient_id", name=op.f("pk_audit_patient_refs")),
    )
    with op.batch_alter_table("audit_patient_refs", schema=None) as batch_op:
        batch_op.create_index("ix_audit_patient_refs_patient", ["patient_id", "position"], unique=False)

    if op.get_bind().dialect.name != "postgresql":
        return
    # Pending events: anyone may add an event of their own tenant (or of none); only the sequencer reads them.
    op.execute("ALTER TABLE audit_pending ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_pending FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_append ON audit_pending FOR INSERT "
        f"WITH CHECK (organization_id IS NULL OR organization_id = {TENANT})"
    )
    op.execute(f"CREATE POLICY sequencer_read ON audit_pending FOR SELECT USING ({AUDIT_ROLE} = 'sequencer')")
    op.execute(f"CREATE POLICY sequencer_take ON audit_pending FOR DELETE USING ({AUDIT_ROLE} = 'sequencer')")
    # The log: a tenant reads its own events; the sequencer appends; readers of the whole log see everything.
    for table in LOG_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_read ON {table} FOR SELECT "
            f"USING (organization_id = {TENANT} OR {AUDIT_ROLE} IN ('sequencer', 'reader'))"
        )
        op.execute(f"CREATE POLICY sequencer_append ON {table} FOR INSERT WITH CHECK ({AUDIT_ROLE} = 'sequencer')")
    op.execute(
        """
        CREATE FUNCTION claimvault_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in LOG_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION claimvault_audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION claimvault_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in LOG_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS claimvault_audit_append_only()")
        for policy in ("tenant_append", "sequencer_read", "sequencer_take"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON audit_pending")
        op.execute("ALTER TABLE audit_pending NO FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE audit_pending DISABLE ROW LEVEL SECURITY")
    op.drop_table("audit_patient_refs")
    op.drop_table("audit_events")
    with op.batch_alter_table("audit_pending", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
    op.rename_table("audit_pending", "audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events RENAME CONSTRAINT pk_audit_pending TO pk_audit_events")
        op.execute(
            "ALTER TABLE audit_events RENAME CONSTRAINT fk_audit_pending_organization_id_organizations "
            "TO fk_audit_events_organization_id_organizations"
        )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_org_time", ["organization_id", "recorded_at"], unique=False)
    enable_append_only_rls("audit_events")
