"""Structural rules: dependencies flow one way, the schema is fully classified, migrations match the models,
files stay small, and every module says what it owns."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import LargeBinary, text

from claimvault.security.audit.patient_index import INDEX_DEFINITION
from claimvault.security.data_policy import load_data_policy
from claimvault.storage.database import Database
from claimvault.storage.models import metadata

SRC = Path(__file__).resolve().parents[1] / "src" / "claimvault"

# package -> packages it must never import
FORBIDDEN = {
    "claimvault.billing": ("claimvault.web", "claimvault.api", "claimvault.cli", "fastapi", "starlette"),
    "claimvault.accounts": ("claimvault.web", "claimvault.api", "claimvault.cli", "fastapi", "starlette"),
    "claimvault.security": (
        "claimvault.web",
        "claimvault.api",
        "claimvault.cli",
        "claimvault.billing",
        "fastapi",
        "starlette",
    ),
    "claimvault.storage": (
        "claimvault.web",
        "claimvault.api",
        "claimvault.cli",
        "claimvault.security",
        "fastapi",
        "starlette",
    ),
}
STORAGE_MODEL_REGISTRY = "claimvault.storage.models"  # imports every model module by design


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_dependencies_flow_one_way() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        module = _module_name(path)
        if module == STORAGE_MODEL_REGISTRY or "migrations" in module:
            continue
        for package, banned in FORBIDDEN.items():
            if module == package or module.startswith(package + "."):
                for imported in _imports(path):
                    if any(imported == b or imported.startswith(b + ".") for b in banned):
                        violations.append(f"{module} imports {imported}")
    assert not violations, violations


def test_every_module_has_a_docstring_and_stays_small() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        text = path.read_text("utf-8")
        if path.name == "__init__.py" and not text.strip() and "versions" in path.parts:
            continue
        if not ast.get_docstring(ast.parse(text)) and text.strip():
            problems.append(f"{path.relative_to(SRC)}: no module docstring")
        if text.count("\n") > 600:
            problems.append(f"{path.relative_to(SRC)}: over 600 lines")
    assert not problems, problems


def test_data_policy_classifies_every_column_exactly() -> None:
    policy = load_data_policy()
    schema = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns}
    assert schema == set(policy.columns), f"classify or remove: {schema ^ set(policy.columns)}"
    for (table, column), entry in policy.columns.items():
        if entry.encrypted:
            assert isinstance(metadata.tables[table].columns[column].type, LargeBinary), f"{table}.{column}"


# Alembic cannot compare an index on an expression (it reflects PostgreSQL's rewritten text); the one such index is
# checked by name and definition instead.
EXPRESSION_INDEXES = {"ix_audit_events_patients": INDEX_DEFINITION}


def _not_an_expression_index(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_migrations_match_the_models(db: Database, backend: Any) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _not_an_expression_index})
        diff = compare_metadata(context, metadata)
        if backend.name == "postgresql":
            for name, definition in EXPRESSION_INDEXES.items():
                found = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}).scalar()
                assert found == definition, (name, found)
    assert diff == [], diff
