"""Authorization: care assignments (tenant-scoped, with RLS) and service agreements between organizations.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_assignments",
        sa.Column("provider_user_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_care_assignments_created_by_users")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_care_assignments_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_care_assignments_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["provider_user_id"], ["users.id"], name=op.f("fk_care_assignments_provider_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_assignments")),
    )
    with op.batch_alter_table("care_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_care_assignments_org_patient", ["organization_id", "patient_id"], unique=False)
        batch_op.create_index("ix_care_assignments_org_provider", ["organization_id", "provider_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_care_assignments_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "service_agreements",
        sa.Column("client_organization_id", sa.Uuid(), nullable=False),
        sa.Column("partner_organization_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_organization_id"],
            ["organizations.id"],
            name=op.f("fk_service_agreements_client_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_service_agreements_created_by_users")),
        sa.ForeignKeyConstraint(
            ["partner_organization_id"],
            ["organizations.id"],
            name=op.f("fk_service_agreements_partner_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_agreements")),
    )
    with op.batch_alter_table("service_agreements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_agreements_client_organization_id"), ["client_organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_agreements_partner_organization_id"), ["partner_organization_id"], unique=False
        )

    enable_tenant_rls("care_assignments")


def downgrade() -> None:
    disable_rls("care_assignments")
    with op.batch_alter_table("service_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_agreements_partner_organization_id"))
        batch_op.drop_index(batch_op.f("ix_service_agreements_client_organization_id"))
    op.drop_table("service_agreements")
    with op.batch_alter_table("care_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_assignments_organization_id"))
        batch_op.drop_index("ix_care_assignments_org_provider")
        batch_op.drop_index("ix_care_assignments_org_patient")
    op.drop_table("care_assignments")
