"""Remittance posting: posted 835 transaction sets, claim payments, line postings, CAS adjustments, RARC remarks,
PLB provider adjustments, the denial work queue, and the claim ledger with its running balances.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLES = (
    "remittances",
    "claim_balances",
    "remittance_claim_payments",
    "remittance_provider_adjustments",
    "denial_work_items",
    "ledger_entries",
    "remittance_line_postings",
    "remittance_adjustments",
    "remittance_remarks",
)


def upgrade() -> None:
    op.create_table(
        "remittances",
        sa.Column("x12_file_id", sa.Uuid(), nullable=True),
        sa.Column("payer_id", sa.Uuid(), nullable=True),
        sa.Column("payer_identifier", sa.String(length=80), nullable=False),
        sa.Column("trace_number", sa.LargeBinary(), nullable=False),
        sa.Column("key_digest", sa.LargeBinary(length=16), nullable=False),
        sa.Column("transaction_control", sa.String(length=9), nullable=False),
        sa.Column("payment_method", sa.String(length=3), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=False),
        sa.Column("payment_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("claim_payment_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_remittances_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_remittances_payer_id_payers")),
        sa.ForeignKeyConstraint(["x12_file_id"], ["x12_files.id"], name=op.f("fk_remittances_x12_file_id_x12_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittances")),
    )
    op.create_index(op.f("ix_remittances_organization_id"), "remittances", ["organization_id"], unique=False)
    op.create_index("uq_remittances_org_key", "remittances", ["organization_id", "key_digest"], unique=True)
    op.create_table(
        "claim_balances",
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("insurance_paid", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("adjusted", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("patient_paid", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("insurance_balance", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("patient_balance", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_claim_balances_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_claim_balances_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_claim_balances_patient_id_patients")),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_claim_balances_payer_id_payers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_balances")),
    )
    op.create_index(op.f("ix_claim_balances_organization_id"), "claim_balances", ["organization_id"], unique=False)
    op.create_index("uq_claim_balances_org_claim", "claim_balances", ["organization_id", "claim_id"], unique=True)
    op.create_table(
        "remittance_claim_payments",
        sa.Column("remittance_id", sa.Uuid(), nullable=True),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.String(length=2), nullable=False),
        sa.Column("charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("paid", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("patient_responsibility", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("filing_indicator", sa.String(length=2), nullable=True),
        sa.Column("payer_claim_number", sa.LargeBinary(), nullable=True),
        sa.Column("payer_claim_digest", sa.String(length=64), nullable=True),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("claim_status", sa.String(length=16), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_remittance_claim_payments_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_remittance_claim_payments_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_remittance_claim_payments_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["remittance_id"], ["remittances.id"], name=op.f("fk_remittance_claim_payments_remittance_id_remittances")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["remittance_claim_payments.id"],
            name=op.f("fk_remittance_claim_payments_reverses_id_remittance_claim_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_claim_payments")),
    )
    op.create_index(
        "ix_remittance_claim_payments_org_claim",
        "remittance_claim_payments",
        ["organization_id", "claim_id"],
        unique=False,
    )
    op.create_index(
        "ix_remittance_claim_payments_org_digest",
        "remittance_claim_payments",
        ["organization_id", "payer_claim_digest"],
        unique=False,
    )
    op.create_index(
        "ix_remittance_claim_payments_org_remittance",
        "remittance_claim_payments",
        ["organization_id", "remittance_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_remittance_claim_payments_organization_id"),
        "remittance_claim_payments",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "remittance_provider_adjustments",
        sa.Column("remittance_id", sa.Uuid(), nullable=False),
        sa.Column("provider_identifier", sa.String(length=50), nullable=False),
        sa.Column("fiscal_period", sa.Date(), nullable=False),
        sa.Column("reason_code", sa.String(length=2), nullable=False),
        sa.Column("reference", sa.LargeBinary(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_remittance_provider_adjustments_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["remittance_id"],
            ["remittances.id"],
            name=op.f("fk_remittance_provider_adjustments_remittance_id_remittances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_provider_adjustments")),
    )
    op.create_index(
        "ix_remittance_provider_adjustments_org_remit",
        "remittance_provider_adjustments",
        ["organization_id", "remittance_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_remittance_provider_adjustments_organization_id"),
        "remittance_provider_adjustments",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "denial_work_items",
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("claim_payment_id", sa.Uuid(), nullable=False),
        sa.Column("reason_codes", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worked_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_denial_work_items_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["claim_payment_id"],
            ["remittance_claim_payments.id"],
            name=op.f("fk_denial_work_items_claim_payment_id_remittance_claim_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_denial_work_items_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_denial_work_items_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_denial_work_items")),
    )
    op.create_index("ix_denial_work_items_org_status", "denial_work_items", ["organization_id", "status"], unique=False)
    op.create_index(
        op.f("ix_denial_work_items_organization_id"), "denial_work_items", ["organization_id"], unique=False
    )
    op.create_table(
        "ledger_entries",
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("service_line_id", sa.Uuid(), nullable=True),
        sa.Column("claim_payment_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("group_code", sa.String(length=2), nullable=True),
        sa.Column("reason_code", sa.String(length=5), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("insurance_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("patient_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_ledger_entries_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["claim_payment_id"],
            ["remittance_claim_payments.id"],
            name=op.f("fk_ledger_entries_claim_payment_id_remittance_claim_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_ledger_entries_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_ledger_entries_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["service_line_id"], ["service_lines.id"], name=op.f("fk_ledger_entries_service_line_id_service_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_org_claim", "ledger_entries", ["organization_id", "claim_id"], unique=False)
    op.create_index(
        "ix_ledger_entries_org_line", "ledger_entries", ["organization_id", "service_line_id"], unique=False
    )
    op.create_index(op.f("ix_ledger_entries_organization_id"), "ledger_entries", ["organization_id"], unique=False)
    op.create_table(
        "remittance_line_postings",
        sa.Column("claim_payment_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("service_line_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column("charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("paid", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("allowed", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("units", sa.Numeric(precision=9, scale=3), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_remittance_line_postings_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["claim_payment_id"],
            ["remittance_claim_payments.id"],
            name=op.f("fk_remittance_line_postings_claim_payment_id_remittance_claim_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_remittance_line_postings_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_remittance_line_postings_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["service_line_id"],
            ["service_lines.id"],
            name=op.f("fk_remittance_line_postings_service_line_id_service_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_line_postings")),
    )
    op.create_index(
        "ix_remittance_line_postings_org_line",
        "remittance_line_postings",
        ["organization_id", "service_line_id"],
        unique=False,
    )
    op.create_index(
        "ix_remittance_line_postings_org_payment",
        "remittance_line_postings",
        ["organization_id", "claim_payment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_remittance_line_postings_organization_id"),
        "remittance_line_postings",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "remittance_adjustments",
        sa.Column("claim_payment_id", sa.Uuid(), nullable=False),
        sa.Column("line_posting_id", sa.Uuid(), nullable=True),
        sa.Column("group_code", sa.String(length=2), nullable=False),
        sa.Column("reason_code", sa.String(length=5), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_payment_id"],
            ["remittance_claim_payments.id"],
            name=op.f("fk_remittance_adjustments_claim_payment_id_remittance_claim_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["line_posting_id"],
            ["remittance_line_postings.id"],
            name=op.f("fk_remittance_adjustments_line_posting_id_remittance_line_postings"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_remittance_adjustments_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_adjustments")),
    )
    op.create_index(
        "ix_remittance_adjustments_org_payment",
        "remittance_adjustments",
        ["organization_id", "claim_payment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_remittance_adjustments_organization_id"), "remittance_adjustments", ["organization_id"], unique=False
    )
    op.create_table(
        "remittance_remarks",
        sa.Column("claim_payment_id", sa.Uuid(), nullable=False),
        sa.Column("line_posting_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_payment_id"],
            ["remittance_claim_payments.id"],
            name=op.f("fk_remittance_remarks_claim_payment_id_remittance_claim_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["line_posting_id"],
            ["remittance_line_postings.id"],
            name=op.f("fk_remittance_remarks_line_posting_id_remittance_line_postings"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_remittance_remarks_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_remarks")),
    )
    op.create_index(
        "ix_remittance_remarks_org_payment", "remittance_remarks", ["organization_id", "claim_payment_id"], unique=False
    )
    op.create_index(
        op.f("ix_remittance_remarks_organization_id"), "remittance_remarks", ["organization_id"], unique=False
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_rls(table)
    op.drop_index("ix_remittance_remarks_organization_id", table_name="remittance_remarks")
    op.drop_index("ix_remittance_remarks_org_payment", table_name="remittance_remarks")
    op.drop_table("remittance_remarks")
    op.drop_index("ix_remittance_adjustments_organization_id", table_name="remittance_adjustments")
    op.drop_index("ix_remittance_adjustments_org_payment", table_name="remittance_adjustments")
    op.drop_table("remittance_adjustments")
    op.drop_index("ix_remittance_line_postings_org_line", table_name="remittance_line_postings")
    op.drop_index("ix_remittance_line_postings_organization_id", table_name="remittance_line_postings")
    op.drop_index("ix_remittance_line_postings_org_payment", table_name="remittance_line_postings")
    op.drop_table("remittance_line_postings")
    op.drop_index("ix_ledger_entries_org_line", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_org_claim", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_organization_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index("ix_denial_work_items_organization_id", table_name="denial_work_items")
    op.drop_index("ix_denial_work_items_org_status", table_name="denial_work_items")
    op.drop_table("denial_work_items")
    op.drop_index("ix_remittance_provider_adjustments_organization_id", table_name="remittance_provider_adjustments")
    op.drop_index("ix_remittance_provider_adjustments_org_remit", table_name="remittance_provider_adjustments")
    op.drop_table("remittance_provider_adjustments")
    op.drop_index("ix_remittance_claim_payments_org_digest", table_name="remittance_claim_payments")
    op.drop_index("ix_remittance_claim_payments_org_claim", table_name="remittance_claim_payments")
    op.drop_index("ix_remittance_claim_payments_organization_id", table_name="remittance_claim_payments")
    op.drop_index("ix_remittance_claim_payments_org_remittance", table_name="remittance_claim_payments")
    op.drop_table("remittance_claim_payments")
    op.drop_index("ix_claim_balances_organization_id", table_name="claim_balances")
    op.drop_index("uq_claim_balances_org_claim", table_name="claim_balances")
    op.drop_table("claim_balances")
    op.drop_index("uq_remittances_org_key", table_name="remittances")
    op.drop_index("ix_remittances_organization_id", table_name="remittances")
    op.drop_table("remittances")
