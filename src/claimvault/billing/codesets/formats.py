"""Code shapes and the small parsing helpers every code-set file shares: which kind a procedure code is by its
format (CPT Category I/II/III/PLA, HCPCS Level II), ICD-10-CM normalisation, and file dates.

Messages name a line and a problem, never a value beyond the code itself (files are public reference data, but the
same rule everywhere keeps the habit).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from claimvault.errors import ValidationFailed

Kind = Literal["hcpcs", "cpt", "ncci_ptp", "mue", "icd10cm"]
KINDS: tuple[Kind, ...] = ("hcpcs", "cpt", "ncci_ptp", "mue", "icd10cm")
KIND_NAMES: dict[Kind, str] = {
    "hcpcs": "HCPCS",
    "cpt": "CPT",
    "ncci_ptp": "NCCI PTP",
    "mue": "MUE",
    "icd10cm": "ICD-10-CM",
}

# CPT: four digits and a fifth character: a digit (Category I), F (Category II), T (Category III), U (PLA) or
# M (MAAA administrative codes), as the in-memory lookup (memory.py) also accepts.
CPT_RE = re.compile(r"^[0-9]{4}[0-9FTUM]$")
# HCPCS Level II: a letter and four digits. Letters in use: A B C D E G H J K L M P Q R S T U V (F, I, N, O and
# W-Z are not assigned).
HCPCS_RE = re.compile(r"^[A-EG-HJ-MP-V][0-9]{4}$")
# Anything either file might hold (the PTP and MUE files mix both kinds).
PROCEDURE_RE = re.compile(r"^[0-9A-Z][0-9]{3}[0-9A-Z]$")
# ICD-10-CM without the dot: a letter, a digit, then one to five more characters (3 to 7 in all).
ICD10CM_RE = re.compile(r"^[A-Z][0-9][0-9A-Z]{1,5}$")


class CodeSetFileError(ValidationFailed):
    """A code-set file could not be read: names the line and the problem (no values beyond the code)."""

    code = "code_set_file_invalid"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


def normalize_procedure(code: str) -> str:
    return code.strip().upper()


def normalize_diagnosis(code: str) -> str:
    """Upper case, no dot, no surrounding space: the form claims carry (X12 sends ICD-10-CM without the dot)."""
    return code.strip().upper().replace(".", "")


def procedure_kind(code: str) -> Literal["cpt", "hcpcs"] | None:
    """``cpt`` or ``hcpcs`` by format alone, or None for a code of neither shape."""
    normalized = normalize_procedure(code)
    if CPT_RE.match(normalized):
        return "cpt"
    if HCPCS_RE.match(normalized):
        return "hcpcs"
    return None


def parse_file_date(text: str, *, line: int, field: str, optional: bool = False) -> date | None:
    """YYYYMMDD (CMS's files) or YYYY-MM-DD. Empty (or ``*`` where the file says "no data") when optional."""
    value = text.strip()
    if value in ("", "*") and optional:
        return None
    try:
        if len(value) == 8 and value.isdigit():
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise CodeSetFileError(f"{field} is not a date (YYYYMMDD)", line=line)
