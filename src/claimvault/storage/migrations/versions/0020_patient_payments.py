"""Patient payments: payments and their applications to claims, refunds, patient-side adjustments (write-offs),
payment plans and their installments.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLES = (
    "patient_payments",
    "payment_plans",
    "patient_refunds",
    "payment_plan_installments",
    "patient_adjustments",
    "patient_payment_applications",
)


def upgrade() -> None:
    op.create_table(
        "patient_payments",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("unapplied", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("refunded", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("check_number", sa.LargeBinary(), nullable=True),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("processor", sa.String(length=32), nullable=True),
        sa.Column("charge_reference", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_patient_payments_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_patient_payments_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_patient_payments_payment_method_id_payment_methods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_payments")),
    )
    op.create_index(
        "ix_patient_payments_org_patient", "patient_payments", ["organization_id", "patient_id"], unique=False
    )
    op.create_index(op.f("ix_patient_payments_organization_id"), "patient_payments", ["organization_id"], unique=False)
    op.create_table(
        "payment_plans",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("installment_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("schedule", sa.String(length=8), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("paid", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("missed_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_payment_plans_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_payment_plans_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_payment_plans_payment_method_id_payment_methods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plans")),
    )
    op.create_index("ix_payment_plans_org_patient", "payment_plans", ["organization_id", "patient_id"], unique=False)
    op.create_index(op.f("ix_payment_plans_organization_id"), "payment_plans", ["organization_id"], unique=False)
    op.create_table(
        "patient_refunds",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("check_number", sa.LargeBinary(), nullable=True),
        sa.Column("refund_reference", sa.LargeBinary(), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approval_request_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_request_id"],
            ["approval_requests.id"],
            name=op.f("fk_patient_refunds_approval_request_id_approval_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_patient_refunds_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_patient_refunds_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["patient_payments.id"], name=op.f("fk_patient_refunds_payment_id_patient_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_refunds")),
    )
    op.create_index(
        "ix_patient_refunds_org_payment", "patient_refunds", ["organization_id", "payment_id"], unique=False
    )
    op.create_index(op.f("ix_patient_refunds_organization_id"), "patient_refunds", ["organization_id"], unique=False)
    op.create_table(
        "payment_plan_installments",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_code", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_payment_plan_installments_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_payment_plan_installments_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["patient_payments.id"],
            name=op.f("fk_payment_plan_installments_payment_id_patient_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["payment_plans.id"], name=op.f("fk_payment_plan_installments_plan_id_payment_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plan_installments")),
    )
    op.create_index(
        "ix_payment_plan_installments_org_status_due",
        "payment_plan_installments",
        ["organization_id", "status", "due_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_payment_plan_installments_organization_id"),
        "payment_plan_installments",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        "uq_payment_plan_installments_org_plan_seq",
        "payment_plan_installments",
        ["organization_id", "plan_id", "sequence"],
        unique=True,
    )
    op.create_table(
        "patient_adjustments",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approval_request_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_by", sa.String(length=64), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_request_id"],
            ["approval_requests.id"],
            name=op.f("fk_patient_adjustments_approval_request_id_approval_requests"),
        ),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_patient_adjustments_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_patient_adjustments_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_adjustments_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_adjustments")),
    )
    op.create_index(
        "ix_patient_adjustments_org_claim", "patient_adjustments", ["organization_id", "claim_id"], unique=False
    )
    op.create_index(
        op.f("ix_patient_adjustments_organization_id"), "patient_adjustments", ["organization_id"], unique=False
    )
    op.create_table(
        "patient_payment_applications",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("refunded", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_patient_payment_applications_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_patient_payment_applications_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_payment_applications_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["patient_payments.id"],
            name=op.f("fk_patient_payment_applications_payment_id_patient_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_payment_applications")),
    )
    op.create_index(
        "ix_patient_payment_applications_org_claim",
        "patient_payment_applications",
        ["organization_id", "claim_id"],
        unique=False,
    )
    op.create_index(
        "ix_patient_payment_applications_org_payment",
        "patient_payment_applications",
        ["organization_id", "payment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_patient_payment_applications_organization_id"),
        "patient_payment_applications",
        ["organization_id"],
        unique=False,
    )

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_rls(table)
        op.drop_table(table)  # its indexes go with it
