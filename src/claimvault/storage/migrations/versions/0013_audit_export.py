"""Audit export cursors (SIEM, FHIR, JSON lines).

``audit_export_cursors`` is platform-level, like the audit log's reader role, and has no row-level security: a
cursor holds no event data (a name, a format, an optional organization and a position in the global log), and only
the ``audit export`` system command reads or moves it. An organization cursor's events are still read through that
organization's tenant session, so row-level security on ``audit_events`` scopes what it can send.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_export_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("next_position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_export_cursors_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_export_cursors")),
    )


def downgrade() -> None:
    op.drop_table("audit_export_cursors")
