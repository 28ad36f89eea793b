"""Patient contact data (phone, email, address; encrypted, with a phone blind index) and coverages with
encrypted member ids.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from claimvault.storage.rls import disable_rls, enable_tenant_rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_CONTACT = ("phone", "email", "address_line1", "address_line2", "city", "state", "postal_code")


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        for name in _CONTACT:
            batch_op.add_column(sa.Column(name, sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("phone_bidx", sa.LargeBinary(length=16), nullable=True))
        batch_op.create_index("ix_patients_org_phone_bidx", ["organization_id", "phone_bidx"], unique=False)

    op.create_table(
        "coverages",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payer_name", sa.String(length=120), nullable=False),
        sa.Column("member_id", sa.LargeBinary(), nullable=False),
        sa.Column("group_number", sa.LargeBinary(), nullable=True),
        sa.Column("subscriber_relationship", sa.String(length=16), nullable=False),
        sa.Column("subscriber_given_name", sa.LargeBinary(), nullable=True),
        sa.Column("subscriber_family_name", sa.LargeBinary(), nullable=True),
        sa.Column("subscriber_birth_date", sa.LargeBinary(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("member_id_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_coverages_created_by_users")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_coverages_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_coverages_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverages")),
    )
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.create_index("ix_coverages_org_patient", ["organization_id", "patient_id"], unique=False)
        batch_op.create_index("ix_coverages_org_member_id_bidx", ["organization_id", "member_id_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_coverages_organization_id"), ["organization_id"], unique=False)
    enable_tenant_rls("coverages")


def downgrade() -> None:
    disable_rls("coverages")
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coverages_organization_id"))
        batch_op.drop_index("ix_coverages_org_member_id_bidx")
        batch_op.drop_index("ix_coverages_org_patient")
    op.drop_table("coverages")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_org_phone_bidx")
        batch_op.drop_column("phone_bidx")
        for name in reversed(_CONTACT):
            batch_op.drop_column(name)
