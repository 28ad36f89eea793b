"""Eligibility checks: one row per 270/271 exchange about a coverage (plan figures and service date encrypted).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLE = "eligibility_checks"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("service_date", sa.LargeBinary(), nullable=False),
        sa.Column("trace_number", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("reject_reasons", sa.String(length=120), nullable=True),
        sa.Column("plan_name", sa.LargeBinary(), nullable=True),
        sa.Column("copay", sa.LargeBinary(), nullable=True),
        sa.Column("deductible", sa.LargeBinary(), nullable=True),
        sa.Column("deductible_remaining", sa.LargeBinary(), nullable=True),
        sa.Column("coinsurance_percent", sa.LargeBinary(), nullable=True),
        sa.Column("out_of_pocket", sa.LargeBinary(), nullable=True),
        sa.Column("response_blob_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_eligibility_checks_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"], ["coverages.id"], name=op.f("fk_eligibility_checks_coverage_id_coverages")
        ),
        sa.ForeignKeyConstraint(
            ["response_blob_id"], ["blobs.id"], name=op.f("fk_eligibility_checks_response_blob_id_blobs")
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_eligibility_checks_created_by_users")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_eligibility_checks_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eligibility_checks")),
    )
    op.create_index("ix_eligibility_checks_org_coverage", TABLE, ["organization_id", "coverage_id"], unique=False)
    op.create_index("ix_eligibility_checks_org_patient", TABLE, ["organization_id", "patient_id"], unique=False)
    op.create_index(op.f("ix_eligibility_checks_organization_id"), TABLE, ["organization_id"], unique=False)
    enable_tenant_rls(TABLE)


def downgrade() -> None:
    disable_rls(TABLE)
    op.drop_index(op.f("ix_eligibility_checks_organization_id"), table_name=TABLE)
    op.drop_index("ix_eligibility_checks_org_patient", table_name=TABLE)
    op.drop_index("ix_eligibility_checks_org_coverage", table_name=TABLE)
    op.drop_table(TABLE)
