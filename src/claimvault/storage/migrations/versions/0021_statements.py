"""Patient statements: statement runs and the statements of each patient (the PDFs are encrypted blobs).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

TABLES = ("statement_runs", "statements")


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Numeric(precision=12, scale=2), nullable=False)


def upgrade() -> None:
    op.create_table(
        "statement_runs",
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("patients_with_balance", sa.Integer(), nullable=False),
        sa.Column("statements_created", sa.Integer(), nullable=False),
        sa.Column("already_issued", sa.Integer(), nullable=False),
        sa.Column("zero_or_credit", sa.Integer(), nullable=False),
        sa.Column("total_due", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_statement_runs_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_runs")),
    )
    op.create_index(op.f("ix_statement_runs_organization_id"), "statement_runs", ["organization_id"], unique=False)
    op.create_index("ix_statement_runs_org_date", "statement_runs", ["organization_id", "statement_date"], unique=False)
    op.create_table(
        "statements",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        _money("amount_due"),
        _money("aging_current"),
        _money("aging_31_60"),
        _money("aging_61_90"),
        _money("aging_over_90"),
        sa.Column("encounter_count", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name=op.f("fk_statements_blob_id_blobs")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_statements_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_statements_patient_id_patients")),
        sa.ForeignKeyConstraint(["run_id"], ["statement_runs.id"], name=op.f("fk_statements_run_id_statement_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
    )
    op.create_index(op.f("ix_statements_organization_id"), "statements", ["organization_id"], unique=False)
    op.create_index("ix_statements_org_run", "statements", ["organization_id", "run_id"], unique=False)
    op.create_index(
        "uq_statements_org_patient_date", "statements", ["organization_id", "patient_id", "statement_date"], unique=True
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_rls(table)
    op.drop_index("uq_statements_org_patient_date", table_name="statements")
    op.drop_index("ix_statements_org_run", table_name="statements")
    op.drop_index("ix_statements_organization_id", table_name="statements")
    op.drop_table("statements")
    op.drop_index("ix_statement_runs_org_date", table_name="statement_runs")
    op.drop_index("ix_statement_runs_organization_id", table_name="statement_runs")
    op.drop_table("statement_runs")
