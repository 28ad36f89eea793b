"""X12 (837/835/834/270/271...) extraction: segments split on the terminator, elements on the element separator
and composites on the component separator, all three read from the ISA header. Each element (or component of a
composite) is a piece whose context is its meaning in the standard and, where that meaning fixes the entity
type, an asserted type: NM1*85/82/... NM109 with qualifier XX → ``US_NPI``; NM1*IL/QC NM109 → ``MEMBER_ID``
(``US_SSN`` with qualifier 34); person names NM103-NM105 → ``PERSON``; DMG02 → ``DATE_OF_BIRTH``; N301 →
``STREET_ADDRESS``; N403 → ``ZIP_CODE``; HI ICD-10-CM codes (after ``ABK:``/``ABF:``...) → ``ICD10_CM``; SV1-01,
SV2-02, SV3-01 and SVC-01/06 procedure codes (after ``HC:``) → ``PROCEDURE_CODE``; REF*SY → ``US_SSN``, REF*EA →
``MRN``, REF*1W/0F → ``MEMBER_ID``; PER numbers → ``PHONE``/``EMAIL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import IO

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import MAX_FIELD, Piece, Unreadable

Meaning = tuple[str, str | None]  # (context, asserted type)

_PATIENT_ENTITIES = {"IL": "subscriber", "QC": "patient"}
_PROVIDER_ENTITIES = {"85": "billing provider", "82": "rendering provider", "DN": "referring provider",
                      "77": "service facility", "DK": "ordering provider", "DQ": "supervising provider",
                      "87": "pay-to provider", "FA": "facility", "1P": "provider", "71": "attending provider",
                      "72": "operating physician", "ZZ": "other provider", "P3": "primary care provider"}  # fmt: skip
_REF_MEANING: dict[str, Meaning] = {
    "SY": ("SSN", "US_SSN"),
    "1W": ("member id", "MEMBER_ID"),
    "0F": ("subscriber number", "MEMBER_ID"),
    "EA": ("medical record number", "MRN"),
    "EI": ("employer id", None),
    "6P": ("group number", None),
    "1L": ("group or policy number", None),
    "D9": ("claim number", None),
    "G1": ("prior authorization number", None),
}
_ICD10_QUALIFIERS = frozenset({"ABK", "ABF", "ABJ", "ABN", "APR"})
_PROCEDURE_ELEMENTS = {"SV1": (1,), "SV2": (2,), "SV3": (1,), "SVC": (1, 6)}
_PHONE_QUALIFIERS = frozenset({"TE", "CP", "FX", "HP", "WP", "BN"})
_NAME_PARTS = {3: "last name", 4: "first name", 5: "middle name"}
_ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})


def _nm1(fact: tuple[str, str | None, str], index: int) -> Meaning | None:
    code, kind, qualifier = fact
    role = _PATIENT_ENTITIES.get(code) or _PROVIDER_ENTITIES.get(code) or "entity"
    if index in _NAME_PARTS and (kind == "1" or (code in _PATIENT_ENTITIES and kind != "2")):
        return f"{role} {_NAME_PARTS[index]}", "PERSON"
    if index == 9:
        if qualifier == "XX":
            return f"{role} NPI", "US_NPI"
        if code in _PATIENT_ENTITIES:
            return ("subscriber SSN", "US_SSN") if qualifier == "34" else ("member id", "MEMBER_ID")
        return f"{role} identifier", None
    return None


Fact = tuple[str, str | None, str] | str | None


def _fact(seg: list[str], index: int, component: int, entity: str | None, head: str) -> Fact:
    """What ``_meaning`` needs to know of an element besides its tag, index and component: a qualifier elsewhere
    in the segment, the composite's first component or the role of the last NM1 (None: nothing)."""
    tag = seg[0]
    if tag == "NM1":
        n = len(seg)
        return (seg[1] if n > 1 else "", seg[2] if n > 2 else None, seg[8] if n > 8 else "") if not component else None
    if (tag == "BPR" and index in (7, 9, 13, 15)) or (tag == "PER" and index in (4, 6, 8)):
        return seg[index - 1]  # BPR06/08/12/14 and PER03/05/07 qualify the element after them
    if tag == "N1" and index == 4:
        return seg[3]
    if tag in ("DMG", "REF") and index == 2:
        return seg[1]
    if (tag == "N3" and index in (1, 2)) or (tag == "N4" and index in (1, 2, 3)):
        return _PATIENT_ENTITIES.get(entity or "") or _PROVIDER_ENTITIES.get(entity or "") or "entity"
    if component == 2 and (tag == "HI" or index in _PROCEDURE_ELEMENTS.get(tag, ())):
        return head
    return None


_FACT_TAGS = frozenset({"NM1", "BPR", "PER", "N1", "DMG", "REF", "N3", "N4", "HI", *_PROCEDURE_ELEMENTS})


