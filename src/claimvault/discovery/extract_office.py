"""XLSX and DOCX extraction with ``zipfile`` and ``xml.etree.ElementTree.iterparse`` (no other dependency),
streamed part by part and element by element.

Extracted text streams (what piece offsets index, since these files have no character positions of their own):

- XLSX: sheet after sheet (``xl/worksheets/sheetN.xml`` in N order); each row with at least one value is its
  non-empty cells in column order separated by a tab and ended by ``\\n``; each sheet ends with ``\\f``. Shared
  and inline strings are resolved; numbers are as written in the file. The first non-empty row of a sheet is its
  header: header cells are scanned as text with no context, every later cell with its column header as context.
- DOCX: ``word/document.xml``, then headers, footers, footnotes, endnotes and comments; each paragraph (table
  cells included) is its text followed by ``\\n``, scanned as free text with no context.

Guards: every part is charged to a ``ZipBudget`` (total uncompressed size, compression ratio); parts that declare
a DTD are refused (OOXML never needs one, and refusing it rules out entity expansion); broken XML, truncated
archives and missing parts make the file unreadable with a reason.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from xml.etree.ElementTree import Element, ParseError, iterparse

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import ARCHIVE_ERRORS, Piece, Source, Unreadable, ZipBudget
from claimvault.discovery.extract_text import extract_text

MAX_CELL = 1 << 16  # characters kept of one cell (Excel's own limit is 32767)
_SHEET = re.compile(r"xl/worksheets/sheet(\d+)\.xml\Z")
_DOCX_EXTRA = re.compile(r"word/(header\d*|footer\d*|footnotes|endnotes|comments)\.xml\Z")
_COLUMN = re.compile(r"[A-Z]+")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@contextmanager
def open_package(source: Source) -> Iterator[zipfile.ZipFile]:
    """The source as an open zip archive; the archive and the file under it are closed afterwards."""
    with base.seekable_bytes(source) as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except (*ARCHIVE_ERRORS, ValueError):
            raise Unreadable("not a valid zip archive (truncated or corrupt)") from None
        with archive:
            yield archive


def _open_part(archive: zipfile.ZipFile, name: str, budget: ZipBudget) -> IO[bytes]:
    reason = budget.take(archive.getinfo(name))
    if reason is not None:
        raise Unreadable(reason)
    try:
        with archive.open(name) as peek:
            head = peek.read(4096)
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise Unreadable(f"XML part {name} declares a DTD (not allowed)")
        return archive.open(name)
    except ARCHIVE_ERRORS:
        raise Unreadable(f"corrupt or truncated part {name}") from None


def _events(
    archive: zipfile.ZipFile, name: str, budget: ZipBudget, prune: tuple[int, ...] = (2, 3)
) -> Iterator[tuple[str, str, Element]]:
    """(event, local tag, element) for ``start`` and ``end``; elements at a depth in ``prune`` (the root is depth
    1) are dropped from the tree once their end is handled, so memory stays bounded by one row or paragraph (or
    one top-level table)."""
    stack: list[Element] = []
    with _open_part(archive, name, budget) as stream:
        try:
            # no DTD (checked above); expat expands no external entities
            for event, elem in iterparse(stream, events=("start", "end")):  # noqa: S314
                if event == "start":
                    stack.append(elem)
                    yield event, _local(elem.tag), elem
                    continue
                stack.pop()
                yield event, _local(elem.tag), elem
                if stack and len(stack) + 1 in prune:
                    stack[-1].remove(elem)
        except ParseError:
            raise Unreadable(f"broken XML in part {name}") from None
        except ARCHIVE_ERRORS:
            raise Unreadable(f"corrupt or truncated part {name}") from None


def _texts(elem: Element) -> str:
    return "".join(e.text or "" for e in elem.iter() if _local(e.tag) == "t")


# XLSX ----------------------------------------------------------------------------------------------------------
def _shared_strings(archive: zipfile.ZipFile, budget: ZipBudget) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    strings: list[str] = []
    for event, tag, elem in _events(archive, "xl/sharedStrings.xml", budget, prune=(2,)):
        if event == "end" and tag == "si":
            strings.append(_texts(elem)[:MAX_CELL])
            elem.clear()
    return strings


def _column(ref: str | None, fallback: int) -> int:
    match = _COLUMN.match(ref or "")
    if match is None:
        return fallback
    number = 0
    for ch in match.group(0):
        number = number * 26 + ord(ch) - 64
    return number


def _cell_value(elem: Element, shared: list[str]) -> str:
    kind = elem.get("t", "n")
    if kind == "inlineStr":
        return _texts(elem)[:MAX_CELL]
    v = next((e.text or "" for e in elem if _local(e.tag) == "v"), "")
    if kind == "s":
        try:
            return shared[int(v)]
        except (ValueError, IndexError):
            raise Unreadable("broken shared string reference in a worksheet") from None
    return "" if kind == "e" else v[:MAX_CELL]


def extract_xlsx(source: Source) -> Iterator[Piece]:
    with open_package(source) as archive:
        names = archive.namelist()
        if "xl/workbook.xml" not in names:
            raise Unreadable("not an XLSX workbook (no xl/workbook.xml)")
        budget = ZipBudget()
        shared = _shared_strings(archive, budget)
        sheets = sorted((int(m.group(1)), n) for n in names if (m := _SHEET.match(n)))
        pos = 0
        for _, name in sheets:
            header: dict[int, str] | None = None
            row: list[tuple[int, str]] = []
            for event, tag, elem in _events(archive, name, budget):
                if event != "end":
                    continue
                if tag == "c":
                    value = _cell_value(elem, shared)
                    if value.strip():
                        row.append((_column(elem.get("r"), len(row) + 1), value))
                elif tag == "row":
                    elem.clear()
                    if not row:
                        continue
                    row.sort(key=lambda cell: cell[0])
                    for col, value in row:
                        context = None if header is None else header.get(col)
                        yield Piece(value, pos, context=context)
                        pos += len(value) + 1  # the tab after it, or the newline after the last
                    if header is None:
                        header = {col: value.strip() for col, value in row}
                    row = []
            pos += 1  # the form feed ending the sheet


# DOCX ----------------------------------------------------------------------------------------------------------
def _paragraphs(archive: zipfile.ZipFile, parts: list[str]) -> Iterator[str]:
    budget = ZipBudget()
    for name in parts:
        para: list[str] = []
        for event, tag, elem in _events(archive, name, budget):
            if event != "end":
                continue
            if tag in ("t", "delText"):
                para.append(elem.text or "")
            elif tag == "tab":
                para.append("\t")
            elif tag in ("br", "cr"):
                para.append("\n")
            elif tag == "p":
                para.append("\n")
                yield "".join(para)
                para = []
                elem.clear()
        if para:
            yield "".join(para) + "\n"


def extract_docx(source: Source) -> Iterator[Piece]:
    with open_package(source) as archive:
        names = archive.namelist()
        if "word/document.xml" not in names:
            raise Unreadable("not a DOCX document (no word/document.xml)")
        parts = ["word/document.xml", *sorted(n for n in names if _DOCX_EXTRA.match(n))]
        yield from extract_text(base.rechunk(_paragraphs(archive, parts)))
