"""The release gate: every X12 file is validated with pyx12 (``x12n_document`` and its 005010 maps) before it
may leave, and a file with any error is refused with a report of where and why.

pyx12 quotes element values in its messages and logs them. Reports here keep only positions and codes: the
segment id (from a fixed list of segment ids, so a value split into a bogus segment is never echoed), the segment
position in the transaction set and in the file, the element and component positions, the data element number,
the guide's names for the segment and element (from pyx12's map, never from the data) and pyx12's error code.
pyx12's own loggers are silenced for the same reason. Maps are parsed once per process and reused (pyx12 keeps
walk state in its walker, not in the map).
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import pyx12.map_if
import pyx12.params
import pyx12.x12n_document

from claimvault.billing.x12.claim_837p import IMPLEMENTATION, Interchange
from claimvault.errors import ClaimVaultError

Level = Literal["interchange", "group", "transaction", "segment", "element", "file"]

# Every segment id of the 005010 control and 837P maps: anything else is reported as "unrecognized".
_SEGMENT_IDS = (
    "AAA AMT BHT BPR CAS CLM CLP CN1 CR1 CR2 CR3 CRC CTP CUR DMG DTM DTP EB EQ FRM GE GS HCP HI HL HSD III IEA INS "
    "ISA K3 LE LIN LQ LS LX MEA MIA MOA MPI MSG N1 N3 N4 NM1 NTE OI PAT PER PLB PRV PS1 PWK QTY RDM REF SBR SE ST "
    "SV1 SV5 SVC SVD TA1 TRN TS2 TS3"
)
KNOWN_SEGMENTS = frozenset(_SEGMENT_IDS.split(" "))
_CODE = re.compile(r"[0-9A-Z]{1,4}")
_REF = re.compile(r"[0-9]{1,5}")

# Our own words for pyx12's (999/TA1-style) error codes, by level.
_ELEMENT_REASONS = {
    "1": "required element missing",
    "2": "conditionally required element missing",
    "3": "too many elements",
    "4": "value too short",
    "5": "value too long",
    "6": "invalid character",
    "7": "invalid code value",
    "8": "invalid date",
    "9": "invalid time",
    "10": "element present when it must not be",
    "12": "too many repetitions",
    "13": "too many components",
    "I6": "code value not used by this implementation",
    "I9": "situational element missing",
    "I10": "element not used by this implementation",
    "I11": "too few repetitions",
    "I12": "value does not match the required pattern",
    "I13": "situational element present when it must not be",
}
_SEGMENT_REASONS = {
    "1": "unrecognized segment",
    "2": "unexpected segment",
    "3": "required segment missing",
    "4": "loop repeats too many times",
    "5": "segment repeats too many times",
    "6": "segment not in this transaction set",
    "7": "segment out of sequence",
    "8": "segment has element errors",
    "I4": "segment not used by this implementation",
    "I6": "situational segment missing",
    "I7": "loop occurs too few times",
    "I8": "segment occurs too few times",
    "I9": "situational segment present when it must not be",
}
_ENVELOPE_REASONS = {
    "transaction": {
        "1": "transaction set not supported",
        "2": "transaction set trailer missing",
        "3": "ST and SE control numbers differ",
        "4": "SE segment count is wrong",
        "5": "segments in error",
        "6": "transaction set identifier missing or invalid",
        "7": "transaction set control number missing or invalid",
        "23": "transaction set control number not unique in the group",
    },
    "group": {
        "1": "functional group not supported",
        "2": "functional group version not supported",
        "3": "functional group trailer missing",
        "4": "GS and GE control numbers differ",
        "5": "GE transaction set count is wrong",
        "6": "group control number invalid",
    },
}


@dataclass(frozen=True)
class X12Issue:
    """One pyx12 finding, by position. Never carries an element value."""

    level: Level
    code: str
    segment_id: str | None = None
    segment_position: int | None = None  # in the transaction set (ST = 1), as a 999 IK302 reports it
    line: int | None = None  # segment number in the file (ISA = 1)
    element_position: int | None = None
    component_position: int | None = None
    element_reference: str | None = None  # X12 data element number
    segment_name: str | None = None  # the guide's name, from pyx12's map
    element_name: str | None = None

    @property
    def reason(self) -> str:
        if self.level == "element":
            return _ELEMENT_REASONS.get(self.code, "element error")
        if self.level == "segment":
            return _SEGMENT_REASONS.get(self.code, "segment error")
        if self.level in _ENVELOPE_REASONS:
            return _ENVELOPE_REASONS[self.level].get(self.code, f"{self.level} error")
        if self.level == "interchange":
            return "interchange envelope error"
        return "file rejected"

    def describe(self) -> str:
        where = self.segment_id or self.level.upper()
        if self.element_position is not None:
            where += f"{self.element_position:02d}"
            if self.component_position is not None:
                where += f"-{self.component_position}"
        parts = [where]
        if self.segment_position is not None:
            parts.append(f"segment {self.segment_position} of the transaction")
        if self.line is not None:
            parts.append(f"line {self.line}")
        names = " / ".join(n for n in (self.segment_name, self.element_name) if n)
        text = f"{', '.join(parts)}: {self.reason} (code {self.code})"
        return f"{text} [{names}]" if names else text


@dataclass(frozen=True)
class X12Report:
    issues: tuple[X12Issue, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.issues

    def summary(self, *, limit: int = 10) -> str:
        if self.valid:
            return "valid"
        lines = [issue.describe() for issue in self.issues[:limit]]
        if len(self.issues) > limit:
            lines.append(f"... and {len(self.issues) - limit} more")
        return f"{len(self.issues)} error(s): " + "; ".join(lines)


class ReleaseRefused(ClaimVaultError):
    """The file failed validation and was not released. ``report`` says where and why (no values)."""

    status_code = 422
    code = "x12_release_refused"

    def __init__(self, report: X12Report) -> None:
        super().__init__(f"X12 file refused: {report.summary()}")
        self.report = report


# --- pyx12 plumbing --------------------------------------------------------------------------------------------
def _silence_pyx12() -> None:
    """pyx12 logs element values at ERROR level: keep them out of every handler."""
    root = logging.getLogger("pyx12")
    root.setLevel(logging.CRITICAL + 1)
    root.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


_silence_pyx12()
_PARAMS = pyx12.params.ParamsBase()  # defaults only: no user or system config files
_maps: dict[tuple[str, str | None], Any] = {}
_maps_lock = threading.Lock()
_original_load_map_file = pyx12.map_if.load_map_file


def _load_map_file(map_file: str, param: Any, map_path: str | None = None) -> Any:
    """pyx12's loader, cached for this module's own parameters (other callers get pyx12's behaviour)."""
    if param is not _PARAMS:
        return _original_load_map_file(map_file, param, map_path)
    with _maps_lock:
        cached = _maps.get((map_file, map_path))
        if cached is None:
            cached = _maps[(map_file, map_path)] = _original_load_map_file(map_file, param, map_path)
        return cached


pyx12.map_if.load_map_file = _load_map_file


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _code(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    return text if _CODE.fullmatch(text) else "?"


def _segment_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value in KNOWN_SEGMENTS else None


def _name(value: Any) -> str | None:
    # Map names are the guide's ("Subscriber Name"); "Unknown" marks a segment the map did not place.
    return value if isinstance(value, str) and value and value != "Unknown" else None


def _collect(doc: dict[str, Any]) -> list[X12Issue]:
    issues: list[X12Issue] = []
    for isa in doc.get("interchanges", []):
        issues += [X12Issue("interchange", _code(e.get("err_cde")), "ISA", line=_int(isa.get("cur_line")))
                   for e in isa.get("errors", [])]  # fmt: skip
        for gs in isa.get("groups", []):
            issues += [X12Issue("group", _code(e.get("err_cde")), "GS", line=_int(gs.get("cur_line")))
                       for e in gs.get("errors", [])]  # fmt: skip
            for st in gs.get("transactions", []):
                issues += [X12Issue("transaction", _code(e.get("err_cde")), "ST", line=_int(st.get("cur_line")))
                           for e in st.get("errors", [])]  # fmt: skip
                for seg in st.get("segments", []):
                    where: dict[str, Any] = {
                        "segment_id": _segment_id(seg.get("seg_id")),
                        "segment_position": _int(seg.get("seg_count")),
                        "line": _int(seg.get("cur_line")),
                        "segment_name": _name(seg.get("name")) if _segment_id(seg.get("seg_id")) else None,
                    }
                    issues += [X12Issue("segment", _code(e.get("err_cde")), **where) for e in seg.get("errors", [])]
                    for ele in seg.get("elements", []):
                        ref = str(ele.get("ele_ref_num") or "")
                        issues += [
                            X12Issue(
                                "element",
                                _code(e.get("err_cde")),
                                element_position=_int(ele.get("ele_pos")),
                                component_position=_int(ele.get("subele_pos")),
                                element_reference=ref if _REF.fullmatch(ref) else None,
                                element_name=_name(ele.get("name")),
                                **where,
                            )
                            for e in ele.get("errors", [])
                        ]
    return issues


_ENVELOPE_SEGMENTS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
_ISA_WIDTHS = (3, 2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)


def _envelope_element_issues(seg: Any, src: Any, node: Any) -> list[X12Issue]:
    """pyx12 counts element errors of ISA/GS/ST/SE/GE/IEA but does not itemize them: ask the map node."""
    _ok, errors = node.is_valid_errors(seg)
    seg_id, line = _segment_id(seg.get_seg_id()), _int(src.get_cur_line())
    issues = []
    for e in errors:
        m = e.map_node
        if m is None:
            issues.append(X12Issue("segment", "8", seg_id, line=line, segment_name=_name(node.name)))
            continue
        composite = m.parent is not None and m.parent.is_composite()
        issues.append(
            X12Issue(
                "element",
                _code(e.err_cde),
                seg_id,
                line=line,
                element_position=_int(m.parent.seq if composite else m.seq),
                component_position=_int(m.seq) if composite else None,
                element_reference=m.data_ele if _REF.fullmatch(str(m.data_ele or "")) else None,
                segment_name=_name(node.name),
                element_name=_name(m.name),
            )
        )
    return issues


def _structure_issues(text: str, expect: tuple[str, str, str] | None) -> list[X12Issue]:
    """Envelope rules pyx12 lets through: ISA's fixed widths and non-blank ids, the repetition separator, and
    (``expect`` = functional id, transaction set id, implementation) the GS/ST identifiers."""
    if len(text) < 106 or not text.startswith("ISA"):
        return [X12Issue("interchange", "ISA", "ISA", line=1)]
    e, term = text[3], text[105]
    isa = text[:105].split(e)
    issues: list[X12Issue] = []
    if len(isa) != 17 or tuple(len(v) for v in isa) != _ISA_WIDTHS:
        return [X12Issue("interchange", "ISA", "ISA", line=1)]
    for pos in (5, 6, 7, 8, 13, 15):
        if not isa[pos].strip():
            issues.append(X12Issue("element", "1", "ISA", line=1, element_position=pos))
    if isa[11].isalnum() or isa[11].isspace() or isa[11] in (e, isa[16], term):
        issues.append(X12Issue("element", "6", "ISA", line=1, element_position=11))
    for line, segment in enumerate(text.split(term), start=1):
        values = segment.strip("\r\n").split(e)
        if values[0] == "GS" and expect is not None:
            issues += [X12Issue("element", "7", "GS", line=line, element_position=pos)
                       for pos, want in ((1, expect[0]), (8, expect[2])) if _at(values, pos) != want]  # fmt: skip
        elif values[0] == "ST":
            wanted = ((1, expect[1]), (3, expect[2])) if expect is not None else ((1, None),)
            for pos, want in wanted:
                value = _at(values, pos)
                if not value or (want and value != want):
                    issues.append(X12Issue("element", "7" if value else "1", "ST", line=line, element_position=pos))
    return issues


def _at(values: list[str], pos: int) -> str:
    return values[pos] if pos < len(values) else ""


def validate_x12(text: str, *, expect: tuple[str, str, str] | None = None) -> X12Report:
    """Validate one interchange with pyx12 against its 005010 map, plus the envelope rules pyx12 does not check
    (see ``_structure_issues``). The report lists every error by position, never by value."""
    _silence_pyx12()  # again, in case logging was reconfigured since import
    envelope: list[X12Issue] = []

    def itemize_envelope(seg: Any, src: Any, node: Any, valid: bool) -> None:
        seg_id = seg.get_seg_id()
        # When pyx12 cannot place a segment it hands back the previous node: only itemize a matching one.
        if seg_id in _ENVELOPE_SEGMENTS and getattr(node, "id", None) == seg_id:
            envelope.extend(_envelope_element_issues(seg, src, node))

    out = io.StringIO()
    try:
        ok = pyx12.x12n_document.x12n_document(
            param=_PARAMS,
            src_file=io.StringIO(text),
            fd_997=None,
            fd_html=None,
            fd_json=out,
            callback=itemize_envelope,
        )
    except Exception:  # noqa: BLE001 - pyx12 raises many types on malformed input; its messages quote values
        ok, envelope = False, [X12Issue("file", "ENG")]
    raw = out.getvalue()
    issues = _structure_issues(text, expect) + envelope + (_collect(json.loads(raw)) if raw else [])
    if not ok and not issues:
        issues = [X12Issue("file", "READ")]  # pyx12 could not read it as X12 at all
    return X12Report(tuple(issues))


def release_837p(interchange: Interchange) -> str:
    """The interchange's text, only if it is a valid 837P (005010X222A1) by pyx12 and the envelope rules;
    otherwise ``ReleaseRefused`` with the report."""
    report = validate_x12(interchange.text, expect=("HC", "837", IMPLEMENTATION))
    if not report.valid:
        raise ReleaseRefused(report)
    return interchange.text
