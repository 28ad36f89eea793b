"""Readers for the code-list files: HCPCS Level II (CMS's fixed-width record or a CSV export of its xlsx), a
licensed CPT file (codes kept, descriptors dropped as they are read) and CMS's ICD-10-CM order file.

Each reader takes the file's lines and yields ``(line number, row)`` with rows ready to insert; it raises
``CodeSetFileError`` naming the line and the problem at the first malformed record.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Any

from claimvault.billing.codesets.formats import (
    CPT_RE,
    HCPCS_RE,
    ICD10CM_RE,
    CodeSetFileError,
    parse_file_date,
)

Row = dict[str, Any]

# CMS HCPCS contractor record (HCPC<YYYY>_recordlayout.txt), 1-based inclusive positions:
#   1-5 code, 6-10 sequence number, 11 record id (3 procedure, 4 its continuation lines, 7 modifier, 8 its
#   continuation lines), 12-91 long description, 92-119 short description, 269-276 code added date,
#   277-284 action effective date, 285-292 termination date, 293 action code. Dates are YYYYMMDD.
_HCPCS_RECORD = 320
_SHORT = slice(91, 119)
_ADDED = slice(268, 276)
_TERMINATED = slice(284, 292)


def _lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if line.strip():
            yield number, line


def _header_key(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().upper())


def is_hcpcs_csv(first_line: str) -> bool:
    return "," in first_line and _header_key(first_line.split(",")[0].strip('"')).startswith("HCPC")


def parse_hcpcs(lines: Iterable[str]) -> Iterator[tuple[int, Row]]:
    """HCPCS Level II codes, from the fixed-width record or from a CSV with a header row (see ``parse_hcpcs_csv``)."""
    numbered = _lines(lines)
    first = next(numbered, None)
    if first is None:
        return
    if is_hcpcs_csv(first[1]):
        yield from parse_hcpcs_csv(first, numbered)
        return
    seen: set[str] = set()
    for number, line in _chain(first, numbered):
        if len(line) < 11:
            raise CodeSetFileError("record is too short for the HCPCS layout", line=number)
        record_id = line[10]
        if record_id in ("4", "7", "8"):  # description continuation lines and modifiers
            continue
        if record_id != "3":
            raise CodeSetFileError("record identification (position 11) is not 3, 4, 7 or 8", line=number)
        code = line[0:5]
        if not HCPCS_RE.match(code):
            raise CodeSetFileError("positions 1-5 are not a HCPCS Level II code", line=number)
        if code in seen:
            raise CodeSetFileError(f"code {code} appears twice", line=number)
        seen.add(code)
        padded = line.ljust(_HCPCS_RECORD)
        yield (
            number,
            {
                "code": code,
                "short_description": padded[_SHORT].strip() or None,
                "added_on": parse_file_date(padded[_ADDED], line=number, field="code added date", optional=True),
                "terminated_on": parse_file_date(
                    padded[_TERMINATED], line=number, field="termination date", optional=True
                ),
            },
        )


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


_HCPCS_COLUMNS = {
    "code": ("HCPC", "HCPCS", "HCPCS CODE"),
    "recid": ("RECID", "REC ID", "RECORD ID"),
    "short": ("SHORT DESCRIPTION", "SHORT DESC"),
    "added": ("ADD DT", "ADD DATE", "CODE ADDED DATE"),
    "terminated": ("TERM DT", "TERM DATE", "TERMINATION DATE"),
}


def parse_hcpcs_csv(header: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, Row]]:
    """A CSV export of CMS's HCPCS xlsx: a header row naming HCPC (required), RECID, SHORT DESCRIPTION, ADD DT
    and TERM DT (optional; other columns are ignored). With RECID, only records of id 3 are codes."""
    names = [_header_key(n) for n in next(csv.reader([header[1]]))]
    index: dict[str, int] = {}
    for key, aliases in _HCPCS_COLUMNS.items():
        for alias in aliases:
            if alias in names:
                index[key] = names.index(alias)
                break
    seen: set[str] = set()
    for number, line in rest:
        fields = next(csv.reader([line]))

        def cell(key: str, fields: list[str] = fields, number: int = number) -> str:
            if key not in index:
                return ""
            if index[key] >= len(fields):
                raise CodeSetFileError("row has fewer columns than the header", line=number)
            return fields[index[key]].strip()

        recid = cell("recid")
        if recid and recid != "3":
            continue
        code = cell("code").upper()
        if not HCPCS_RE.match(code):
            raise CodeSetFileError("HCPC is not a HCPCS Level II code", line=number)
        if code in seen:
            raise CodeSetFileError(f"code {code} appears twice", line=number)
        seen.add(code)
        yield (
            number,
            {
                "code": code,
                "short_description": cell("short")[:80] or None,
                "added_on": parse_file_date(cell("added"), line=number, field="ADD DT", optional=True),
                "terminated_on": parse_file_date(cell("terminated"), line=number, field="TERM DT", optional=True),
            },
        )


def parse_cpt(lines: Iterable[str]) -> Iterator[tuple[int, Row]]:
    """A licensed CPT file: one code per line, then a tab (or spaces) and its descriptor, which is dropped here
    and never stored. A first line whose first field has no digit is a header. Repeated codes (descriptor
    continuation lines) count once."""
    seen: set[str] = set()
    for number, line in _lines(lines):
        first = re.split(r"[\t ,|]", line.strip(), maxsplit=1)[0].strip('"').upper()
        if number == 1 and not any(ch.isdigit() for ch in first):
            continue
        if not CPT_RE.match(first):
            raise CodeSetFileError("first field is not a CPT code (4 digits and a digit, F, T, U or M)", line=number)
        if first in seen:
            continue
        seen.add(first)
        yield number, {"code": first}


def parse_icd10cm_order(lines: Iterable[str]) -> Iterator[tuple[int, Row]]:
    """CMS's ICD-10-CM order file (icd10cm-order-YYYY.txt): 1-5 order number, 7-13 code without the dot,
    15 billable flag (1 valid for claims, 0 a header), 17-76 short and 78- long description (not stored)."""
    seen: set[str] = set()
    for number, line in _lines(lines):
        if len(line) < 15:
            raise CodeSetFileError("record is too short for the order-file layout", line=number)
        if not line[0:5].isdigit():
            raise CodeSetFileError("positions 1-5 are not an order number", line=number)
        code = line[6:13].strip()
        if not ICD10CM_RE.match(code):
            raise CodeSetFileError("positions 7-13 are not an ICD-10-CM code", line=number)
        flag = line[14]
        if flag not in ("0", "1"):
            raise CodeSetFileError("position 15 (billable flag) is not 0 or 1", line=number)
        if code in seen:
            raise CodeSetFileError(f"code {code} appears twice", line=number)
        seen.add(code)
        yield number, {"code": code, "billable": flag == "1"}
