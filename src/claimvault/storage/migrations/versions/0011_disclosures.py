"""Accounting of disclosures (45 CFR 164.528): disclosures and suspensions of the accounting.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_suspensions",
        sa.Column("agency_name", sa.LargeBinary(), nullable=False),
        sa.Column("agency_kind", sa.String(length=32), nullable=False),
        sa.Column("statement_kind", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_disclosure_suspensions_created_by_users")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_disclosure_suspensions_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_suspensions")),
    )
    with op.batch_alter_table("disclosure_suspensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosure_suspensions_organization_id"), ["organization_id"])
    enable_tenant_rls("disclosure_suspensions")

    op.create_table(
        "disclosures",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("disclosed_on", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_name", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_address", sa.LargeBinary(), nullable=True),
        sa.Column("description", sa.LargeBinary(), nullable=False),
        sa.Column("purpose", sa.LargeBinary(), nullable=False),
        sa.Column("purpose_code", sa.String(length=32), nullable=False),
        sa.Column("excluded_category", sa.String(length=32), nullable=True),
        sa.Column("suspension_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_disclosures_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_disclosures_patient_id_patients")),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_disclosures_recorded_by_users")),
        sa.ForeignKeyConstraint(
            ["suspension_id"],
            ["disclosure_suspensions.id"],
            name=op.f("fk_disclosures_suspension_id_disclosure_suspensions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index("ix_disclosures_org_patient", ["organization_id", "patient_id"])
        batch_op.create_index(batch_op.f("ix_disclosures_organization_id"), ["organization_id"])
    enable_tenant_rls("disclosures")


def downgrade() -> None:
    disable_rls("disclosures")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosures_organization_id"))
        batch_op.drop_index("ix_disclosures_org_patient")
    op.drop_table("disclosures")
    disable_rls("disclosure_suspensions")
    with op.batch_alter_table("disclosure_suspensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_suspensions_organization_id"))
    op.drop_table("disclosure_suspensions")
