"""Billing core: providers, facilities, payers, trading partners and their X12 control numbers, encounters with
diagnoses and service lines, claims with their transitions, and X12 files; patients gain sex and an MRN (with a
blind index), coverages a link to a configured payer. Every new table is tenant-scoped (row-level security on
PostgreSQL); PHI columns hold ciphertext.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=True),
        sa.Column("place_of_service", sa.String(length=2), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("address_line1", sa.String(length=55), nullable=True),
        sa.Column("address_line2", sa.String(length=55), nullable=True),
        sa.Column("city", sa.String(length=30), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("postal_code", sa.String(length=9), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_facilities_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
    )
    op.create_index(op.f("ix_facilities_organization_id"), "facilities", ["organization_id"], unique=False)
    op.create_table(
        "providers",
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("organization_name", sa.String(length=60), nullable=True),
        sa.Column("family_name", sa.String(length=60), nullable=True),
        sa.Column("given_name", sa.String(length=35), nullable=True),
        sa.Column("taxonomy", sa.String(length=10), nullable=True),
        sa.Column("can_bill", sa.Boolean(), nullable=False),
        sa.Column("can_render", sa.Boolean(), nullable=False),
        sa.Column("can_refer", sa.Boolean(), nullable=False),
        sa.Column("tax_id", sa.LargeBinary(), nullable=True),
        sa.Column("tax_id_kind", sa.String(length=2), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=True),
        sa.Column("contact_phone", sa.String(length=10), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("address_line1", sa.String(length=55), nullable=True),
        sa.Column("address_line2", sa.String(length=55), nullable=True),
        sa.Column("city", sa.String(length=30), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("postal_code", sa.String(length=9), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_providers_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
    )
    op.create_index(op.f("ix_providers_organization_id"), "providers", ["organization_id"], unique=False)
    op.create_index("uq_providers_org_npi", "providers", ["organization_id", "npi"], unique=True)
    op.create_table(
        "trading_partners",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("isa_sender_qualifier", sa.String(length=2), nullable=False),
        sa.Column("isa_sender_id", sa.String(length=15), nullable=False),
        sa.Column("isa_receiver_qualifier", sa.String(length=2), nullable=False),
        sa.Column("isa_receiver_id", sa.String(length=15), nullable=False),
        sa.Column("gs_sender_code", sa.String(length=15), nullable=False),
        sa.Column("gs_receiver_code", sa.String(length=15), nullable=False),
        sa.Column("usage", sa.String(length=1), nullable=False),
        sa.Column("submitter_name", sa.String(length=60), nullable=False),
        sa.Column("submitter_id", sa.String(length=80), nullable=False),
        sa.Column("submitter_contact_name", sa.String(length=60), nullable=False),
        sa.Column("submitter_contact_phone", sa.String(length=10), nullable=False),
        sa.Column("receiver_name", sa.String(length=60), nullable=False),
        sa.Column("receiver_id", sa.String(length=80), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("sftp_host", sa.String(length=255), nullable=True),
        sa.Column("sftp_port", sa.Integer(), nullable=True),
        sa.Column("sftp_username", sa.String(length=64), nullable=True),
        sa.Column("sftp_host_key", sa.String(length=1024), nullable=True),
        sa.Column("credential", sa.LargeBinary(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_trading_partners_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_partners")),
    )
    op.create_index(op.f("ix_trading_partners_organization_id"), "trading_partners", ["organization_id"], unique=False)
    op.create_index("uq_trading_partners_org_name", "trading_partners", ["organization_id", "name"], unique=True)
    op.create_table(
        "encounters",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("service_date", sa.LargeBinary(), nullable=False),
        sa.Column("service_date_to", sa.LargeBinary(), nullable=True),
        sa.Column("billing_provider_id", sa.Uuid(), nullable=True),
        sa.Column("rendering_provider_id", sa.Uuid(), nullable=True),
        sa.Column("referring_provider_id", sa.Uuid(), nullable=True),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("place_of_service", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("import_key", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["billing_provider_id"], ["providers.id"], name=op.f("fk_encounters_billing_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_encounters_created_by_users")),
        sa.ForeignKeyConstraint(["facility_id"], ["facilities.id"], name=op.f("fk_encounters_facility_id_facilities")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_encounters_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_encounters_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["referring_provider_id"], ["providers.id"], name=op.f("fk_encounters_referring_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["rendering_provider_id"], ["providers.id"], name=op.f("fk_encounters_rendering_provider_id_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encounters")),
    )
    op.create_index("ix_encounters_org_patient", "encounters", ["organization_id", "patient_id"], unique=False)
    op.create_index(op.f("ix_encounters_organization_id"), "encounters", ["organization_id"], unique=False)
    op.create_index("uq_encounters_org_import_key", "encounters", ["organization_id", "import_key"], unique=True)
    op.create_table(
        "payers",
        sa.Column("payer_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("claim_filing_indicator", sa.String(length=2), nullable=False),
        sa.Column("timely_filing_days", sa.Integer(), nullable=True),
        sa.Column("trading_partner_id", sa.Uuid(), nullable=True),
        sa.Column("address_line1", sa.String(length=55), nullable=True),
        sa.Column("city", sa.String(length=30), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("postal_code", sa.String(length=9), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_payers_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["trading_partner_id"], ["trading_partners.id"], name=op.f("fk_payers_trading_partner_id_trading_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payers")),
    )
    op.create_index(op.f("ix_payers_organization_id"), "payers", ["organization_id"], unique=False)
    op.create_index("uq_payers_org_payer_id", "payers", ["organization_id", "payer_id"], unique=True)
    op.create_table(
        "x12_control_numbers",
        sa.Column("trading_partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_x12_control_numbers_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["trading_partner_id"],
            ["trading_partners.id"],
            name=op.f("fk_x12_control_numbers_trading_partner_id_trading_partners"),
        ),
        sa.PrimaryKeyConstraint("trading_partner_id", "kind", name=op.f("pk_x12_control_numbers")),
    )
    op.create_index(
        op.f("ix_x12_control_numbers_organization_id"), "x12_control_numbers", ["organization_id"], unique=False
    )
    op.create_table(
        "encounter_diagnoses",
        sa.Column("encounter_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code_system", sa.String(length=64), nullable=False),
        sa.Column("code", sa.LargeBinary(), nullable=False),
        sa.Column("needs_coding", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["encounter_id"], ["encounters.id"], name=op.f("fk_encounter_diagnoses_encounter_id_encounters")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_encounter_diagnoses_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_encounter_diagnoses_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encounter_diagnoses")),
    )
    op.create_index(
        "ix_encounter_diagnoses_org_encounter", "encounter_diagnoses", ["organization_id", "encounter_id"], unique=False
    )
    op.create_index(
        op.f("ix_encounter_diagnoses_organization_id"), "encounter_diagnoses", ["organization_id"], unique=False
    )
    op.create_table(
        "service_lines",
        sa.Column("encounter_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.LargeBinary(), nullable=False),
        sa.Column("modifiers", sa.LargeBinary(), nullable=True),
        sa.Column("diagnosis_pointers", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Numeric(precision=9, scale=3), nullable=False),
        sa.Column("charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("place_of_service", sa.String(length=2), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["encounter_id"], ["encounters.id"], name=op.f("fk_service_lines_encounter_id_encounters")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_service_lines_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_service_lines_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_lines")),
    )
    op.create_index(
        "ix_service_lines_org_encounter", "service_lines", ["organization_id", "encounter_id"], unique=False
    )
    op.create_index(op.f("ix_service_lines_organization_id"), "service_lines", ["organization_id"], unique=False)
    op.create_table(
        "x12_files",
        sa.Column("trading_partner_id", sa.Uuid(), nullable=True),
        sa.Column("payer_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("interchange_control", sa.Integer(), nullable=True),
        sa.Column("group_control", sa.Integer(), nullable=True),
        sa.Column("transaction_controls", sa.String(length=255), nullable=True),
        sa.Column("claim_count", sa.Integer(), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name=op.f("fk_x12_files_blob_id_blobs")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_x12_files_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_x12_files_payer_id_payers")),
        sa.ForeignKeyConstraint(
            ["trading_partner_id"],
            ["trading_partners.id"],
            name=op.f("fk_x12_files_trading_partner_id_trading_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_x12_files")),
    )
    op.create_index(
        "ix_x12_files_org_partner_isa",
        "x12_files",
        ["organization_id", "trading_partner_id", "interchange_control"],
        unique=False,
    )
    op.create_index(op.f("ix_x12_files_organization_id"), "x12_files", ["organization_id"], unique=False)
    op.create_table(
        "claims",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("encounter_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.String(length=16), nullable=False),
        sa.Column("control_number", sa.String(length=20), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("frequency_code", sa.String(length=1), nullable=False),
        sa.Column("original_reference", sa.LargeBinary(), nullable=True),
        sa.Column("payer_claim_number", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_charge", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("scrubbed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=32), nullable=True),
        sa.Column("scrub_findings", sa.Text(), nullable=True),
        sa.Column("status_reasons", sa.Text(), nullable=True),
        sa.Column("x12_file_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["coverage_id"], ["coverages.id"], name=op.f("fk_claims_coverage_id_coverages")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_claims_created_by_users")),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"], name=op.f("fk_claims_encounter_id_encounters")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_claims_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_claims_patient_id_patients")),
        sa.ForeignKeyConstraint(["payer_id"], ["payers.id"], name=op.f("fk_claims_payer_id_payers")),
        sa.ForeignKeyConstraint(["x12_file_id"], ["x12_files.id"], name=op.f("fk_claims_x12_file_id_x12_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    op.create_index("ix_claims_org_family", "claims", ["organization_id", "family_id"], unique=False)
    op.create_index("ix_claims_org_fingerprint", "claims", ["organization_id", "fingerprint"], unique=False)
    op.create_index("ix_claims_org_patient", "claims", ["organization_id", "patient_id"], unique=False)
    op.create_index("ix_claims_org_status", "claims", ["organization_id", "status"], unique=False)
    op.create_index(op.f("ix_claims_organization_id"), "claims", ["organization_id"], unique=False)
    op.create_index("uq_claims_org_control_number", "claims", ["organization_id", "control_number"], unique=True)
    op.create_table(
        "claim_transitions",
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_claim_transitions_claim_id_claims")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_claim_transitions_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_transitions")),
    )
    op.create_index(
        "ix_claim_transitions_org_claim", "claim_transitions", ["organization_id", "claim_id"], unique=False
    )
    op.create_index(
        op.f("ix_claim_transitions_organization_id"), "claim_transitions", ["organization_id"], unique=False
    )
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payer_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_coverages_payer_id_payers"), "payers", ["payer_id"], ["id"])
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sex", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("mrn", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("mrn_bidx", sa.LargeBinary(length=16), nullable=True))
        batch_op.create_index("ix_patients_org_mrn_bidx", ["organization_id", "mrn_bidx"], unique=False)

    enable_tenant_rls("providers")
    enable_tenant_rls("facilities")
    enable_tenant_rls("trading_partners")
    enable_tenant_rls("payers")
    enable_tenant_rls("x12_control_numbers")
    enable_tenant_rls("encounters")
    enable_tenant_rls("encounter_diagnoses")
    enable_tenant_rls("service_lines")
    enable_tenant_rls("claims")
    enable_tenant_rls("claim_transitions")
    enable_tenant_rls("x12_files")


def downgrade() -> None:
    disable_rls("x12_files")
    disable_rls("claim_transitions")
    disable_rls("claims")
    disable_rls("service_lines")
    disable_rls("encounter_diagnoses")
    disable_rls("encounters")
    disable_rls("x12_control_numbers")
    disable_rls("payers")
    disable_rls("trading_partners")
    disable_rls("facilities")
    disable_rls("providers")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_org_mrn_bidx")
        batch_op.drop_column("mrn_bidx")
        batch_op.drop_column("mrn")
        batch_op.drop_column("sex")
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_coverages_payer_id_payers"), type_="foreignkey")
        batch_op.drop_column("payer_id")
    op.drop_index(op.f("ix_claim_transitions_organization_id"), table_name="claim_transitions")
    op.drop_index("ix_claim_transitions_org_claim", table_name="claim_transitions")
    op.drop_table("claim_transitions")
    op.drop_index("uq_claims_org_control_number", table_name="claims")
    op.drop_index(op.f("ix_claims_organization_id"), table_name="claims")
    op.drop_index("ix_claims_org_status", table_name="claims")
    op.drop_index("ix_claims_org_patient", table_name="claims")
    op.drop_index("ix_claims_org_fingerprint", table_name="claims")
    op.drop_index("ix_claims_org_family", table_name="claims")
    op.drop_table("claims")
    op.drop_index(op.f("ix_x12_files_organization_id"), table_name="x12_files")
    op.drop_index("ix_x12_files_org_partner_isa", table_name="x12_files")
    op.drop_table("x12_files")
    op.drop_index(op.f("ix_service_lines_organization_id"), table_name="service_lines")
    op.drop_index("ix_service_lines_org_encounter", table_name="service_lines")
    op.drop_table("service_lines")
    op.drop_index(op.f("ix_encounter_diagnoses_organization_id"), table_name="encounter_diagnoses")
    op.drop_index("ix_encounter_diagnoses_org_encounter", table_name="encounter_diagnoses")
    op.drop_table("encounter_diagnoses")
    op.drop_index(op.f("ix_x12_control_numbers_organization_id"), table_name="x12_control_numbers")
    op.drop_table("x12_control_numbers")
    op.drop_index("uq_payers_org_payer_id", table_name="payers")
    op.drop_index(op.f("ix_payers_organization_id"), table_name="payers")
    op.drop_table("payers")
    op.drop_index("uq_encounters_org_import_key", table_name="encounters")
    op.drop_index(op.f("ix_encounters_organization_id"), table_name="encounters")
    op.drop_index("ix_encounters_org_patient", table_name="encounters")
    op.drop_table("encounters")
    op.drop_index("uq_trading_partners_org_name", table_name="trading_partners")
    op.drop_index(op.f("ix_trading_partners_organization_id"), table_name="trading_partners")
    op.drop_table("trading_partners")
    op.drop_index("uq_providers_org_npi", table_name="providers")
    op.drop_index(op.f("ix_providers_organization_id"), table_name="providers")
    op.drop_table("providers")
    op.drop_index(op.f("ix_facilities_organization_id"), table_name="facilities")
    op.drop_table("facilities")
