"""The organization's fee schedule: a per-unit charge per procedure (and first modifier) by effective date.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_schedule_entries",
        sa.Column("procedure_code", sa.String(length=5), nullable=False),
        sa.Column("modifier", sa.String(length=2), nullable=False),
        sa.Column("charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fee_schedule_entries_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_schedule_entries")),
    )
    op.create_index(
        "ix_fee_schedule_org_code",
        "fee_schedule_entries",
        ["organization_id", "procedure_code", "modifier", "effective_from"],
        unique=False,
    )
    op.create_index(
        op.f("ix_fee_schedule_entries_organization_id"), "fee_schedule_entries", ["organization_id"], unique=False
    )
    enable_tenant_rls("fee_schedule_entries")


def downgrade() -> None:
    disable_rls("fee_schedule_entries")
    op.drop_index(op.f("ix_fee_schedule_entries_organization_id"), table_name="fee_schedule_entries")
    op.drop_index("ix_fee_schedule_org_code", table_name="fee_schedule_entries")
    op.drop_table("fee_schedule_entries")
