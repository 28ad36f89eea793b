"""Extraction dispatch: format detection (content first, suffix second), the per-format extractors, and zip
archive members. Each extractor turns a file into ``Piece``s (text, offset, field context, asserted type); see
``extract_base`` for what offsets index in each format.

Formats: plain text, CSV/TSV (``extract_text``), JSON and FHIR JSON (``extract_json``), X12 (``extract_x12``),
HL7 v2 (``extract_hl7``), XLSX and DOCX (``extract_office``), PDF (``extract_pdf``), and zip archives, expanded
recursively with a shared ``ZipBudget`` against zip bombs.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import (
    ARCHIVE_ERRORS,
    MAX_ZIP_DEPTH,
    SNIFF,
    Piece,
    Source,
    Unreadable,
    ZipBudget,
)
from claimvault.discovery.extract_hl7 import extract_hl7
from claimvault.discovery.extract_json import extract_json
from claimvault.discovery.extract_office import extract_docx, extract_xlsx
from claimvault.discovery.extract_pdf import extract_pdf
from claimvault.discovery.extract_text import extract_csv, extract_text
from claimvault.discovery.extract_x12 import extract_x12

__all__ = ["Piece", "Source", "Unreadable", "ZipBudget", "detect_format", "extract", "sniff", "zip_members"]

SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".ndjson": "json", ".zip": "zip",
                  ".xlsx": "xlsx", ".xlsm": "xlsx", ".docx": "docx", ".docm": "docx", ".pdf": "pdf", ".hl7": "hl7",
                  ".x12": "x12", ".edi": "x12", ".837": "x12", ".835": "x12", ".270": "x12", ".271": "x12",
                  ".276": "x12", ".277": "x12", ".834": "x12", ".999": "x12"}  # fmt: skip
BINARY_FORMATS = frozenset({"zip", "xlsx", "docx", "pdf"})


def _zip_kind(source: Source, head: bytes) -> str:
    """xlsx, docx or zip for content starting with a zip local header: the package parts named near the start
    (``[Content_Types].xml`` and ``xl/`` or ``word/`` entries), else the suffix."""
    if b"[Content_Types].xml" in head:
        if b"word/" in head:
            return "docx"
        if b"xl/" in head:
            return "xlsx"
    by_suffix = SUFFIX_FORMATS.get(source.suffix)
    return by_suffix if by_suffix in ("xlsx", "docx") else "zip"


def detect_format(source: Source, head: bytes) -> str:
    """The format of ``source`` from its first bytes ``head``, the suffix deciding only what content cannot."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(source, head)
    if b"%PDF-" in head[:1024]:
        return "pdf"
    by_suffix = SUFFIX_FORMATS.get(source.suffix)
    if by_suffix in BINARY_FORMATS:
        return by_suffix or "text"  # a truncated or disguised file: its extractor says what is wrong
    if b"\x00" in head:
        raise Unreadable("binary content (NUL bytes)")
    if stripped.startswith(b"ISA") and len(stripped) > 3 and not stripped[3:4].isalnum():
        return "x12"
    if stripped[:3] in (b"MSH", b"FHS", b"BHS") and len(stripped) > 3 and not stripped[3:4].isalnum():
        return "hl7"
    return by_suffix or "text"


def extract(source: Source, fmt: str) -> Iterator[Piece]:
    """Pieces of a source in format ``fmt`` (not ``zip``)."""
    if fmt == "xlsx":
        yield from extract_xlsx(source)
    elif fmt == "docx":
        yield from extract_docx(source)
    elif fmt == "pdf":
        yield from extract_pdf(source)
    elif fmt == "zip":
        raise Unreadable("zip archive not expanded here")
    else:
        with base.text_stream(source) as stream:
            if fmt == "csv":
                yield from extract_csv(stream, delimiter=",")
            elif fmt == "tsv":
                yield from extract_csv(stream, delimiter="\t")
            elif fmt == "json":
                yield from extract_json(stream)
            elif fmt == "x12":
                yield from extract_x12(stream)
            elif fmt == "hl7":
                yield from extract_hl7(stream)
            else:
                yield from extract_text(base.chunks(stream))


def sniff(source: Source) -> bytes:
    with source.open_binary() as raw:
        try:
            return raw.read(SNIFF)
        except ARCHIVE_ERRORS:
            raise Unreadable("corrupt or truncated archive member") from None


def _member_opener(location: Path | bytes, name: str) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        archive = zipfile.ZipFile(location if isinstance(location, Path) else io.BytesIO(location))
        try:
            return archive.open(name)  # keeps the archive's file open until the member is closed
        finally:
            archive.close()

    return open_member


def zip_members(
    path: str, location: Path | bytes, depth: int = 0, budget: ZipBudget | None = None
) -> Iterator[Source | tuple[str, str]]:
    """The members of the zip archive at ``location`` (a file, or a nested archive's bytes) as sources, nested
    archives (by content or suffix) expanded, or (path, reason) for an archive or member that cannot be read.
    All members of one top-level archive share one ``budget`` of uncompressed bytes."""
    budget = ZipBudget() if budget is None else budget
    if depth > MAX_ZIP_DEPTH:
        yield path, "zip archives nested too deeply"
        return
    try:
        with zipfile.ZipFile(location if isinstance(location, Path) else io.BytesIO(location)) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (*ARCHIVE_ERRORS, OSError, ValueError):
        yield path, "not a valid zip archive (truncated or corrupt)"
        return
    for info in infos:
        member = f"{path}!{info.filename}"
        reason = budget.take(info)
        if reason is not None:
            yield member, reason
            continue
        source = Source(member, _member_opener(location, info.filename), Path(info.filename).suffix.lower())
        try:
            fmt = detect_format(source, sniff(source))
        except Unreadable:
            fmt = "unreadable"  # the scanner reports why
        except (*ARCHIVE_ERRORS, OSError, ValueError):
            yield member, "corrupt or truncated archive member"
            continue
        if fmt != "zip":
            yield source if fmt == "unreadable" else dataclasses.replace(source, format=fmt)
            continue
        try:
            with source.open_binary() as inner:
                blob = inner.read(base.MAX_IN_MEMORY + 1)
        except (*ARCHIVE_ERRORS, OSError, ValueError):
            yield member, "corrupt or truncated archive member"
            continue
        if len(blob) > base.MAX_IN_MEMORY:
            yield member, "nested zip archive exceeds the size limit"
            continue
        yield from zip_members(member, blob, depth + 1, budget)
