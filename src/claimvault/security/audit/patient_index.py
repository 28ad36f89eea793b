"""The PostgreSQL patient index of the audit log and its lookup function: what they must be, and the check of it.

"Who accessed patient X" is answered from the patient lists inside the hashed bodies. On PostgreSQL a GIN index
over those lists (``ix_audit_events_patients``) is read by ``claimvault_audit_patient_positions``, a ``SECURITY
DEFINER`` function of the schema owner that returns the current tenant's positions (row-level security would
keep the index from serving the application role's own queries). The bodies are covered by the hash chain; the
index and the function are not data, but someone with the owner's rights could redefine them to leave events out
of the answers. ``lookup_problems`` compares both with the definitions migration 0023 installs, so ``audit
verify`` reports such a change. The application calls the function schema-qualified and checks every returned
event's list again with schema-qualified operators, so a same-named object earlier on its search path changes
nothing.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

INDEX = "ix_audit_events_patients"
FUNCTION = "claimvault_audit_patient_positions"
# pg_indexes.indexdef of the index, as PostgreSQL prints it (migration 0023 creates it).
INDEX_DEFINITION = (
    "CREATE INDEX ix_audit_events_patients ON public.audit_events USING gin "
    "(string_to_array(split_part(split_part(body, '\n'::text, 1), '|'::text, 12), ','::text))"
)
# The function's body as migration 0023 writes it (compared with whitespace runs folded: no literal holds one).
FUNCTION_SOURCE = (
    "SELECT e.position FROM public.audit_events e "
    "WHERE e.organization_id = (SELECT NULLIF(current_setting('claimvault.org_id', true), '')::uuid) "
    "AND string_to_array(split_part(split_part(e.body, E'\\n', 1), '|', 12), ',') @> ARRAY[patient]"
)
FUNCTION_SETTINGS = ["search_path=pg_catalog, pg_temp"]
# The recheck of a returned event, immune to operators or functions added to the caller's search path.
LISTS_PATIENT_QUALIFIED = (
    "pg_catalog.string_to_array(pg_catalog.split_part(pg_catalog.split_part(body, E'\\n', 1), '|', 12), ',') "
    "OPERATOR(pg_catalog.@>) ARRAY[CAST(:audit_patient AS pg_catalog.text)]"
)
LOOKUP = f"SELECT public.{FUNCTION}(:p)"


def _folded(source: str) -> str:
    return " ".join(source.split())


def lookup_problems(session: Session) -> list[str]:
    """What differs from the installed patient index and lookup function (PostgreSQL; empty when intact)."""
    problems: list[str] = []
    index = session.execute(
        text(
            "SELECT i.indexdef, x.indisvalid AND x.indisready FROM pg_indexes i "
            "JOIN pg_class c ON c.relname = i.indexname JOIN pg_namespace n ON n.oid = c.relnamespace "
            "AND n.nspname = i.schemaname JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.schemaname = 'public' AND i.indexname = :name"
        ),
        {"name": INDEX},
    ).all()
    if len(index) != 1 or index[0][0] != INDEX_DEFINITION or not index[0][1]:
        problems.append("the patient index of the audit log is missing or not the one ClaimVault installs")
    functions = session.execute(
        text(
            "SELECT p.prosrc, p.proconfig, p.prosecdef, p.provolatile, p.proowner = c.relowner, "
            "pg_get_function_arguments(p.oid), pg_get_function_result(p.oid) "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, pg_class c "
            "JOIN pg_namespace cn ON cn.oid = c.relnamespace AND cn.nspname = 'public' "
            "WHERE p.proname = :name AND c.relname = 'audit_events'"
        ),
        {"name": FUNCTION},
    ).all()
    expected = (_folded(FUNCTION_SOURCE), FUNCTION_SETTINGS, True, "s", True, "patient text", "SETOF bigint")
    if len(functions) != 1 or (_folded(functions[0][0]), *functions[0][1:]) != expected:
        problems.append("the patient lookup function of the audit log is missing or not the one ClaimVault installs")
    return problems
