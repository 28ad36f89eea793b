"""Plain-text and CSV/TSV extraction.

Plain text (and the text streams XLSX/DOCX/PDF produce) is read in chunks that overlap; each piece owns the
findings that *start* in ``owned``, so a value across a chunk border is reported once, with the look-back context
the recognizers need. A line longer than ``MAX_LINE`` makes the file unreadable (findings before it are kept),
and memory stays bounded whatever the line length. CSV/TSV cells are pieces with their column header as context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import IO

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import MAX_FIELD, MAX_VALUE, OVERLAP, Piece, Unreadable


def _line_guard(parts: Iterable[str], max_line: int) -> Iterator[str]:
    run = 0  # characters since the last line break
    for part in parts:
        first = _first_break(part)
        if first < 0:
            run += len(part)
        else:
            run += first  # the line ending at the first break
            if run <= max_line:
                cut = max(part.rfind("\n"), part.rfind("\r"))
                run = len(part) - cut - 1
        if run > max_line:
            raise Unreadable(f"a line exceeds the size limit ({max_line} characters)")
        yield part


def _first_break(part: str) -> int:
    hits = [i for i in (part.find("\n"), part.find("\r")) if i >= 0]
    return min(hits) if hits else -1


def extract_text(parts: Iterable[str], *, max_line: int | None = None) -> Iterator[Piece]:
    """Overlapping windows over ``parts`` (chunks of one text); window k owns the findings starting in [its start
    + carried - MAX_VALUE, end - MAX_VALUE) (the last window up to its end), so ownership tiles the text exactly
    once."""
    limit = base.MAX_LINE if max_line is None else max_line
    carry = ""
    offset = 0  # offset of carry[0]
    pending: str | None = None
    for chunk in _line_guard(parts, limit):
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


def _cell_pattern(delimiter: str, *, final: bool = False) -> re.Pattern[str]:
    """One cell and the separator after it. A quoted cell's body is read possessively (to the first lone quote) so
    a cell cut by the end of the buffer waits for more text instead of ending at a doubled quote; once the whole
    file is read (``final``) the body may back off, so an unterminated quote is still read leniently."""
    d = re.escape(delimiter)
    body = '(?:[^"]|"")*' if final else '(?:[^"]|"")*+'
    return re.compile(rf'(?:"({body})"[^{d}\r\n]*|([^"{d}\r\n][^{d}\r\n]*|))({d}|\r\n|\n|\r)')


_PLAIN_RUN = re.compile(r'[^"\r\n]*')  # text with no quote and no line break: its cells are all bare


def extract_csv(stream: IO[str], *, delimiter: str) -> Iterator[Piece]:
    """Each non-empty cell after the header row, with its column header as context. A quoted cell's piece is its
    raw text between the quotes (a doubled quote stays doubled) so offsets stay exact; characters after a closing
    quote and before the delimiter are ignored; blank lines are skipped."""
    cell, last_cells = _cell_pattern(delimiter), _cell_pattern(delimiter, final=True)
    plain_run = _PLAIN_RUN.match
    chunks = base.chunks(stream)
    headers: list[str] = []
    buf, offset, pos, eof = "", 0, 0, False  # offset: file offset of buf[0]
    row = col = 0
    while True:
        if col == 0 and pos < len(buf) and buf[pos] in "\r\n":
            pos += 1  # a blank line
            continue
        # Fast path: the cells of a quote-free run are split off with str.split; only a cell that holds a quote,
        # or is cut short by the end of the buffer, goes through the cell pattern below.
        end = run.end() if (run := plain_run(buf, pos)) else pos
        cells = buf[pos:end].split(delimiter)
        row_end = end < len(buf) and buf[end] != '"'  # the run ends at a line break
        rest = 0 if row_end else len(cells.pop())
        if cells:
            if row == 0:
                headers += [value.strip() for value in cells]
            else:
                start = offset + pos
                for c, value in enumerate(cells, start=col):
                    if value and not value.isspace():
                        yield Piece(value, start, headers[c] if c < len(headers) else None)
                    start += len(value) + 1
            if row_end:
                row, col, pos = row + 1, 0, end + 1
                continue
            col, pos = col + len(cells), end - rest
        match = (last_cells if eof else cell).match(buf, pos) if pos < len(buf) else None
        if match is None:
            if eof:
                if pos < len(buf):
                    raise Unreadable("unterminated quoted CSV cell")
                return
            more = next(chunks, None)
            if more is None:
                eof = True
                if pos < len(buf) and buf[-1] not in "\r\n":
                    buf += "\n"  # a last line without its line break
            else:
                buf, offset, pos = buf[pos:] + more, offset + pos, 0
                if len(buf) > MAX_FIELD + base.CHUNK:
                    raise Unreadable("a CSV cell exceeds the size limit")
            continue
        quoted, bare, sep = match.groups()
        value = quoted if quoted is not None else bare
        if row == 0:
            headers.append(value.replace('""', '"').strip())
        elif value.strip():
            start = offset + match.start(1 if quoted is not None else 2)
            yield Piece(value, start, headers[col] if col < len(headers) else None)
        if sep == delimiter:
            col += 1
        else:
            row, col = row + 1, 0
        pos = match.end()
