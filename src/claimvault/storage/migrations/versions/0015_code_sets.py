"""Code sets: versioned reference tables (HCPCS Level II, licensed CPT codes, ICD-10-CM order files, NCCI PTP
edits and MUE limits), each keyed by a row of ``code_set_versions``.

Platform-level like ``audit_export_cursors``: public reference data shared by every organization, so no
organization column and no row-level security. CPT rows hold codes only (descriptors are AMA-licensed).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _version_id(table: str) -> list[SchemaItem]:
    return [
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["code_set_versions.id"],
            name=op.f(f"fk_{table}_version_id_code_set_versions"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "code_set_versions",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_set_versions")),
        sa.UniqueConstraint("kind", "source_sha256", name="uq_code_set_versions_kind_sha256"),
    )
    with op.batch_alter_table("code_set_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_set_versions_kind"), ["kind"], unique=False)

    op.create_table(
        "hcpcs_codes",
        *_version_id("hcpcs_codes"),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("short_description", sa.String(length=80), nullable=True),
        sa.Column("added_on", sa.Date(), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("version_id", "code", name=op.f("pk_hcpcs_codes")),
    )
    op.create_table(
        "cpt_codes",
        *_version_id("cpt_codes"),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "code", name=op.f("pk_cpt_codes")),
    )
    op.create_table(
        "icd10cm_codes",
        *_version_id("icd10cm_codes"),
        sa.Column("code", sa.String(length=7), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "code", name=op.f("pk_icd10cm_codes")),
    )
    op.create_table(
        "ncci_ptp_edits",
        *_version_id("ncci_ptp_edits"),
        sa.Column("column1", sa.String(length=5), nullable=False),
        sa.Column("column2", sa.String(length=5), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("deleted_on", sa.Date(), nullable=True),
        sa.Column("prior_to_1996", sa.Boolean(), nullable=False),
        sa.Column("modifier_indicator", sa.String(length=1), nullable=False),
        sa.Column("rationale", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("version_id", "column1", "column2", "effective_on", name=op.f("pk_ncci_ptp_edits")),
    )
    op.create_table(
        "mue_limits",
        *_version_id("mue_limits"),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("max_units", sa.Integer(), nullable=False),
        sa.Column("adjudication_indicator", sa.String(length=1), nullable=False),
        sa.Column("rationale", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("version_id", "code", name=op.f("pk_mue_limits")),
    )


def downgrade() -> None:
    for table in ("mue_limits", "ncci_ptp_edits", "icd10cm_codes", "cpt_codes", "hcpcs_codes"):
        op.drop_table(table)
    with op.batch_alter_table("code_set_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_set_versions_kind"))
    op.drop_table("code_set_versions")
