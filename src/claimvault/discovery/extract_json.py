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
top-level values one after another) is accepted. For speed one regular-expression match usually reads several
tokens (a whole ``"key": value,`` member, say); near the end of the buffer, and on input such a match does not cover,
tokens are read one at a time, to the same effect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO

from claimvault.discovery import extract_base as base
from claimvault.discovery.extract_base import MAX_FIELD, Piece, Unreadable

SMALL_OBJECT = 32  # members an object may have for its "value" to wait for a later "system"

_WS = r"[ \t\r\n]*+"
_STRING = r'"([^"\\]*+(?:\\.[^"\\]*+)*+)"'  # (?:[^"\\]|\\.)* unrolled: runs of plain characters between escapes
_SCALAR = _STRING + r"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|true|false|null"  # groups: string, number
_JSON_TOKEN = re.compile(rf"{_WS}(?:{_SCALAR}|([{{}}\[\]:,]))", re.S)  # groups: string, number, punctuation
# Several tokens a match, each part optional: where a key is expected ``"key": value``, else a value; a value that is
# a run of opening brackets takes the first member (after "{", the lookbehind) or element (after "[") with it; then
# closing brackets and a comma. Whitespace is only taken before a token, so that a match ends where its last token
# does, as _JSON_TOKEN matches would. Runs are bounded so that retries near the end of the buffer stay cheap.
# Groups: [key,] string, number, opening, key, string, number, closing, comma.
_RUN = r"{0,15}"
_VALUE = rf"(?:{_SCALAR}|([{{\[](?:{_WS}[{{\[]){_RUN})(?:(?:(?<=\{{){_WS}{_STRING}{_WS}:|(?<=\[)){_WS}(?:{_SCALAR}))?)"
_AFTER = rf"(?:{_WS}([}}\]](?:{_WS}[}}\]]){_RUN}))?(?:{_WS}(,))?"
_MEMBER = re.compile(rf"(?:{_WS}{_STRING}{_WS}:{_WS}{_VALUE})?{_AFTER}", re.S)
_ITEM = re.compile(rf"(?:{_WS}{_VALUE})?{_AFTER}", re.S)
_WS_ONLY = re.compile(_WS)
_NUMBER_TAIL = 2  # characters a number cut by the buffer's end may have read past its match ("e+" of "1e+5")
_OPENER = {"}": "{", "]": "["}
_FHIR_KEYS = frozenset(("system", "code", "value"))
_LONG_PATH = 512  # longest key path a frame keeps (kept at any length, deep nesting would cost depth² memory)

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

_PATH_ENDINGS = tuple(suffix for suffix, _ in PATH_TYPES)  # a path _path_type knows ends with one of these


@dataclass(slots=True)
class _Frame:
    kind: str  # "{" or "["
    key: str | None  # the key this container sits under in its parent (None inside an array or at the top)
    prefix: str | None  # the key path of the container plus "." ("" at the top); None if long: join the stack
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


@lru_cache(maxsize=256)
def _code_type(system: str | None) -> str | None:
    """The type a Coding's code is, by its system."""
    if not system:
        return None
    lowered = system.lower()
    return next((entity for marker, entity in CODE_SYSTEM_TYPES if marker in lowered), None)


def _identifier_pieces(frame: _Frame) -> list[Piece]:
    """The waiting ``value`` (or Coding ``code``) pieces of an object, with what its ``system`` and type codes
    say; the object waits no more."""
    deferred, frame.deferred = frame.deferred, None
    if not deferred:
        return []
    system, codes = frame.system, frame.type_codes
    asserted = SYSTEM_TYPES.get(system) if system else None
    said = system or ""
    if codes:
        if asserted is None:
            asserted = next((TYPE_CODE_TYPES[c] for c in codes if c in TYPE_CODE_TYPES), None)
        said = " ".join([system, *(f"type {c}" for c in codes)] if system else [f"type {c}" for c in codes])
    pieces = []
    for value, start, path in deferred:
        entity = _code_type(system) if path.endswith("code") else asserted
        pieces.append(Piece(value, start, f"{path} {said}" if path and said else path or said or None, entity))
    return pieces


