"""PDF extraction: the text layer, read with ``pypdf`` page by page and scanned as free text (no context).

Extracted text stream (what piece offsets index): each page's text as ``pypdf`` extracts it, followed by a form
feed (``\\f``). Limits: files over ``MAX_PDF_BYTES`` are refused, and after ``MAX_PDF_PAGES`` pages the file is
reported unreadable (findings from the pages read are kept). Encrypted PDFs are read when they open with an
empty user password (owner-password-only protection); otherwise, and for any broken or truncated PDF, the file is
unreadable with a reason. ``pypdf`` may raise nearly anything on hostile input, so every error it raises is
turned into ``Unreadable``; its messages are never passed on (they may quote file content).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO

from pypdf import PdfReader
from pypdf.errors import WrongPasswordError

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import Piece, Source, Unreadable
from claimvault.discovery.extract_text import extract_text

MAX_PDF_BYTES = 256 << 20
MAX_PDF_PAGES = 2000

logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about malformed files may quote content


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _open(stream: IO[bytes]) -> PdfReader:
    """A reader for the PDF; one locked only with an owner password opens with the empty user password (pypdf
    tries it when given ``password=""``). No key of ours is involved: this is the PDF's own encryption."""
    try:
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted:
            stream.seek(0)
            reader = PdfReader(stream, strict=False, password="")
    except WrongPasswordError:
        raise Unreadable("encrypted PDF (a password is needed)") from None
    except Exception:  # noqa: BLE001 - a third-party parser on untrusted input; the reason is ours
        raise Unreadable("broken PDF (its structure could not be read)") from None
    try:
        locked = reader.is_encrypted and not reader.pages
    except Exception:  # noqa: BLE001
        locked = True
    if locked:
        raise Unreadable("encrypted PDF (a password is needed)")
    return reader


def _pages(reader: PdfReader) -> Iterator[str]:
    try:
        count = len(reader.pages)
    except Exception:  # noqa: BLE001
        raise Unreadable("broken PDF (its page tree could not be read)") from None
    for number in range(min(count, MAX_PDF_PAGES)):
        try:
            text = reader.pages[number].extract_text()
        except Exception:  # noqa: BLE001
            raise Unreadable(f"broken PDF (page {number + 1} could not be read)") from None
        yield text + "\f"
    if count > MAX_PDF_PAGES:
        raise Unreadable(f"PDF has more than {MAX_PDF_PAGES} pages; the rest was not scanned")


def extract_pdf(source: Source) -> Iterator[Piece]:
    with base.seekable_bytes(source) as stream:
        if _size(stream) > MAX_PDF_BYTES:
            raise Unreadable("PDF exceeds the size limit")
        reader = _open(stream)
        yield from extract_text(base.rechunk(_pages(reader)))
