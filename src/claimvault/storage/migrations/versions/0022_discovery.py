"""Sensitive-data discovery: each organization's scan profile (MRN templates), and the runs and per-blob results of
scans of its own blob store (levels, scores and counts per type; never values).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLES = ("discovery_profiles", "discovery_scan_runs", "discovery_blob_results")


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f(f"fk_{table}_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "discovery_profiles",
        sa.Column("mrn_formats", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        *_tenant("discovery_profiles"),
    )
    op.create_index(
        op.f("ix_discovery_profiles_organization_id"), "discovery_profiles", ["organization_id"], unique=False
    )
    op.create_index("uq_discovery_profiles_org", "discovery_profiles", ["organization_id"], unique=True)
    op.create_table(
        "discovery_scan_runs",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("engine_version", sa.String(length=32), nullable=False),
        sa.Column("profile_digest", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blobs_total", sa.Integer(), nullable=False),
        sa.Column("blobs_scanned", sa.Integer(), nullable=False),
        sa.Column("blobs_skipped", sa.Integer(), nullable=False),
        sa.Column("blobs_unreadable", sa.Integer(), nullable=False),
        sa.Column("blobs_failed", sa.Integer(), nullable=False),
        sa.Column("level_counts", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        *_tenant("discovery_scan_runs"),
    )
    op.create_index(
        op.f("ix_discovery_scan_runs_organization_id"), "discovery_scan_runs", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_discovery_scan_runs_org_started", "discovery_scan_runs", ["organization_id", "started_at"], unique=False
    )
    op.create_table(
        "discovery_blob_results",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("engine_version", sa.String(length=32), nullable=False),
        sa.Column("profile_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("type_counts", sa.JSON(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name=op.f("fk_discovery_blob_results_blob_id_blobs")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["discovery_scan_runs.id"], name=op.f("fk_discovery_blob_results_run_id_discovery_scan_runs")
        ),
        *_tenant("discovery_blob_results"),
    )
    op.create_index(
        op.f("ix_discovery_blob_results_organization_id"), "discovery_blob_results", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_discovery_blob_results_org_run", "discovery_blob_results", ["organization_id", "run_id"], unique=False
    )
    op.create_index(
        "ix_discovery_blob_results_org_blob", "discovery_blob_results", ["organization_id", "blob_id"], unique=False
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_rls(table)
    op.drop_index("ix_discovery_blob_results_org_blob", table_name="discovery_blob_results")
    op.drop_index("ix_discovery_blob_results_org_run", table_name="discovery_blob_results")
    op.drop_index(op.f("ix_discovery_blob_results_organization_id"), table_name="discovery_blob_results")
    op.drop_table("discovery_blob_results")
    op.drop_index("ix_discovery_scan_runs_org_started", table_name="discovery_scan_runs")
    op.drop_index(op.f("ix_discovery_scan_runs_organization_id"), table_name="discovery_scan_runs")
    op.drop_table("discovery_scan_runs")
    op.drop_index("uq_discovery_profiles_org", table_name="discovery_profiles")
    op.drop_index(op.f("ix_discovery_profiles_organization_id"), table_name="discovery_profiles")
    op.drop_table("discovery_profiles")
