"""Payments: tokenized payment methods (never card numbers), encrypted bank accounts.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("processor", sa.String(length=32), nullable=True),
        sa.Column("processor_token", sa.LargeBinary(), nullable=True),
        sa.Column("brand", sa.String(length=16), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("routing_number", sa.LargeBinary(), nullable=True),
        sa.Column("account_number", sa.LargeBinary(), nullable=True),
        sa.Column("account_type", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_payment_methods_created_by_users")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_payment_methods_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_payment_methods_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index("ix_payment_methods_org_patient", ["organization_id", "patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_methods_organization_id"), ["organization_id"], unique=False)
    enable_tenant_rls("payment_methods")


def downgrade() -> None:
    disable_rls("payment_methods")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_methods_organization_id"))
        batch_op.drop_index("ix_payment_methods_org_patient")
    op.drop_table("payment_methods")
