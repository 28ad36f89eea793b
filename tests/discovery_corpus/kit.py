"""The shapes a split's templates take: tables, letters, JSON skeletons and the interchange styles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Table:
    """A delimited export or spreadsheet: ``(header, cell template)`` columns, one patient per row."""

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[int, int] = (18, 40)
    new_provider_per_row: bool = False


@dataclass(frozen=True)
class Letter:
    """A letter or note: paragraph templates (``{placeholders}``), rendered in order."""

    name: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Each:
    """In a JSON skeleton: a list of ``lo``..``hi`` copies of ``item``, each about a new patient."""

    lo: int
    hi: int
    item: Any
    new_patient: bool = True


@dataclass(frozen=True)
class TemplateSet:
    split: str
    tables: tuple[Table, ...]
    sheets: tuple[Table, ...]
    letters: tuple[Letter, ...]
    notes: tuple[str, ...]  # one-encounter note templates, several per multi-patient log
    negative_snippets: tuple[str, ...]  # sentences carrying hard negatives in neutral context
    json_docs: tuple[tuple[str, Any], ...]
    fhir: dict[str, Any] = field(default_factory=dict)
    x12: dict[str, Any] = field(default_factory=dict)
    hl7: dict[str, Any] = field(default_factory=dict)
    hl7_events: tuple[str, ...] = ("A04", "P03")
    zip_folders: tuple[str, ...] = ("exports",)
    note_separator: str = "\n\n"
