"""Readers for CMS's NCCI files: practitioner procedure-to-procedure (PTP) edits and practitioner medically
unlikely edits (MUE). Both yield ``(line number, row)`` ready to insert and stop at the first malformed record
with a ``CodeSetFileError`` naming the line and the problem.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from claimvault.billing.codesets.formats import PROCEDURE_RE, CodeSetFileError, parse_file_date
from claimvault.billing.codesets.parsers import Row

MODIFIER_INDICATORS = frozenset({"0", "1", "9"})
ADJUDICATION_INDICATORS = frozenset({"1", "2", "3"})


def _fields(line: str) -> list[str]:
    if "\t" in line:
        return [f.strip() for f in line.split("\t")]
    return [f.strip() for f in next(csv.reader([line]))]


def parse_ptp(lines: Iterable[str]) -> Iterator[tuple[int, Row]]:
    """Practitioner PTP edits, tab-delimited as CMS publishes them (comma-separated is accepted too):

    Column 1, Column 2, ``*`` when the edit existed before 1996, effective date (YYYYMMDD), deletion date
    (YYYYMMDD, or ``*`` for none), modifier indicator (0 not allowed, 1 allowed, 9 not applicable) and an optional
    rationale. Leading lines whose first field is not a code (CMS's copyright notice and column headings) are
    skipped; from the first edit on, every non-blank line must be an edit.
    """
    started = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = _fields(line)
        if not started:
            if not PROCEDURE_RE.match(fields[0].upper()):
                continue
            started = True
        if len(fields) < 6:
            raise CodeSetFileError("an edit needs at least 6 fields (column 1 to modifier indicator)", line=number)
        column1, column2 = fields[0].upper(), fields[1].upper()
        if not PROCEDURE_RE.match(column1):
            raise CodeSetFileError("column 1 is not a CPT/HCPCS code", line=number)
        if not PROCEDURE_RE.match(column2):
            raise CodeSetFileError("column 2 is not a CPT/HCPCS code", line=number)
        if fields[2] not in ("", "*"):
            raise CodeSetFileError("the prior-to-1996 field is neither * nor empty", line=number)
        effective = parse_file_date(fields[3], line=number, field="effective date")
        deleted = parse_file_date(fields[4], line=number, field="deletion date", optional=True)
        if fields[5] not in MODIFIER_INDICATORS:
            raise CodeSetFileError("modifier indicator is not 0, 1 or 9", line=number)
        rationale = fields[6] if len(fields) > 6 else ""
        yield (
            number,
            {
                "column1": column1,
                "column2": column2,
                "prior_to_1996": fields[2] == "*",
                "effective_on": effective,
                "deleted_on": deleted,
                "modifier_indicator": fields[5],
                "rationale": rationale[:120] or None,
            },
        )


def parse_mue(lines: Iterable[str]) -> Iterator[tuple[int, Row]]:
    """Practitioner MUE file, CSV as CMS publishes it (tab-delimited is accepted too). Lines before the header row
    (the one whose first cell starts with "HCPCS") are CMS's notice and are skipped. Columns are found by name:
    "HCPCS/CPT Code", "Practitioner Services MUE Values" (a whole number), "MUE Adjudication Indicator" (text
    starting with 1, 2 or 3, e.g. "2 Date of Service Edit: Policy") and "MUE Rationale" (optional)."""
    iterator = iter(lines)
    head: list[str] = []
    for raw in iterator:
        head.append(raw)
        if raw.lstrip('"').upper().startswith("HCPCS"):
            break
    else:
        raise CodeSetFileError("no header row (a first cell starting with HCPCS) was found")
    delimiter = "\t" if "\t" in head[-1] else ","
    reader = csv.reader(_replay(head, iterator), delimiter=delimiter)
    header: list[str] = []
    for cells in reader:  # the notice rows, then the header row (the last line read above)
        if reader.line_num >= len(head):
            header = [c.strip().upper() for c in cells]
            break
    columns = {
        "value": _find(header, "MUE VALUE"),
        "mai": _find(header, "ADJUDICATION"),
        "rationale": _find(header, "RATIONALE"),
    }
    if columns["value"] is None or columns["mai"] is None:
        raise CodeSetFileError("header row lacks the MUE value or adjudication indicator column", line=len(head))
    value_at, mai_at, rationale_at = columns["value"], columns["mai"], columns["rationale"]
    assert value_at is not None and mai_at is not None
    seen: set[str] = set()
    for cells in reader:
        number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) <= max(value_at, mai_at):
            raise CodeSetFileError("row has fewer columns than the header", line=number)
        code = cells[0].strip().upper()
        if not PROCEDURE_RE.match(code):
            raise CodeSetFileError("first column is not a CPT/HCPCS code", line=number)
        value = cells[value_at].strip()
        if not value.isdigit():
            raise CodeSetFileError("MUE value is not a whole number", line=number)
        mai = cells[mai_at].strip()[:1]
        if mai not in ADJUDICATION_INDICATORS:
            raise CodeSetFileError("MUE adjudication indicator does not start with 1, 2 or 3", line=number)
        if code in seen:
            raise CodeSetFileError(f"code {code} appears twice", line=number)
        seen.add(code)
        rationale = cells[rationale_at].strip() if rationale_at is not None and rationale_at < len(cells) else ""
        yield (
            number,
            {
                "code": code,
                "max_units": int(value),
                "adjudication_indicator": mai,
                "rationale": rationale[:120] or None,
            },
        )


def _find(header: list[str], needle: str) -> int | None:
    return next((i for i, name in enumerate(header) if needle in name), None)


def _replay(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest
