"""Key lifecycle: per-patient data keys (crypto-shredding) and retention holds.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TENANT_TABLES = ("patient_keys", "retention_holds")


def upgrade() -> None:
    op.create_table(
        "patient_keys",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapping_key_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_patient_keys_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_keys")),
        sa.UniqueConstraint("organization_id", "patient_id", "version", name="uq_patient_keys_org_patient_version"),
    )
    with op.batch_alter_table("patient_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_keys_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "retention_holds",
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("placed_by", sa.Uuid(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_retention_holds_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["placed_by"], ["users.id"], name=op.f("fk_retention_holds_placed_by_users")),
        sa.ForeignKeyConstraint(["released_by"], ["users.id"], name=op.f("fk_retention_holds_released_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_holds")),
    )
    with op.batch_alter_table("retention_holds", schema=None) as batch_op:
        batch_op.create_index("ix_retention_holds_org_patient", ["organization_id", "patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_retention_holds_organization_id"), ["organization_id"], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_rls(table)
    with op.batch_alter_table("retention_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_holds_organization_id"))
        batch_op.drop_index("ix_retention_holds_org_patient")
    op.drop_table("retention_holds")
    with op.batch_alter_table("patient_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_keys_organization_id"))
    op.drop_table("patient_keys")
