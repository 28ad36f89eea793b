"""HL7 v2 extraction: segments separated by ``\\r`` (``\\n`` and ``\\r\\n`` tolerated), the field separator and
encoding characters read from each MSH (or FHS/BHS) header. Every field, repetition, component and
subcomponent is a piece whose context names it (``PID-5.2 patient name given name``) and, where HL7 fixes its
meaning, an asserted type: PID-3 → ``MRN`` (or what its CX.5 identifier type says: SS, MB, MC, NPI...), PID-5 /
PID-6 / PID-9 / NK1-2 / GT1-3 / IN1-16 names → ``PERSON``, PID-7 / GT1-8 / IN1-18 → ``DATE_OF_BIRTH``, address
street → ``STREET_ADDRESS`` and zip → ``ZIP_CODE``, PID-13/14 (and NK1/GT1 phones) → ``PHONE``, PID-19 / GT1-12
/ IN2-2 → ``US_SSN``, IN1-36/49 → ``MEMBER_ID``, IN2-8 → ``MEDICARE_MBI``, DG1-3 / FT1-19 → ``ICD10_CM``, FT1-25
/ PR1-3 → ``PROCEDURE_CODE``, and provider ids (XCN: PV1-7/8/9/17/52, ORC-12, OBR-16, ...) → ``US_NPI`` where
the identifier type (XCN.13) or assigning authority (XCN.9) says NPI. Offsets are exact code points in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import IO

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import MAX_FIELD, Piece, Unreadable

_BREAK = re.compile(r"[\r\n]")
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_HEADERS = ("MSH", "FHS", "BHS")

# (segment, field) -> (description, kind); kinds are interpreted in _component_meaning
_FIELDS: dict[tuple[str, int], tuple[str, str]] = {
    ("PID", 2): ("patient external id", "cx"), ("PID", 3): ("patient identifier", "cx_mrn"),
    ("PID", 4): ("alternate patient id", "cx"), ("PID", 5): ("patient name", "xpn"),
    ("PID", 6): ("mother's maiden name", "xpn"), ("PID", 7): ("patient date of birth", "dob"),
    ("PID", 9): ("patient alias", "xpn"), ("PID", 11): ("patient address", "xad"),
    ("PID", 13): ("patient home phone", "xtn"), ("PID", 14): ("patient business phone", "xtn"),
    ("PID", 18): ("patient account number", "plain"), ("PID", 19): ("patient SSN", "ssn"),
    ("PID", 20): ("driver's license number", "plain"), ("MRG", 1): ("prior patient identifier", "cx_mrn"),
    ("NK1", 2): ("next of kin name", "xpn"), ("NK1", 4): ("next of kin address", "xad"),
    ("NK1", 5): ("next of kin phone", "xtn"), ("NK1", 6): ("next of kin business phone", "xtn"),
    ("NK1", 37): ("contact person SSN", "ssn"),
    ("GT1", 3): ("guarantor name", "xpn"), ("GT1", 5): ("guarantor address", "xad"),
    ("GT1", 6): ("guarantor home phone", "xtn"), ("GT1", 7): ("guarantor business phone", "xtn"),
    ("GT1", 8): ("guarantor date of birth", "dob"), ("GT1", 12): ("guarantor SSN", "ssn"),
    ("IN1", 16): ("name of insured", "xpn"), ("IN1", 18): ("insured date of birth", "dob"),
    ("IN1", 19): ("insured address", "xad"), ("IN1", 36): ("policy number member id", "member"),
    ("IN1", 49): ("insured id number member id", "member"), ("IN1", 8): ("group number", "plain"),
    ("IN2", 2): ("insured SSN", "ssn"), ("IN2", 8): ("medicare health insurance number MBI", "mbi"),
    ("DG1", 3): ("diagnosis code", "icd"), ("DG1", 16): ("diagnosing clinician", "xcn"),
    ("FT1", 19): ("diagnosis code", "icd"), ("FT1", 20): ("performed by", "xcn"),
    ("FT1", 21): ("ordered by", "xcn"), ("FT1", 25): ("procedure code", "proc"),
    ("PR1", 3): ("procedure code", "proc"), ("PR1", 8): ("anesthesiologist", "xcn"),
    ("PR1", 11): ("surgeon", "xcn"), ("PR1", 12): ("procedure practitioner", "xcn"),
    ("PV1", 7): ("attending doctor", "xcn"), ("PV1", 8): ("referring doctor", "xcn"),
    ("PV1", 9): ("consulting doctor", "xcn"), ("PV1", 17): ("admitting doctor", "xcn"),
    ("PV1", 52): ("other healthcare provider", "xcn"), ("PV1", 19): ("visit number", "plain"),
    ("ORC", 12): ("ordering provider", "xcn"), ("OBR", 16): ("ordering provider", "xcn"),
    ("OBR", 28): ("result copies to", "xcn"), ("EVN", 5): ("operator", "xcn"), ("ROL", 4): ("role person", "xcn"),
    ("TXA", 5): ("primary activity provider", "xcn"), ("OBX", 5): ("observation value", "plain"),
    ("NTE", 3): ("comment", "plain"),
}  # fmt: skip
_CX_TYPES = {"MR": "MRN", "PI": "MRN", "PT": "MRN", "SS": "US_SSN", "MB": "MEMBER_ID", "SN": "MEMBER_ID",
             "MA": "MEMBER_ID", "MC": "MEDICARE_MBI", "NPI": "US_NPI"}  # fmt: skip
_NAME_PARTS: dict[int, tuple[str, str | None]] = {
    1: ("family name", "PERSON"),
    2: ("given name", "PERSON"),
    3: ("middle name", "PERSON"),
}
_XCN_NAME: dict[int, tuple[str, str | None]] = {
    2: ("family name", "PERSON"),
    3: ("given name", "PERSON"),
    4: ("middle name", "PERSON"),
}
_XAD: dict[int, tuple[str, str | None]] = {
    1: ("street", "STREET_ADDRESS"), 2: ("other designation", None), 3: ("city", None), 4: ("state", None),
    5: ("zip code", "ZIP_CODE"), 6: ("country", None),
}  # fmt: skip
_XTN: dict[int, tuple[str, str | None]] = {
    1: ("phone number", "PHONE"),
    4: ("email", "EMAIL"),
    6: ("area code", None),
    7: ("local number", None),
}
_ICD_SYSTEMS = frozenset({"", "I10", "I10C", "ICD10", "ICD10CM", "ICD-10-CM"})
_PROC_SYSTEMS = frozenset({"", "C4", "C5", "CPT", "CPT4", "HCPCS", "HCPT", "HPC"})


@dataclass(frozen=True)
class Separators:
    field: str
    component: str = "^"
    repetition: str = "~"
    subcomponent: str = "&"


_HINTED = {key: kind for key, (_, kind) in _FIELDS.items() if kind in ("cx", "cx_mrn", "member", "xcn", "icd", "proc")}


def _hint(kind: str, comps: list[str], subcomponent: str) -> str | None:
    """The entity type the other components of a repetition (CX.5, XCN.9/13, the coding system in component 3)
    give component 1 of a field of ``kind``, if any; the only part of the components ``_component_meaning`` reads."""

    def comp_at(i: int) -> str:
        return comps[i - 1].split(subcomponent, 1)[0].strip().upper() if i <= len(comps) else ""

    if kind == "xcn":
        return "US_NPI" if comp_at(13) == "NPI" or comp_at(9) == "NPI" else None
    if kind == "icd":
        return "ICD10_CM" if comp_at(3) in _ICD_SYSTEMS else None
    if kind == "proc":
        return "PROCEDURE_CODE" if comp_at(3) in _PROC_SYSTEMS else None
    return _CX_TYPES.get(comp_at(5))


def _component_meaning(kind: str, comp: int, sub: int, hint: str | None) -> tuple[str, str | None]:
    """(component description, asserted type) of component ``comp`` / subcomponent ``sub`` of a field of
    ``kind``, given the ``_hint`` of its repetition."""
    first = sub == 1
    if kind in ("cx", "cx_mrn", "member") and comp == 1:
        default = {"cx_mrn": "MRN", "member": "MEMBER_ID"}.get(kind)
        return "id", (hint or default) if first else None
    if kind == "cx" or kind == "cx_mrn":
        return {4: "assigning authority", 5: "identifier type"}.get(comp, ""), None
    if kind == "xpn" and comp in _NAME_PARTS:
        desc, entity = _NAME_PARTS[comp]
        return desc, entity if first else None
    if kind == "xcn":
        if comp == 1:
            return ("NPI" if hint else "id"), hint if first else None
        desc, entity = _XCN_NAME.get(comp, ("", None))
        return desc, entity if first else None
    if kind == "xad" and comp in _XAD:
        desc, entity = _XAD[comp]
        return desc, entity if first else None
    if kind == "xtn" and comp in _XTN:
        desc, entity = _XTN[comp]
        return desc, entity if first else None
    single = {"dob": "DATE_OF_BIRTH", "ssn": "US_SSN", "mbi": "MEDICARE_MBI"}
    if kind in single and comp == 1:
        return "", single[kind] if first else None
    if kind == "icd" and comp == 1:
        return "code", hint if first else None
    if kind == "proc" and comp == 1:
        return "code", hint if first else None
    if kind in ("icd", "proc") and comp == 2:
        return "description", None
    if kind in ("icd", "proc") and comp in (3, 6):
        return "coding system", None  # "I10" names ICD-10 here; it is not the code I10
    return "", None


@lru_cache(maxsize=4096)
def _meaning(
    tag: str, number: int, comp: int, sub: int, multi_comp: bool, multi_sub: bool, hint: str | None
) -> tuple[str, str | None]:
    """(context, asserted type) of a piece; a few thousand combinations cover real files, so it is cached."""
    desc, kind = _FIELDS.get((tag, number), ("", "plain"))
    part, asserted = _component_meaning(kind, comp, sub, hint)
    if part == "coding system":
        return "coding system name", asserted  # no field words that would make "I10" a diagnosis
    name = f"{tag}-{number}" + (f".{comp}" if multi_comp else "") + (f".{sub}" if multi_sub else "")
    return " ".join(x for x in (name, desc, part) if x), asserted


def _separators(segment: str) -> Separators:
    if len(segment) < 4 or segment[3].isalnum() or segment[3].isspace():
        raise Unreadable("malformed HL7 header (bad field separator)")
    fs = segment[3]
    enc = segment[4:].split(fs, 1)[0]
    chars = [enc[i] if i < len(enc) else d for i, d in enumerate("^~\\&")]
    if len(set([fs, *chars])) < 5 or any(c.isalnum() for c in chars):
        raise Unreadable("malformed HL7 header (bad encoding characters)")
    return Separators(fs, chars[0], chars[1], chars[3])


def _segment_pieces(segment: str, start: int, seps: Separators) -> Iterator[Piece]:
    """Every non-blank subcomponent of every field (the header's own separator fields excepted)."""
    fields = segment.split(seps.field)
    tag = fields[0]
    header = tag in _HEADERS
    number = 1 if header else 0  # a header's separator is its field 1
    cursor = start + len(tag) + 1
    comp_sep, rep_sep, sub_sep = seps.component, seps.repetition, seps.subcomponent
    meaning = _meaning
    for value in fields[1:]:
        number += 1
        if not value or value.isspace() or (header and number <= 2):
            cursor += len(value) + 1
            continue
        kind = _HINTED.get((tag, number))
        if comp_sep not in value and rep_sep not in value and sub_sep not in value:  # the common one-part field
            context, asserted = meaning(
                tag, number, 1, 1, False, False, _hint(kind, [value], sub_sep) if kind else None
            )
            yield Piece(value, cursor, context, asserted)
            cursor += len(value) + 1
            continue
        for rep in value.split(rep_sep):
            comps = rep.split(comp_sep)
            multi_comp = len(comps) > 1
            hint = _hint(kind, comps, sub_sep) if kind else None
            for c, comp in enumerate(comps, start=1):
                subs = comp.split(sub_sep) if sub_sep in comp else (comp,)
                multi_sub = len(subs) > 1
                for s, sub in enumerate(subs, start=1):
                    if sub and not sub.isspace():
                        context, asserted = meaning(tag, number, c, s, multi_comp, multi_sub, hint)
                        yield Piece(sub, cursor, context, asserted)
                    cursor += len(sub) + 1  # over the separator that follows (one past the field's end at last)


def _lines(stream: IO[str]) -> Iterator[tuple[str, int]]:
    """The file split at every ``\\r`` and ``\\n``, each line with its offset (the last one may be empty)."""
    rest, offset = "", 0  # offset: file offset of rest[0]
    for more in base.chunks(stream):
        buf = rest + more
        if len(buf) > MAX_FIELD + base.CHUNK:
            raise Unreadable("an HL7 segment exceeds the size limit")
        lines = _BREAK.split(buf)
        rest = lines.pop()  # no break after it yet: completed by the next chunk
        for line in lines:
            yield line, offset
            offset += len(line) + 1
    yield rest, offset


def extract_hl7(stream: IO[str]) -> Iterator[Piece]:
    """Pieces of an HL7 v2 file (one or more messages, optionally in FHS/BHS batches)."""
    seps: Separators | None = None
    for line, offset in _lines(stream):
        segment = line.lstrip("\ufeff \t")
        if not segment or segment.isspace():
            continue
        start = offset + len(line) - len(segment)
        tag = segment[:3]
        if tag in _HEADERS:
            seps = _separators(segment)
        if seps is None:
            raise Unreadable("not an HL7 v2 message (no MSH header)")
        if _TAG.match(tag) and segment[3:4] in ("", seps.field):
            yield from _segment_pieces(segment, start, seps)
        else:  # a continuation line or stray text: scanned as free text
            yield Piece(segment, start, "HL7 text")
