"""Shared pieces of the extractors: the ``Piece`` and ``Source`` types, the ``Unreadable`` error, the size limits,
and the chunked UTF-8 reading every text-like extractor streams through.

Offsets: for text-like formats (plain text, CSV/TSV, JSON, X12, HL7 v2) a piece's ``offset`` is a code-point
offset into the file decoded as UTF-8 with ``newline=''`` (for a zip member: into that member). For XLSX, DOCX
and PDF it indexes the *extracted text stream* each extractor documents (cells, paragraphs or page text laid out
one after another), since those files have no character positions of their own.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from claimvault.errors import ClaimVaultError

CHUNK = 1 << 16  # characters read at a time (read at call time, so tests may lower it)
MAX_VALUE = 128  # longest value a recognizer is expected to match
OVERLAP = MAX_VALUE + 128  # characters carried into the next chunk: a value plus its look-back context
MAX_FIELD = 1 << 20  # longest CSV cell, JSON token, X12 or HL7 segment accepted
MAX_LINE = 1 << 20  # longest line of plain text accepted (characters)
MAX_IN_MEMORY = 64 << 20  # a zip member that must be seekable (nested zip, XLSX, DOCX, PDF) is read up to this
MAX_ARCHIVE_TOTAL = 1 << 30  # declared uncompressed bytes read from one archive, nested archives included
MAX_RATIO = 200  # uncompressed / compressed size above which a large member is treated as a zip bomb
RATIO_MIN_SIZE = 1 << 20  # members smaller than this are never called bombs (tiny files compress very well)
MAX_ZIP_DEPTH = 4
SNIFF = 8192


class Unreadable(ClaimVaultError):
    """A file that cannot be scanned; the message is a reason written here, never file content."""

    code = "unreadable"


@dataclass(slots=True)  # never mutated; not frozen because a frozen __init__ costs 4x more, once per value
class Piece:
    text: str
    offset: int  # code-point offset of text[0] in the (member) file, or in the extracted text stream
    context: str | None = None
    asserted_type: str | None = None  # entity type the structure asserts (X12/HL7 element, FHIR identifier)
    owned: tuple[int, int] | None = None  # local [lo, hi) in which a finding must start; None: the whole text


@dataclass(frozen=True)
class Source:
    """One file to scan: its reported path and a way to open its bytes (twice: sniff, then read)."""

    path: str
    open_binary: Callable[[], IO[bytes]]
    suffix: str = field(default="")
    format: str | None = None  # set once detected, so the scanner does not sniff the file again


@dataclass
class ZipBudget:
    """Declared uncompressed bytes still allowed from one top-level archive (nested archives share it)."""

    left: int = field(default_factory=lambda: MAX_ARCHIVE_TOTAL)

    def take(self, info: zipfile.ZipInfo) -> str | None:
        """Charge one member; returns the reason it must not be read, or None."""
        if info.file_size >= RATIO_MIN_SIZE and info.file_size > MAX_RATIO * max(1, info.compress_size):
            return "compression ratio too high (possible zip bomb)"
        if info.file_size > self.left:
            return "archive exceeds the total uncompressed size limit (possible zip bomb)"
        self.left -= info.file_size
        return None


ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def text_stream(source: Source) -> IO[str]:
    return io.TextIOWrapper(source.open_binary(), encoding="utf-8", errors="strict", newline="")


def chunks(stream: IO[str]) -> Iterator[str]:
    """The stream's text, ``CHUNK`` characters at a time; decoding and archive errors become ``Unreadable``."""
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    except UnicodeDecodeError:
        raise Unreadable("not valid UTF-8 text") from None
    except ARCHIVE_ERRORS:
        raise Unreadable("corrupt or truncated archive member") from None


def chars(stream: IO[str]) -> Iterator[str]:
    for chunk in chunks(stream):
        yield from chunk


def rechunk(parts: Iterable[str]) -> Iterator[str]:
    """Small strings (paragraphs, cells, pages) regrouped into chunks of about ``CHUNK`` characters."""
    buf: list[str] = []
    size = 0
    for part in parts:
        buf.append(part)
        size += len(part)
        if size >= CHUNK:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def seekable_bytes(source: Source) -> IO[bytes]:
    """The source opened for random access: a real file as is, anything else (a zip member) read into memory up
    to ``MAX_IN_MEMORY`` bytes."""
    raw = source.open_binary()
    if raw.seekable() and not isinstance(raw, zipfile.ZipExtFile):
        return raw
    with raw:
        try:
            data = raw.read(MAX_IN_MEMORY + 1)
        except ARCHIVE_ERRORS:
            raise Unreadable("corrupt or truncated archive member") from None
    if len(data) > MAX_IN_MEMORY:
        raise Unreadable("archive member too large to open in memory")
    return io.BytesIO(data)
