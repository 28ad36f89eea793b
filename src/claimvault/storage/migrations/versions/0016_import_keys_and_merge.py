"""Idempotent FHIR import keys on patients and coverages (encounters have theirs since 0014), and patient merge:
a duplicate merged into another record stays for retention but points at the surviving patient.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("uq_patients_org_import_key", ["organization_id", "import_key"], unique=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_patients_merged_into_id_patients"), "patients", ["merged_into_id"], ["id"]
        )
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_key", sa.String(length=64), nullable=True))
        batch_op.create_index("uq_coverages_org_import_key", ["organization_id", "import_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.drop_index("uq_coverages_org_import_key")
        batch_op.drop_column("import_key")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_patients_merged_into_id_patients"), type_="foreignkey")
        batch_op.drop_index("uq_patients_org_import_key")
        batch_op.drop_column("merged_at")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("import_key")
