"""Recognise an inbound X12 file's kind from its content (ISA delimiters, then ST01 and GS08), never its name."""

from __future__ import annotations

from claimvault.billing.clearinghouse.interfaces import FileKind

_ISA_LENGTH = 106


def detect_kind(data: bytes) -> FileKind:
    """``999``, ``277CA`` (277 with GS08 005010X214), ``277``, ``835``, ``TA1`` (an interchange ack alone) or
    ``unknown``; looks only at the envelope, so it never fails on content."""
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return "unknown"
    if not text.startswith("ISA") or len(text) < _ISA_LENGTH:
        return "unknown"
    element, segment = text[3], text[105]
    if element.isalnum() or segment.isalnum() or element == segment:
        return "unknown"
    gs08: str | None = None
    has_ta1 = False
    for raw in text.split(segment):
        parts = raw.strip("\r\n").split(element)
        sid = parts[0]
        if sid == "TA1":
            has_ta1 = True
        elif sid == "GS" and len(parts) > 8:
            gs08 = parts[8]
        elif sid == "ST" and len(parts) > 1:
            st01 = parts[1]
            if st01 == "999":
                return "999"
            if st01 == "835":
                return "835"
            if st01 == "277":
                return "277CA" if (gs08 or "").startswith("005010X214") else "277"
            return "unknown"
    return "TA1" if has_ta1 else "unknown"
