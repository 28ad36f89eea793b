"""What the scrubber asks of the code sets, and nothing more: one small interface in front of the versioned
code-set store (database tables loaded from CMS files, simple-icd-10-cm for ICD-10-CM) so rules can be tested
against an in-memory implementation as well as the real one.

Every answer is about one date of service and uses the version in force on that date. ``no_version`` means no
loaded version covers the date: the scrubber says so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

Status = Literal["valid", "invalid", "not_billable", "no_version", "not_loaded"]


@dataclass(frozen=True)
class CodeCheck:
    status: Status
    version: str | None = None  # the code-set version that answered, e.g. "HCPCS 2026-01-01"


@dataclass(frozen=True)
class PTPEdit:
    """An NCCI procedure-to-procedure pair: ``column2`` is not payable with ``column1`` on the same day, unless
    ``modifier_allowed`` and a bypass modifier (59, XE, XS, XP, XU, 25, ...) is present."""

    column1: str
    column2: str
    modifier_allowed: bool
    version: str


@dataclass(frozen=True)
class MUELimit:
    code: str
    max_units: int
    adjudication_indicator: str  # MAI 1 line, 2 date of service (policy), 3 date of service (clinical)
    version: str


class CodeLookup(Protocol):
    def diagnosis(self, code: str, on: date) -> CodeCheck:
        """ICD-10-CM: valid and billable, ``not_billable`` (a category header), ``invalid`` or ``no_version``."""
        ...

    def procedure(self, code: str, on: date) -> CodeCheck:
        """CPT/HCPCS: ``invalid`` on a bad format; otherwise checked against a loaded file in force on ``on``
        (``not_loaded`` when no file of that code's kind is loaded at all, ``no_version`` when loaded files
        do not cover the date)."""
        ...

    def ptp_edits(self, codes: frozenset[str], on: date) -> list[PTPEdit]:
        """NCCI PTP pairs among ``codes`` in force on ``on`` (empty when none loaded)."""
        ...

    def mue(self, code: str, on: date) -> MUELimit | None:
        """The MUE limit in force on ``on``, or None when none is loaded for that code."""
        ...