def extract_json(stream: IO[str]) -> Iterator[Piece]:
    """String and number values with their key path as context, FHIR meaning added (see the module docstring)."""
    chunks = base.chunks(stream)
    buf, offset, eof = "", 0, False  # offset: file offset of buf[0]
    size = 0  # len(buf)
    stack: list[_Frame] = []
    root = _Frame("", None, "")  # stands for the empty stack: neither an object nor an array
    frame = root  # stack[-1], or root
    expect_key = False
    pos = 0
    member, item = _MEMBER.match, _ITEM.match
    while True:
        match = member(buf, pos) if expect_key else item(buf, pos)
        # a match reaching near the end of the buffer may end in a cut token (a number "12" of "12.5", "12e+5"): then,
        # as on input the match does not cover, one token at a time, which reads more before it takes such a token
        if match is not None and pos < (end := match.end()) and (end + _NUMBER_TAIL < size or eof):
            if expect_key:
                key, string, number, opening, key2, string2, number2, closing, comma = match.groups()
                first = 2  # the group of a string value (a number's is next)
                if key is not None:
                    frame.current = key if "\\" not in key else _unescape(key)
                    expect_key = False
            else:
                string, number, opening, key2, string2, number2, closing, comma = match.groups()
                first = 1
        else:
            match = _JSON_TOKEN.match(buf, pos)
            if (match is None or match.end() + _NUMBER_TAIL >= size) and not eof:
                more = next(chunks, None)
                if more is None:
                    eof = True
                else:
                    buf, offset, pos = buf[pos:] + more, offset + pos, 0
                    size = len(buf)
                    if size > MAX_FIELD + base.CHUNK:
                        raise Unreadable("a JSON token exceeds the size limit")
                continue
            if match is None:
                if _WS_ONLY.fullmatch(buf, pos) and not stack:
                    return
                raise Unreadable("malformed JSON")
            end, first = match.end(), 1
            string, number, punct = match.groups()
            opening = key2 = string2 = number2 = closing = comma = None
            if punct is None:
                if string is not None and expect_key:
                    frame.current = _unescape(string)
                    string, expect_key = None, False
            elif punct in "{[":
                opening = punct
            elif punct in "}]":
                closing = punct
            elif punct == ",":
                comma = punct
        pos = end
        if opening is not None:
            for bracket in opening if len(opening) == 1 else "".join(opening.split()):
                name, prefix = frame.current, frame.prefix
                if name and prefix is not None:
                    prefix = f"{prefix}{name}." if len(prefix) + len(name) < _LONG_PATH else None
                frame = _Frame(bracket, name, prefix)
                stack.append(frame)
            expect_key = bracket == "{"
            if key2 is not None:
                frame.current = key2 if "\\" not in key2 else _unescape(key2)
                expect_key = False
            string, number, first = string2, number2, first + 4  # the first member's or element's value
        value = string if string is not None else number
        if value is not None:
            if frame.kind != "{":  # an array element, or a value at the top
                path = frame.prefix[:-1] if frame.prefix is not None else _stack_path(stack)
                if string is None:
                    yield Piece(value, offset + match.start(first + 1), path or None, None)
                elif value.strip():
                    yield Piece(value, offset + match.start(first), path or None, _path_type(path))
            else:
                name = frame.current
                frame.members += 1
                if frame.members > SMALL_OBJECT and frame.deferred is not None:
                    yield from _identifier_pieces(frame)  # too big to wait for: what is known so far
                if frame.prefix is None:
                    path = _stack_path(stack)
                else:
                    path = frame.prefix + name if name else frame.prefix[:-1]
                if string is None:
                    yield Piece(value, offset + match.start(first + 1), path or None, None)
                elif name in _FHIR_KEYS:
                    yield from _fhir_value(frame, name, value, offset + match.start(first), path)
                elif value.strip():
                    entity = _path_type(path) if path.endswith(_PATH_ENDINGS) else None
                    yield Piece(value, offset + match.start(first), path or None, entity)
        if closing is not None:
            for bracket in closing if len(closing) == 1 else "".join(closing.split()):
                if frame.kind != _OPENER[bracket]:
                    raise Unreadable("malformed JSON")
                done = stack.pop()
                frame = stack[-1] if stack else root
                if done.deferred:
                    yield from _identifier_pieces(done)
                if done.code and len(stack) >= 3 and frame.key == "coding" and stack[-2].key == "type":
                    stack[-3].type_codes.append(done.code[:16])
            expect_key = False
        if comma is not None:
            expect_key = frame.kind == "{"


def _fhir_value(frame: _Frame, name: str, value: str, start: int, path: str) -> list[Piece]:
    """A string under ``system``, ``code`` or ``value``: noted on its object, whose ``value`` or ``code`` may wait
    for what the rest of the object says."""
    if name == "system":
        frame.system = value[:256]
    elif name == "code":
        frame.code = value
    if not value.strip():
        return []
    if name == "system" or not (frame.deferred is not None or frame.system or frame.type_codes):
        return [Piece(value, start, path, None)]  # no PATH_TYPES suffix ends a path ending in these names
    if frame.deferred is not None:
        frame.deferred.append((value, start, path))
        return []
    frame.deferred = [(value, start, path)]
    return _identifier_pieces(frame)


def _stack_path(stack: list[_Frame]) -> str:
    """The key path of a value in the innermost container, joined from the whole stack."""
    return ".".join(f.current for f in stack if f.kind == "{" and f.current)


def _unescape(string: str) -> str:
    if "\\" not in string:
        return string
    try:
        key = json.loads(f'"{string}"')
    except ValueError:
        raise Unreadable("malformed JSON") from None
    return str(key)
