"""Streaming JSON extraction, FHIR-aware.

Every string and number value is a piece with its key path as context (``patient.ssn``; array indices left
out). FHIR structure adds meaning:

- an object with ``system`` and ``value`` (an Identifier or a ContactPoint) gives its value the system as context
  and, for known systems or identifier types (``type.coding[].code``), an asserted type: ``us-ssn`` → ``US_SSN``,
  ``us-npi`` → ``US_NPI``, ``us-mbi`` → ``MEDICARE_MBI``, type ``MR`` → ``MRN``, ``MB``/``SN`` → ``MEMBER_ID``,
  telecom ``phone``/``fax`` → ``PHONE`` and ``email`` → ``EMAIL``. ``value`` may come before ``system``: the
  value of a small object (at most ``SMALL_OBJECT`` members) waits until the object closes;
- ``name.given``/``name.family`` → ``PERSON``, ``birthDate`` → ``DATE_OF_BIRTH``, ``address.line`` →
  ``STREET_ADDRESS``, ``address.postalCode`` → ``ZIP_CODE``.

The tokenizer reads the file chunk by chunk; no token may exceed ``MAX_FIELD``. Newline-delimited JSON (several
top-level values one after another) is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import MAX_FIELD, Piece, Unreadable

SMALL_OBJECT = 32  # members an object may have for its "value" to wait for a later "system"

_JSON_TOKEN = re.compile(
    r'[ \t\r\n]*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([{}\[\]:,])|(true|false|null))', re.S
)
_WS_ONLY = re.compile(r"[ \t\r\n]*")

SYSTEM_TYPES = {
    "http://hl7.org/fhir/sid/us-ssn": "US_SSN",
    "http://hl7.org/fhir/sid/us-npi": "US_NPI",
    "http://hl7.org/fhir/sid/us-mbi": "MEDICARE_MBI",
    "http://hl7.org/fhir/sid/us-medicare": "MEDICARE_MBI",
    "phone": "PHONE",
    "fax": "PHONE",
    "sms": "PHONE",
    "email": "EMAIL",
}
TYPE_CODE_TYPES = {"MR": "MRN", "MB": "MEMBER_ID", "SN": "MEMBER_ID", "SS": "US_SSN", "NPI": "US_NPI",
                   "MC": "MEDICARE_MBI"}  # fmt: skip
PATH_TYPES = (
    ("name.given", "PERSON"),
    ("name.family", "PERSON"),
    ("address.line", "STREET_ADDRESS"),
    ("address.postalCode", "ZIP_CODE"),
    ("birthDate", "DATE_OF_BIRTH"),
)


@dataclass
class _Frame:
    kind: str  # "{" or "["
    key: str | None  # the key this container sits under in its parent (None inside an array or at the top)
    current: str | None = None  # the key being read (objects)
    members: int = 0
    system: str | None = None
    code: str | None = None
    type_codes: list[str] = field(default_factory=list)
    deferred: list[tuple[str, int, str]] | None = field(default_factory=list)  # (value, start, path)


def _path_type(path: str) -> str | None:
    for suffix, entity in PATH_TYPES:
        if path == suffix or path.endswith("." + suffix):
            return entity
    return None


CODE_SYSTEM_TYPES = (  # a Coding's system (lowercased, substring) → the type its code is
    ("ama-assn.org/go/cpt", "PROCEDURE_CODE"),
    ("2.16.840.1.113883.6.12", "PROCEDURE_CODE"),
    ("hcpcs", "PROCEDURE_CODE"),
    ("2.16.840.1.113883.6.285", "PROCEDURE_CODE"),
    ("icd-10-cm", "ICD10_CM"),
    ("2.16.840.1.113883.6.90", "ICD10_CM"),
)


def _system_type(system: str | None, key: str) -> str | None:
    if not system:
        return None
    if key == "code":
        lowered = system.lower()
        return next((entity for marker, entity in CODE_SYSTEM_TYPES if marker in lowered), None)
    return SYSTEM_TYPES.get(system)


def _identifier_pieces(frame: _Frame) -> Iterator[Piece]:
    """The waiting ``value`` (or Coding ``code``) pieces of an object, with what its ``system`` and type codes
    say."""
    asserted = _system_type(frame.system, "value")
    if asserted is None:
        asserted = next((TYPE_CODE_TYPES[c] for c in frame.type_codes if c in TYPE_CODE_TYPES), None)
    for value, start, path in frame.deferred or ():
        parts = [path, frame.system or "", *(f"type {c}" for c in frame.type_codes)]
        entity = _system_type(frame.system, "code") if path.endswith("code") else asserted
        yield Piece(value, start, context=" ".join(p for p in parts if p) or None, asserted_type=entity)
    frame.deferred = None


def extract_json(stream: IO[str]) -> Iterator[Piece]:
    """String and number values with their key path as context, FHIR meaning added (see the module docstring)."""
    chunks = base.chunks(stream)
    buf, offset, eof = "", 0, False  # offset: file offset of buf[0]
    stack: list[_Frame] = []
    expect_key = False
    pos = 0
    while True:
        match = _JSON_TOKEN.match(buf, pos)
        if (match is None or match.end() == len(buf)) and not eof:
            more = next(chunks, None)
            if more is None:
                eof = True
            else:
                buf, offset, pos = buf[pos:] + more, offset + pos, 0
                if len(buf) > MAX_FIELD + base.CHUNK:
                    raise Unreadable("a JSON token exceeds the size limit")
            continue
        if match is None:
            if _WS_ONLY.fullmatch(buf, pos) and not stack:
                return
            raise Unreadable("malformed JSON")
        string, number, punct, _literal = match.groups()
        if punct == "{" or punct == "[":
            stack.append(_Frame(punct, stack[-1].current if stack else None))
            expect_key = punct == "{"
        elif punct in ("}", "]"):
            if not stack or stack[-1].kind != ("{" if punct == "}" else "["):
                raise Unreadable("malformed JSON")
            done = stack.pop()
            yield from _identifier_pieces(done)
            if done.code and len(stack) >= 3 and stack[-1].key == "coding" and stack[-2].key == "type":
                stack[-3].type_codes.append(done.code[:16])
            expect_key = False
        elif punct == ",":
            expect_key = bool(stack) and stack[-1].kind == "{"
        elif string is not None and expect_key:
            stack[-1].current = _unescape(string)
            expect_key = False
        elif string is not None or number is not None:
            value = string if string is not None else number
            assert value is not None
            start = offset + match.end() - len(value) - (1 if string is not None else 0)
            yield from _value(stack, value, start, is_string=string is not None)
        pos = match.end()


def _unescape(string: str) -> str:
    if "\\" not in string:
        return string
    try:
        key = json.loads(f'"{string}"')
    except ValueError:
        raise Unreadable("malformed JSON") from None
    return str(key)


def _value(stack: list[_Frame], value: str, start: int, *, is_string: bool) -> Iterator[Piece]:
    frame = stack[-1] if stack else None
    key = frame.current if frame is not None and frame.kind == "{" else None
    if frame is not None and frame.kind == "{":
        frame.members += 1
        if frame.members > SMALL_OBJECT and frame.deferred is not None:
            yield from _identifier_pieces(frame)  # too big to wait for: what is known so far
        if is_string and key == "system":
            frame.system = value[:256]
        elif is_string and key == "code":
            frame.code = value
    if not value.strip():
        return
    path = ".".join(f.current for f in stack if f.kind == "{" and f.current)
    if frame is not None and key in ("value", "code") and is_string and frame.deferred is not None:
        frame.deferred.append((value, start, path))
        return
    if frame is not None and key in ("value", "code") and is_string and (frame.system or frame.type_codes):
        frame.deferred = [(value, start, path)]
        yield from _identifier_pieces(frame)
        return
    yield Piece(value, start, context=path or None, asserted_type=_path_type(path) if is_string else None)
