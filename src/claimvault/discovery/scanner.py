"""File scanning: walk paths (directories recursively, zip archives member by member), extract pieces with the
structure-aware extractors, run the recognizers, and classify each file. A result holds spans, types, scores,
rules and redacted previews only; a full value never leaves ``scan_file``. A file that cannot be read is
reported ``unreadable`` with a reason (findings made before the failure are kept) and the scan goes on."""

from __future__ import annotations

import dataclasses
import functools
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from claimvault.discovery.classification import Level, file_level, file_score, finding_score, load_policy
from claimvault.discovery.extract_base import ARCHIVE_ERRORS, SNIFF
from claimvault.discovery.extractors import Piece, Source, Unreadable, detect_format, extract, sniff, zip_members
from claimvault.discovery.findings import Finding
from claimvault.discovery.piece_analysis import PieceAnalyzer
from claimvault.discovery.profile import DEFAULT_PROFILE, ScanProfile

Status = Literal["scanned", "unreadable"]


@dataclass(slots=True)  # never mutated; not frozen only because a frozen __init__ costs 4x more
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


def _scan_source(source: Source, profile: ScanProfile = DEFAULT_PROFILE) -> FileResult:
    findings: list[ScanFinding] = []
    policy = load_policy()
    scores: dict[tuple[str, float], int] = {}  # (type, confidence) -> 0-100 score: few distinct pairs per file
    analyzer = PieceAnalyzer(profile)

    def collect(done: Iterable[tuple[Piece, list[Finding]]]) -> None:
        for piece, found in done:
            offset = piece.offset
            for f in found:
                key = (f.type, f.score)
                score = scores.get(key)
                if score is None:
                    score = scores[key] = finding_score(f.type, f.score, policy=policy)
                findings.append(
                    ScanFinding(f.type, offset + f.start, offset + f.end, score, f.score, f.rule, f.preview)
                )

    reason: str | None = None
    try:
        fmt = source.format or detect_format(source, sniff(source))
        for piece in extract(source, fmt):
            analyzer.add(piece)
            if analyzer.ready:
                collect(analyzer.drain())
    except Unreadable as exc:
        reason = exc.message
    except ARCHIVE_ERRORS:
        reason = "corrupt or truncated archive member"
    except IsADirectoryError:
        reason = "a directory"
    except PermissionError:
        reason = "permission denied"
    except FileNotFoundError:
        reason = "no such file"
    except OSError:
        reason = "the file could not be read"
    except Exception:  # noqa: BLE001 - hostile input must never stop a scan; the reason says nothing of content
        reason = "the file could not be parsed"
    collect(analyzer.flush())  # values read before a failure are still reported
    return FileResult(source.path, "scanned" if reason is None else "unreadable", reason, _ordered(findings))


def _ordered(findings: list[ScanFinding]) -> tuple[ScanFinding, ...]:
    """Findings by position (a FHIR identifier's value may be reported after later values)."""
    return tuple(sorted(findings, key=lambda f: (f.start, f.end)))


def _scan_location(path: str, location: Path | bytes, source: Source, profile: ScanProfile) -> list[FileResult]:
    head = b""
    try:
        head = sniff(source)
        fmt = detect_format(source, head)
    except Unreadable:
        fmt = "unreadable"  # _scan_source reports the reason
    except OSError:
        fmt = "unreadable"
    if fmt == "unreadable":
        return [_scan_source(source, profile)]
    if fmt != "zip":
        if len(head) < SNIFF:  # the sniff read the whole file: scan those bytes instead of opening it again
            source = dataclasses.replace(source, open_binary=functools.partial(io.BytesIO, head))
        return [_scan_source(dataclasses.replace(source, format=fmt), profile)]
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