@lru_cache(maxsize=4096)
def _meaning(tag: str, index: int, component: int, fact: Fact) -> Meaning:
    """``x12_meaning`` from what it reads (see ``_fact``); a few thousand combinations cover real files."""
    found: Meaning | None = None
    if tag == "NM1" and isinstance(fact, tuple):
        found = _nm1(fact, index)
    elif tag == "BPR" and index in (7, 13):  # BPR06/12: 01 ABA routing number; BPR08/14: DA/SG/ALC account type
        found = ("bank routing number", "ABA_ROUTING") if fact == "01" else ("bank id", None)
    elif tag == "BPR" and index in (9, 15):
        found = ("bank account number", "BANK_ACCOUNT") if fact in ("DA", "SG", "ALC") else ("account", None)
    elif tag == "N1" and index == 4:
        found = ("payee NPI", "US_NPI") if fact == "XX" else ("N1 identifier", None)
    elif tag == "DMG" and index == 2 and fact in ("D8", ""):
        found = "date of birth", "DATE_OF_BIRTH"
    elif tag == "N3" and index in (1, 2):
        found = f"{fact} street address", ("STREET_ADDRESS" if index == 1 else None)
    elif tag == "N4" and index in (1, 2, 3):
        found = f"{fact} " + ("city", "state", "zip code")[index - 1], ("ZIP_CODE" if index == 3 else None)
    elif tag == "REF" and index == 2 and isinstance(fact, str) and fact in _REF_MEANING:
        found = _REF_MEANING[fact]
    elif tag == "PER" and index in (4, 6, 8):
        if fact in _PHONE_QUALIFIERS:
            found = "contact phone", "PHONE"
        elif fact == "EM":
            found = "contact email", "EMAIL"
    elif tag == "PER" and index == 2:
        found = "contact name", None
    elif tag == "HI" and component == 2:
        found = ("diagnosis code ICD-10-CM", "ICD10_CM") if fact in _ICD10_QUALIFIERS else None
    elif index in _PROCEDURE_ELEMENTS.get(tag, ()) and component == 2:
        found = "procedure code CPT/HCPCS", ("PROCEDURE_CODE" if fact in ("HC", "AD") else None)
    elif index in _PROCEDURE_ELEMENTS.get(tag, ()) and component > 2:
        found = "procedure modifier", None
    elif tag == "CLM" and index == 1:
        found = "patient control number", None
    return found if found is not None else (f"{tag}{index:02d}" + (f"-{component}" if component else ""), None)


def x12_meaning(seg: list[str], index: int, component: int, entity: str | None, head: str = "") -> Meaning:
    """(context, asserted type) of element ``index`` (component ``component``, 0 when not a composite, ``head``
    the composite's first component) of a segment, given the entity code of the last NM1."""
    return _meaning(seg[0], index, component, _fact(seg, index, component, entity, head))


def _header(chunks: Iterator[str]) -> tuple[str, int]:
    buf = ""
    for first in chunks:
        buf += first
        if len(buf) >= 4096:
            break
    lead = len(buf) - len(buf.lstrip("\ufeff \t\r\n"))
    if not buf[lead:].startswith("ISA") or len(buf) < lead + 106:
        raise Unreadable("not an X12 interchange (no ISA header)")
    return buf, lead


def _segments(buf: str, offset: int, chunks: Iterator[str], terminator: str) -> Iterator[tuple[str, int]]:
    """The raw segments of ``buf`` (at file ``offset``) and of the chunks after it, each with its offset."""
    while True:
        raws = buf.split(terminator)
        rest = raws.pop()  # not terminated yet: completed by the next chunk
        for raw in raws:
            yield raw, offset
            offset += len(raw) + 1
        more = next(chunks, None)
        if more is None:
            if rest.strip():
                yield rest, offset
            return
        buf = rest + more
        if len(buf) > MAX_FIELD + base.CHUNK:
            raise Unreadable("an X12 segment exceeds the size limit")


def extract_x12(stream: IO[str]) -> Iterator[Piece]:
    """Segments split on the terminator and elements on the separator, both read from the ISA header (element
    separator at position 3, component separator at 104, segment terminator at 105)."""
    chunks = base.chunks(stream)
    buf, lead = _header(chunks)
    element_sep, component_sep, terminator = buf[lead + 3], buf[lead + 104], buf[lead + 105]
    if len({element_sep, component_sep, terminator}) < 3 or terminator.isalnum() or element_sep.isalnum():
        raise Unreadable("malformed X12 ISA header (bad delimiters)")
    entity: str | None = None
    for raw, offset in _segments(buf[lead:], lead, chunks, terminator):
        segment = raw.lstrip("\r\n \t")
        elements = segment.split(element_sep)
        cursor = offset + len(raw) - len(segment) + len(elements[0]) + 1
        tag = elements[0] = elements[0].strip()
        if tag == "NM1":
            entity = elements[1] if len(elements) > 1 else None
        if tag not in _ENVELOPE and len(elements) > 1:
            yield from _segment_pieces(elements, cursor, component_sep, entity)


def _segment_pieces(seg: list[str], cursor: int, sep: str, entity: str | None) -> Iterator[Piece]:
    """A piece per non-blank element (per non-blank component of a composite); ``cursor``: offset of element 1."""
    tag = seg[0]
    facts = tag in _FACT_TAGS
    meaning = _meaning
    for index in range(1, len(seg)):
        value = seg[index]
        if value and not value.isspace():
            if sep not in value:
                fact = _fact(seg, index, 0, entity, "") if facts else None
                context, asserted = meaning(tag, index, 0, fact)
                yield Piece(value, cursor, context, asserted)
            else:
                parts = value.split(sep)
                part_cursor = cursor
                for component, part in enumerate(parts, start=1):
                    if part and not part.isspace():
                        fact = _fact(seg, index, component, entity, parts[0]) if facts else None
                        context, asserted = meaning(tag, index, component, fact)
                        yield Piece(part, part_cursor, context, asserted)
                    part_cursor += len(part) + 1
        cursor += len(value) + 1
