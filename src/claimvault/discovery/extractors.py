"""Structure-aware, streaming extraction of text pieces to scan from files and zip archives.

A ``Piece`` is a run of text with its code-point offset in the file decoded as UTF-8 with ``newline=''`` (for a
zip member: in that member), the field name it came from (CSV/TSV column header, JSON key path, X12 element
meaning) and, for X12 elements whose meaning is fixed by the standard, the entity type that meaning asserts.
Plain text is read in chunks that overlap; each piece owns the findings that *start* in ``owned`` so a value
across a chunk border is reported once, with the look-back context the recognizers need. Files are never loaded
whole (nested zip members excepted, up to a size limit). A file that cannot be read raises ``Unreadable`` with a
reason written here (never file content).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from claimvault.errors import ClaimVaultError

CHUNK = 1 << 16  # characters read at a time
MAX_VALUE = 128  # longest value a recognizer is expected to match
OVERLAP = MAX_VALUE + 128  # characters carried into the next chunk: a value plus its look-back context
MAX_FIELD = 1 << 20  # longest CSV cell, JSON token or X12 segment accepted
MAX_NESTED_ZIP = 64 << 20  # a zip inside a zip is read into memory up to this size
MAX_ZIP_DEPTH = 4
SNIFF = 8192

TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".zip": "zip"}
X12_SUFFIXES = frozenset({".x12", ".edi", ".837", ".835", ".270", ".271", ".276", ".277", ".834", ".999"})


class Unreadable(ClaimVaultError):
    code = "unreadable"


@dataclass(frozen=True)
class Piece:
    text: str
    offset: int  # code-point offset of text[0] in the (member) file
    context: str | None = None
    asserted_type: str | None = None  # entity type the structure asserts (X12 element meaning)
    owned: tuple[int, int] | None = None  # local [lo, hi) in which a finding must start; None: the whole text


@dataclass(frozen=True)
class Source:
    """One file to scan: its reported path and a way to open its bytes (twice: sniff, then read)."""

    path: str
    open_binary: Callable[[], IO[bytes]]
    suffix: str = field(default="")


# Format detection ----------------------------------------------------------------------------------------------
def detect_format(source: Source, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or source.suffix == ".zip":
        return "zip"
    if b"\x00" in head:
        raise Unreadable("binary content (NUL bytes)")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"ISA") or source.suffix in X12_SUFFIXES:
        return "x12"
    return TEXT_SUFFIXES.get(source.suffix, "text")


def _text(source: Source) -> IO[str]:
    return io.TextIOWrapper(source.open_binary(), encoding="utf-8", errors="strict", newline="")


def _chunks(stream: IO[str]) -> Iterator[str]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    except UnicodeDecodeError:
        raise Unreadable("not valid UTF-8 text") from None
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise Unreadable("corrupt or truncated archive member") from None


def _chars(stream: IO[str]) -> Iterator[str]:
    for chunk in _chunks(stream):
        yield from chunk


# Plain text ----------------------------------------------------------------------------------------------------
def extract_text(stream: IO[str]) -> Iterator[Piece]:
    """Overlapping windows; window k owns the findings starting in [its start + carried - MAX_VALUE, end -
    MAX_VALUE) (the last window up to its end), so ownership tiles the file exactly once."""
    carry = ""
    offset = 0  # file offset of carry[0]
    pending: str | None = None
    for chunk in _chunks(stream):
        if pending is not None:
            window = carry + pending
            lo = max(0, len(carry) - MAX_VALUE) if carry else 0
            yield Piece(window, offset, owned=(lo, len(window) - MAX_VALUE))
            tail = window[-OVERLAP:]
            offset += len(window) - len(tail)
            carry = tail
        pending = chunk
    if pending is not None:
        window = carry + pending
        lo = max(0, len(carry) - MAX_VALUE) if carry else 0
        yield Piece(window, offset, owned=(lo, len(window)))


# CSV / TSV -----------------------------------------------------------------------------------------------------
def extract_csv(stream: IO[str], *, delimiter: str) -> Iterator[Piece]:
    """Each non-empty cell after the header row, with its column header as context. A quoted cell's piece is its
    raw text between the quotes (a doubled quote stays doubled) so offsets stay exact."""
    headers: list[str] = []
    row = col = pos = cell_start = 0
    cell: list[str] = []
    state = "start"  # start | bare | quoted | closing (a quote seen inside a quoted cell)

    def emit() -> Piece | None:
        value = "".join(cell)
        c = col
        if row == 0:
            headers.append(value.replace('""', '"').strip())
            return None
        if not value.strip():
            return None
        return Piece(value, cell_start, context=headers[c] if c < len(headers) else None)

    for ch in _chars(stream):
        if state == "quoted":
            if ch == '"':
                state = "closing"
            else:
                cell.append(ch)
        elif state == "closing" and ch == '"':
            cell.append('""')
            state = "quoted"
        elif ch == delimiter or ch in "\r\n":
            if state == "start" and col == 0 and ch != delimiter:
                pos += 1  # a blank line, or the LF of a CRLF
                continue
            piece = emit()
            if piece is not None:
                yield piece
            cell, state = [], "start"
            col += 1
            if ch != delimiter:
                row, col = row + 1, 0
        elif state == "start":
            if ch == '"':
                state, cell_start = "quoted", pos + 1
            else:
                state, cell_start = "bare", pos
                cell.append(ch)
        elif state == "bare":
            cell.append(ch)
        # characters after a closing quote and before the delimiter are ignored
        if len(cell) > MAX_FIELD:
            raise Unreadable("a CSV cell exceeds the size limit")
        pos += 1
    if state == "quoted":
        raise Unreadable("unterminated quoted CSV cell")
    if state != "start":
        piece = emit()
        if piece is not None:
            yield piece


# JSON ----------------------------------------------------------------------------------------------------------
_JSON_TOKEN = re.compile(
    r'[ \t\r\n]*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([{}\[\]:,])|(true|false|null))', re.S
)
_WS_ONLY = re.compile(r"[ \t\r\n]*")


def extract_json(stream: IO[str]) -> Iterator[Piece]:
    """String and number values with their key path (``patient.ssn``; array indices left out) as context."""
    chunks = _chunks(stream)
    buf, base, eof = "", 0, False  # base: file offset of buf[0]
    stack: list[str] = []  # "{" or "["
    keys: list[str | None] = []  # current key in each open container (None in arrays)
    expect_key = False
    pos = 0
    while True:
        match = _JSON_TOKEN.match(buf, pos)
        if (match is None or match.end() == len(buf)) and not eof:
            more = next(chunks, None)
            if more is None:
                eof = True
            else:
                buf, base, pos = buf[pos:] + more, base + pos, 0
                if len(buf) > MAX_FIELD + CHUNK:
                    raise Unreadable("a JSON token exceeds the size limit")
            continue
        if match is None:
            if _WS_ONLY.fullmatch(buf, pos) and not stack:
                return
            raise Unreadable("malformed JSON")
        string, number, punct, _literal = match.groups()
        if punct == "{" or punct == "[":
            stack.append(punct)
            keys.append(None)
            expect_key = punct == "{"
        elif punct in ("}", "]"):
            if not stack:
                raise Unreadable("malformed JSON")
            stack.pop()
            keys.pop()
            expect_key = False
        elif punct == ",":
            expect_key = bool(stack) and stack[-1] == "{"
        elif string is not None and expect_key:
            keys[-1] = json.loads(f'"{string}"') if "\\" in string else string
            expect_key = False
        elif string is not None or number is not None:
            value = string if string is not None else number
            assert value is not None
            start = base + match.end() - len(value) - (1 if string is not None else 0)
            if value.strip():
                path = ".".join(k for k in keys if k)
                yield Piece(value, start, context=path or None)
        pos = match.end()


# X12 -----------------------------------------------------------------------------------------------------------
_PERSON_ENTITIES = frozenset({"IL", "QC"})
_PROVIDER_ENTITIES = {"85": "billing provider NPI", "82": "rendering provider NPI", "DN": "referring provider NPI",
                      "77": "service facility NPI", "DK": "ordering provider NPI", "DQ": "supervising provider NPI",
                      "87": "pay-to provider NPI", "FA": "facility NPI", "1P": "provider NPI"}  # fmt: skip
_REF_MEANING = {"SY": ("SSN", None), "1W": ("member id", "MEMBER_ID"), "EA": ("medical record number", "MRN"),
                "EI": ("employer id", None), "6P": ("group number", None)}  # fmt: skip


def _x12_meaning(seg: list[str], index: int, entity: str | None) -> tuple[str, str | None]:
    """(context, asserted type) of element ``index`` of a segment, given the entity of the last NM1."""
    tag = seg[0]
    generic = f"{tag}{index:02d}"
    person = entity in _PERSON_ENTITIES
    if tag == "NM1":
        code = seg[1] if len(seg) > 1 else ""
        qualifier = seg[8] if len(seg) > 8 else ""
        if index == 9 and code in _PROVIDER_ENTITIES and qualifier == "XX":
            return _PROVIDER_ENTITIES[code], None
        if code in _PERSON_ENTITIES:
            if index == 9:
                return ("member id", "MEMBER_ID") if qualifier in ("MI", "II") else ("member identifier", None)
            if index in (3, 4, 5):
                return ("patient last name" if index == 3 else "patient given name"), "PERSON"
    if tag == "DMG" and index == 2 and len(seg) > 1 and seg[1] == "D8":
        return "date of birth", "DATE_OF_BIRTH"
    if tag == "N3" and index in (1, 2):
        return "street address", ("STREET_ADDRESS" if person else None)
    if tag == "N4" and index == 3:
        return "zip code", ("ZIP_CODE" if person else None)
    if tag == "REF" and index == 2 and len(seg) > 1 and seg[1] in _REF_MEANING:
        return _REF_MEANING[seg[1]]
    return generic, None


def extract_x12(stream: IO[str]) -> Iterator[Piece]:
    """Segments split on the terminator and elements on the separator, both read from the ISA header (element
    separator at position 3, component separator at 104, segment terminator at 105)."""
    chunks = _chunks(stream)
    buf = ""
    for first in chunks:
        buf += first
        if len(buf) >= 106:
            break
    lead = len(buf) - len(buf.lstrip("\ufeff \t\r\n"))
    if not buf[lead:].startswith("ISA") or len(buf) < lead + 106:
        raise Unreadable("not an X12 interchange (no ISA header)")
    element_sep, terminator = buf[lead + 3], buf[lead + 105]
    base, pos = 0, lead
    entity: str | None = None
    while True:
        end = buf.find(terminator, pos)
        if end < 0:
            more = next(chunks, None)
            if more is None:
                end = len(buf)
                if not buf[pos:].strip():
                    return
            else:
                buf, base, pos = buf[pos:] + more, base + pos, 0
                if len(buf) > MAX_FIELD + CHUNK:
                    raise Unreadable("an X12 segment exceeds the size limit")
                continue
        raw = buf[pos:end]
        skip = len(raw) - len(raw.lstrip("\r\n \t"))
        elements = raw[skip:].split(element_sep)
        elements[0] = elements[0].strip()
        if elements[0] == "NM1":
            entity = elements[1] if len(elements) > 1 else None
        cursor = base + pos + skip + len(elements[0]) + 1
        for index, value in enumerate(elements[1:], start=1):
            if value.strip() and elements[0] not in ("ISA", "IEA", "GS", "GE", "ST", "SE"):
                context, asserted = _x12_meaning(elements, index, entity)
                yield Piece(value, cursor, context=context, asserted_type=asserted)
            cursor += len(value) + 1
        pos = end + 1
        if end >= len(buf):
            return


# Dispatch ------------------------------------------------------------------------------------------------------
def extract(source: Source, fmt: str) -> Iterator[Piece]:
    """Pieces of a text-like source in format ``fmt`` (not ``zip``)."""
    with _text(source) as stream:
        if fmt == "csv":
            yield from extract_csv(stream, delimiter=",")
        elif fmt == "tsv":
            yield from extract_csv(stream, delimiter="\t")
        elif fmt == "json":
            yield from extract_json(stream)
        elif fmt == "x12":
            yield from extract_x12(stream)
        else:
            yield from extract_text(stream)


def sniff(source: Source) -> bytes:
    with source.open_binary() as raw:
        return raw.read(SNIFF)


def _member_opener(location: Path | bytes, name: str) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        archive = zipfile.ZipFile(location if isinstance(location, Path) else io.BytesIO(location))
        try:
            return archive.open(name)  # keeps the archive's file open until the member is closed
        finally:
            archive.close()

    return open_member


def zip_members(path: str, location: Path | bytes, depth: int = 0) -> Iterator[Source | tuple[str, str]]:
    """The members of the zip archive at ``location`` (a file, or a nested archive's bytes) as sources, nested
    archives expanded, or (path, reason) for an archive or member that cannot be read."""
    if depth > MAX_ZIP_DEPTH:
        yield path, "zip archives nested too deeply"
        return
    try:
        with zipfile.ZipFile(location if isinstance(location, Path) else io.BytesIO(location)) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
        yield path, "not a valid zip archive (truncated or corrupt)"
        return
    for info in infos:
        member = f"{path}!{info.filename}"
        suffix = Path(info.filename).suffix.lower()
        opener = _member_opener(location, info.filename)
        if suffix != ".zip":
            yield Source(member, opener, suffix)
            continue
        if info.file_size > MAX_NESTED_ZIP:
            yield member, "nested zip archive exceeds the size limit"
            continue
        try:
            with opener() as inner:
                blob = inner.read()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
            yield member, "corrupt or truncated archive member"
            continue
        yield from zip_members(member, blob, depth + 1)
