"""The audit log's patient index is derived from the bodies: ``audit_patient_refs`` is replaced.

The patients an event touched are listed in its hashed body. A separate table of references had to be checked
against every body by ``audit verify`` (and could be edited apart from them); now "who accessed patient X" reads
the list straight out of the bodies, through a GIN index that PostgreSQL builds from them. Nothing is lost: every
reference was a copy of a body's list.

Row-level security keeps PostgreSQL from using an index for a condition whose operator is not "leakproof" (array
containment is not), so under row-level security the GIN index could never serve the application's queries. The
lookup is therefore a ``SECURITY DEFINER`` function, owned by the schema owner, that returns the positions of the
current tenant's events listing a patient (the tenant comes from the same setting the policies read); the
application then reads those events under row-level security as before. For the owner's function to use the index
the owner must not be subject to the table's policies, so ``audit_events`` keeps row-level security for every
other role but no longer forces it on its owner (the application never connects as the owner, and an owner can
switch row-level security off on its own table anyway).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

PATIENT_LIST_PG = "string_to_array(split_part(split_part(body, E'\\n', 1), '|', 12), ',')"
TENANT = "(SELECT NULLIF(current_setting('claimvault.org_id', true), '')::uuid)"
AUDIT_ROLE = "(SELECT current_setting('claimvault.audit_role', true))"


POSITIONS_FUNCTION = "claimvault_audit_patient_positions(text)"


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(f"CREATE INDEX ix_audit_events_patients ON audit_events USING gin (({PATIENT_LIST_PG}))")
        op.execute("ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY")
        op.execute(  # constant text built from this module's own fragments
            f"""
            CREATE OR REPLACE FUNCTION claimvault_audit_patient_positions(patient text) RETURNS SETOF bigint
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
                SELECT e.position FROM public.audit_events e
                WHERE e.organization_id = {TENANT}
                  AND {PATIENT_LIST_PG.replace("body", "e.body")} @> ARRAY[patient]
            $$
            """  # noqa: S608
        )
        op.execute(f"REVOKE ALL ON FUNCTION {POSITIONS_FUNCTION} FROM PUBLIC")
    with op.batch_alter_table("audit_patient_refs", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_patient_refs_patient")
    op.drop_table("audit_patient_refs")  # on PostgreSQL its policies and triggers go with it


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_patient_refs",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_audit_patient_refs_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["position"], ["audit_events.position"], name=op.f("fk_audit_patient_refs_position_audit_events")
        ),
        sa.PrimaryKeyConstraint("position", "patient_id", name=op.f("pk_audit_patient_refs")),
    )
    with op.batch_alter_table("audit_patient_refs", schema=None) as batch_op:
        batch_op.create_index("ix_audit_patient_refs_patient", ["patient_id", "position"], unique=False)
    if postgresql:
        op.execute(f"DROP FUNCTION IF EXISTS {POSITIONS_FUNCTION}")
        backfill = (  # constant text: the expression is this module's own
            "INSERT INTO audit_patient_refs (position, patient_id, organization_id) "  # noqa: S608
            f"SELECT e.position, p::uuid, e.organization_id FROM audit_events e, unnest({PATIENT_LIST_PG}) AS p"
        )
        op.execute(backfill)  # before FORCE comes back: the owner must see every event, as no tenant is set here
        op.execute("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY")
        op.execute("DROP INDEX IF EXISTS ix_audit_events_patients")
        op.execute("ALTER TABLE audit_patient_refs ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE audit_patient_refs FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_read ON audit_patient_refs FOR SELECT "
            f"USING (organization_id = {TENANT} OR {AUDIT_ROLE} IN ('sequencer', 'reader'))"
        )
        op.execute(
            f"CREATE POLICY sequencer_append ON audit_patient_refs FOR INSERT WITH CHECK ({AUDIT_ROLE} = 'sequencer')"
        )
        op.execute(
            "CREATE TRIGGER audit_patient_refs_append_only BEFORE UPDATE OR DELETE ON audit_patient_refs "
            "FOR EACH ROW EXECUTE FUNCTION claimvault_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_patient_refs_no_truncate BEFORE TRUNCATE ON audit_patient_refs "
            "FOR EACH STATEMENT EXECUTE FUNCTION claimvault_audit_append_only()"
        )
        return
    bind = op.get_bind()
    refs = sa.table("audit_patient_refs", sa.column("position"), sa.column("patient_id"), sa.column("organization_id"))
    rows = bind.execute(sa.text("SELECT position, organization_id, body FROM audit_events")).all()
    values = [
        {"position": position, "patient_id": patient, "organization_id": org}
        for position, org, body in rows
        for patient in body.partition("\n")[0].split("|")[11].split(",")
        if patient
    ]
    if values:
        bind.execute(refs.insert(), values)
