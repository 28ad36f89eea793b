"""The data policy as code reads it: which columns are protected, their class and value type.

The classification itself is data (``data_policy.toml``), not decorators scattered over models. A test checks
that it covers every column of the schema, so a new column cannot slip in unclassified.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

ENCRYPTED_CLASSES = frozenset({"PHI", "PII", "financial", "secret"})
PLAIN_CLASSES = frozenset(
    {"identifier", "metadata", "workforce", "credential_hash", "wrapped_key", "blind_index", "audit"}
)
VALUE_TYPES = frozenset({"str", "date"})


@dataclass(frozen=True)
class ColumnPolicy:
    table: str
    column: str
    classification: str
    value_type: str | None = None

    @property
    def encrypted(self) -> bool:
        return self.classification in ENCRYPTED_CLASSES


@dataclass(frozen=True)
class DataPolicy:
    columns: dict[tuple[str, str], ColumnPolicy]

    def column(self, table: str, column: str) -> ColumnPolicy:
        return self.columns[(table, column)]

    def encrypted_columns(self, table: str) -> list[ColumnPolicy]:
        return [c for (t, _), c in self.columns.items() if t == table and c.encrypted]

    def protected_field_names(self) -> frozenset[str]:
        """Names of encrypted columns: the logging redactor treats values next to these names as protected."""
        return frozenset(c.column for c in self.columns.values() if c.encrypted)


def _policy_documents() -> list[dict[str, Any]]:
    """``data_policy.toml`` plus every ``data_policy.d/*.toml`` (one per wing), in name order."""
    package = resources.files("claimvault.security")
    docs = [tomllib.loads(package.joinpath("data_policy.toml").read_text("utf-8"))]
    extra = package.joinpath("data_policy.d")
    if extra.is_dir():
        for entry in sorted(extra.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                docs.append(tomllib.loads(entry.read_text("utf-8")))
    return docs


@cache
def load_data_policy() -> DataPolicy:
    columns: dict[tuple[str, str], ColumnPolicy] = {}
    for table, entries in ((t, e) for doc in _policy_documents() for t, e in doc.items()):
        for column, spec in entries.items():
            if (table, column) in columns:
                raise ValueError(f"data policy: {table}.{column} is classified twice")
            if isinstance(spec, str):
                if spec not in PLAIN_CLASSES:
                    raise ValueError(f"data policy: {table}.{column} has unknown class {spec!r}")
                columns[(table, column)] = ColumnPolicy(table, column, spec)
            else:
                cls, vtype = spec.get("class"), spec.get("type")
                if cls not in ENCRYPTED_CLASSES or vtype not in VALUE_TYPES:
                    raise ValueError(f"data policy: {table}.{column} needs an encrypted class and a value type")
                columns[(table, column)] = ColumnPolicy(table, column, cls, vtype)
    return DataPolicy(columns)


def encode_value(value: object, value_type: str) -> bytes:
    if value_type == "date":
        if not isinstance(value, date):
            raise TypeError("expected a date")
        return value.isoformat().encode()
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value.encode("utf-8")


def decode_value(raw: bytes, value_type: str) -> object:
    text = raw.decode("utf-8")
    return date.fromisoformat(text) if value_type == "date" else text
