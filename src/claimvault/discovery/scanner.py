"""File scanning: walk paths (directories recursively, zip archives member by member), extract pieces with the
structure-aware extractors, run the recognizers, and classify each file. A result holds spans, types, scores,
rules and redacted previews only; a full value never leaves ``scan_file``. A file that cannot be read is
reported ``unreadable`` with a reason (findings made before the failure are kept) and the scan goes on."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from claimvault.discovery.classification import Level, file_level, file_score, finding_score
from claimvault.discovery.extract_base import ARCHIVE_ERRORS, MAX_VALUE
from claimvault.discovery.extractors import Piece, Source, Unreadable, detect_format, extract, sniff, zip_members
from claimvault.discovery.profile import DEFAULT_PROFILE, ScanProfile
from claimvault.discovery.recognizers import Finding, analyze, redact, resolve_overlaps
from claimvault.discovery.validators import aba_routing_valid, card_valid, dea_valid, mbi_valid, npi_valid, ssn_valid

ASSERTED_CONFIDENCE = 0.85  # a value whose X12/HL7 element or FHIR identifier meaning fixes its type
Status = Literal["scanned", "unreadable"]


@dataclass(frozen=True)
class ScanFinding:
    type: str
    start: int
    end: int
    score: int  # 0-100 sensitivity (classification.finding_score)
    confidence: float
    rule: str
    preview: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": self.score, "rule": self.rule,
                "preview": self.preview}  # fmt: skip


@dataclass(frozen=True)
class FileResult:
    path: str
    status: Status
    reason: str | None = None
    findings: tuple[ScanFinding, ...] = field(default=())

    @property
    def level(self) -> Level:
        return file_level(f.type for f in self.findings)

    @property
    def score(self) -> int:
        return file_score((f.type, f.confidence) for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "reason": self.reason, "level": str(self.level),
                "score": self.score, "findings": [f.to_json() for f in self.findings]}  # fmt: skip


def _dob_valid(value: str) -> bool:
    """YYYYMMDD (HL7/X12, a time may follow), YYYY-MM-DD (FHIR) or MM/DD/YYYY, a real date in 1850-2100."""
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:\d{2,6}(?:\.\d+)?)?(?:[+-]\d{4})?", value)
    match = match or re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    if match:
        year, month, day = (int(g) for g in match.groups())
    elif slashed := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value):
        month, day, year = (int(g) for g in slashed.groups())
    else:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return 1850 <= year <= 2100


def _phone_valid(value: str) -> bool:
    digits = re.sub(r"[\s().+-]", "", value)
    if not digits.isdigit() or len(digits) not in (10, 11) or (len(digits) == 11 and digits[0] != "1"):
        return False
    return digits[-10] not in "01" and digits[-7] not in "01"


_NAME = re.compile(r"[^\W\d_]+(?:[ '\u2019.,-]{1,2}[^\W\d_]+)*\.?")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,31}")

# What a value must look like for the type its structure asserts; checksum types must pass their validator.
ASSERTED_CHECKS: dict[str, tuple[Callable[[str], bool], bool]] = {  # type -> (check, checksum-validated)
    "US_SSN": (ssn_valid, True),
    "US_NPI": (npi_valid, True),
    "MEDICARE_MBI": (mbi_valid, True),
    "DEA_NUMBER": (dea_valid, True),
    "ABA_ROUTING": (aba_routing_valid, True),
    "CREDIT_CARD": (card_valid, True),
    "DATE_OF_BIRTH": (_dob_valid, False),
    "PHONE": (_phone_valid, False),
    "EMAIL": (lambda v: re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,24}", v) is not None, False),
    "ZIP_CODE": (lambda v: re.fullmatch(r"\d{5}(?:-?\d{4})?", v) is not None, False),
    "PERSON": (lambda v: _NAME.fullmatch(v) is not None and sum(ch.isalpha() for ch in v) >= 2, False),
    "STREET_ADDRESS": (lambda v: len(v) >= 4 and re.search(r"[^\W\d_]{2}", v) is not None, False),
    "MRN": (lambda v: _ID.fullmatch(v) is not None and any(ch.isdigit() for ch in v), False),
    "MEMBER_ID": (lambda v: _ID.fullmatch(v) is not None and any(ch.isdigit() for ch in v), False),
    "ICD10_CM": (lambda v: re.fullmatch(r"[A-TV-Z]\d[0-9AB](?:\.?[0-9A-TV-Z]{1,4})?", v) is not None, False),
    "PROCEDURE_CODE": (lambda v: re.fullmatch(r"\d{4}[0-9FTU]|[A-V]\d{4}", v) is not None, False),
}  # fmt: skip


def asserted_finding(piece: Piece) -> Finding | None:
    """The finding a piece's asserted type gives over its trimmed value, or None when the value does not fit the
    type (empty, blank, too long, wrong shape, or failing the type's checksum)."""
    if piece.asserted_type is None:
        return None
    value = piece.text.strip()
    if not value or len(value) > MAX_VALUE:
        return None
    check, validated = ASSERTED_CHECKS.get(piece.asserted_type, (lambda v: any(ch.isalnum() for ch in v), False))
    if not check(value):
        return None
    lead = len(piece.text) - len(piece.text.lstrip())
    rule = re.sub(r"\s+", "_", f"structure.{piece.context or 'field'}")[:80]
    return Finding(piece.asserted_type, lead, lead + len(value), ASSERTED_CONFIDENCE, rule, redact(value), validated)


# Asserted types the recognizers could not make more specific: a field the structure fixes as one of these, whose
# whole value fits it, is reported without a recognizer pass (the hot path in X12, HL7 and FHIR). MRN and
# MEMBER_ID are not here: a member id field may hold an MBI, which the recognizers validate and must win.
FINAL_ASSERTED = frozenset({"PERSON", "DATE_OF_BIRTH", "ZIP_CODE", "STREET_ADDRESS", "PHONE", "EMAIL", "ICD10_CM",
                            "PROCEDURE_CODE"})  # fmt: skip


def _piece_findings(piece: Piece, profile: ScanProfile) -> list[Finding]:
    asserted = asserted_finding(piece)
    if asserted is not None and (asserted.validated or asserted.type in FINAL_ASSERTED):
        found = [asserted]
    elif not piece.text.strip():
        return []
    else:
        found = analyze(piece.text, context=piece.context, profile=profile)
        if asserted is not None:
            found = resolve_overlaps([*found, asserted])
    if piece.owned is not None:
        lo, hi = piece.owned
        found = [f for f in found if lo <= f.start < hi]
    return found


def _scan_source(source: Source, profile: ScanProfile = DEFAULT_PROFILE) -> FileResult:
    findings: list[ScanFinding] = []
    try:
        fmt = source.format or detect_format(source, sniff(source))
        for piece in extract(source, fmt):
            for f in _piece_findings(piece, profile):
                findings.append(
                    ScanFinding(
                        f.type,
                        piece.offset + f.start,
                        piece.offset + f.end,
                        finding_score(f.type, f.score),
                        f.score,
                        f.rule,
                        f.preview,
                    )
                )
    except Unreadable as exc:
        return FileResult(source.path, "unreadable", exc.message, _ordered(findings))
    except ARCHIVE_ERRORS:
        return FileResult(source.path, "unreadable", "corrupt or truncated archive member", _ordered(findings))
    except IsADirectoryError:
        return FileResult(source.path, "unreadable", "a directory", _ordered(findings))
    except PermissionError:
        return FileResult(source.path, "unreadable", "permission denied", _ordered(findings))
    except FileNotFoundError:
        return FileResult(source.path, "unreadable", "no such file", _ordered(findings))
    except OSError:
        return FileResult(source.path, "unreadable", "the file could not be read", _ordered(findings))
    except Exception:  # noqa: BLE001 - hostile input must never stop a scan; the reason says nothing of content
        return FileResult(source.path, "unreadable", "the file could not be parsed", _ordered(findings))
    return FileResult(source.path, "scanned", None, _ordered(findings))


def _ordered(findings: list[ScanFinding]) -> tuple[ScanFinding, ...]:
    """Findings by position (a FHIR identifier's value may be reported after later values)."""
    return tuple(sorted(findings, key=lambda f: (f.start, f.end)))


def _scan_location(path: str, location: Path | bytes, source: Source, profile: ScanProfile) -> list[FileResult]:
    try:
        fmt = detect_format(source, sniff(source))
    except Unreadable:
        fmt = "unreadable"  # _scan_source reports the reason
    except OSError:
        fmt = "unreadable"
    if fmt != "zip":
        return [_scan_source(source if fmt == "unreadable" else dataclasses.replace(source, format=fmt), profile)]
    results: list[FileResult] = []
    for member in zip_members(path, location):
        if isinstance(member, Source):
            results.append(_scan_source(member, profile))
        else:
            results.append(FileResult(member[0], "unreadable", member[1]))
    return results


def scan_file(path: Path, *, profile: ScanProfile = DEFAULT_PROFILE) -> list[FileResult]:
    """Results for one file: one, or one per member of a zip archive (``archive.zip!inner.csv``)."""
    source = Source(str(path), lambda: path.open("rb"), path.suffix.lower())
    return _scan_location(str(path), path, source, profile)


def scan_bytes(name: str, data: bytes, *, profile: ScanProfile = DEFAULT_PROFILE) -> list[FileResult]:
    """Results for an in-memory file (an upload) reported under ``name``; nothing is written anywhere."""
    source = Source(name, lambda: io.BytesIO(data), Path(name).suffix.lower())
    return _scan_location(name, data, source, profile)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files to scan: each path, directories walked recursively in sorted order (symlinks not followed)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()))
        else:
            files.append(path)
    return files


def iter_scan(files: Iterable[Path], *, profile: ScanProfile = DEFAULT_PROFILE) -> Iterator[list[FileResult]]:
    for path in files:
        yield scan_file(path, profile=profile)


def scan_paths(paths: Iterable[Path], *, profile: ScanProfile = DEFAULT_PROFILE) -> list[FileResult]:
    """Per-file results for ``paths`` (directories walked, zip archives reported per member)."""
    return [result for results in iter_scan(expand_paths(paths), profile=profile) for result in results]
