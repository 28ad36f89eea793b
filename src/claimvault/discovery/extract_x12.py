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


def _nm1(seg: list[str], index: int) -> Meaning | None:
    code = seg[1] if len(seg) > 1 else ""
    person = seg[2] == "1" if len(seg) > 2 else False
    qualifier = seg[8] if len(seg) > 8 else ""
    role = _PATIENT_ENTITIES.get(code) or _PROVIDER_ENTITIES.get(code) or "entity"
    if index in _NAME_PARTS and (person or (code in _PATIENT_ENTITIES and (len(seg) < 3 or seg[2] != "2"))):
        return f"{role} {_NAME_PARTS[index]}", "PERSON"
    if index == 9:
        if qualifier == "XX":
            return f"{role} NPI", "US_NPI"
        if code in _PATIENT_ENTITIES:
            return ("subscriber SSN", "US_SSN") if qualifier == "34" else ("member id", "MEMBER_ID")
        return f"{role} identifier", None
    return None


def x12_meaning(seg: list[str], index: int, component: int, entity: str | None, head: str = "") -> Meaning:
    """(context, asserted type) of element ``index`` (component ``component``, 0 when not a composite, ``head``
    the composite's first component) of a segment, given the entity code of the last NM1."""
    tag = seg[0]
    generic = f"{tag}{index:02d}" + (f"-{component}" if component else "")
    role = _PATIENT_ENTITIES.get(entity or "") or _PROVIDER_ENTITIES.get(entity or "") or "entity"
    found: Meaning | None = None
    if tag == "NM1" and not component:
        found = _nm1(seg, index)
    elif tag == "BPR" and index in (7, 9, 13, 15) and len(seg) > index - 1:
        qualifier = seg[index - 1]  # BPR06/12: 01 ABA routing number; BPR08/14: DA/SG/ALC account type
        if index in (7, 13):
            found = ("bank routing number", "ABA_ROUTING") if qualifier == "01" else ("bank id", None)
        else:
            found = ("bank account number", "BANK_ACCOUNT") if qualifier in ("DA", "SG", "ALC") else ("account", None)
    elif tag == "N1" and index == 4 and len(seg) > 3:
        found = ("payee NPI", "US_NPI") if seg[3] == "XX" else ("N1 identifier", None)
    elif tag == "DMG" and index == 2 and (len(seg) < 2 or seg[1] in ("D8", "")):
        found = "date of birth", "DATE_OF_BIRTH"
    elif tag == "N3" and index in (1, 2):
        found = f"{role} street address", ("STREET_ADDRESS" if index == 1 else None)
    elif tag == "N4" and index in (1, 2, 3):
        found = f"{role} " + ("city", "state", "zip code")[index - 1], ("ZIP_CODE" if index == 3 else None)
    elif tag == "REF" and index == 2 and len(seg) > 1 and seg[1] in _REF_MEANING:
        found = _REF_MEANING[seg[1]]
    elif tag == "PER" and index in (4, 6, 8):
        qualifier = seg[index - 1]
        if qualifier in _PHONE_QUALIFIERS:
            found = "contact phone", "PHONE"
        elif qualifier == "EM":
            found = "contact email", "EMAIL"
    elif tag == "PER" and index == 2:
        found = "contact name", None
    elif tag == "HI" and component == 2:
        found = ("diagnosis code ICD-10-CM", "ICD10_CM") if head in _ICD10_QUALIFIERS else None
    elif index in _PROCEDURE_ELEMENTS.get(tag, ()) and component == 2:
        found = "procedure code CPT/HCPCS", ("PROCEDURE_CODE" if head in ("HC", "AD") else None)
    elif index in _PROCEDURE_ELEMENTS.get(tag, ()) and component > 2:
        found = "procedure modifier", None
    elif tag == "CLM" and index == 1:
        found = "patient control number", None
    return found if found is not None else (generic, None)


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


def extract_x12(stream: IO[str]) -> Iterator[Piece]:
    """Segments split on the terminator and elements on the separator, both read from the ISA header (element
    separator at position 3, component separator at 104, segment terminator at 105)."""
    chunks = base.chunks(stream)
    buf, lead = _header(chunks)
    element_sep, component_sep, terminator = buf[lead + 3], buf[lead + 104], buf[lead + 105]
    if len({element_sep, component_sep, terminator}) < 3 or terminator.isalnum() or element_sep.isalnum():
        raise Unreadable("malformed X12 ISA header (bad delimiters)")
    offset, pos = 0, lead
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
                buf, offset, pos = buf[pos:] + more, offset + pos, 0
                if len(buf) > MAX_FIELD + base.CHUNK:
                    raise Unreadable("an X12 segment exceeds the size limit")
                continue
        raw = buf[pos:end]
        skip = len(raw) - len(raw.lstrip("\r\n \t"))
        elements = raw[skip:].split(element_sep)
        tag = elements[0] = elements[0].strip()
        if tag == "NM1":
            entity = elements[1] if len(elements) > 1 else None
        cursor = offset + pos + skip + len(raw[skip:].split(element_sep, 1)[0]) + 1
        for index, value in enumerate(elements[1:], start=1):
            if value.strip() and tag not in _ENVELOPE:
                yield from _element(elements, index, value, cursor, component_sep, entity)
            cursor += len(value) + 1
        pos = end + 1
        if end >= len(buf):
            return


def _element(seg: list[str], index: int, value: str, cursor: int, sep: str, entity: str | None) -> Iterator[Piece]:
    if sep not in value:
        context, asserted = x12_meaning(seg, index, 0, entity)
        yield Piece(value, cursor, context=context, asserted_type=asserted)
        return
    parts = value.split(sep)
    for component, part in enumerate(parts, start=1):
        if part.strip():
            context, asserted = x12_meaning(seg, index, component, entity, parts[0])
            yield Piece(part, cursor, context=context, asserted_type=asserted)
        cursor += len(part) + 1
