"""File scanning: walk paths (directories recursively, zip archives member by member), extract pieces with the
structure-aware extractors, run the recognizers, and classify each file. A result holds spans, types, scores,
rules and redacted previews only; a full value never leaves ``scan_file``. A file that cannot be read is
reported ``unreadable`` with a reason (findings made before the failure are kept) and the scan goes on."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from claimvault.discovery.classification import Level, file_level, file_score, finding_score
from claimvault.discovery.extractors import Piece, Source, Unreadable, detect_format, extract, sniff, zip_members
from claimvault.discovery.recognizers import Finding, analyze, redact, resolve_overlaps

ASSERTED_CONFIDENCE = 0.85  # a value whose X12 element meaning fixes its type
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


def _piece_findings(piece: Piece) -> list[Finding]:
    found = analyze(piece.text, context=piece.context)
    if piece.asserted_type is not None:
        value = piece.text.strip()
        lead = len(piece.text) - len(piece.text.lstrip())
        rule = f"structure.{piece.context or 'field'}".replace(" ", "_")
        found = resolve_overlaps(
            [*found, Finding(piece.asserted_type, lead, lead + len(value), ASSERTED_CONFIDENCE, rule, redact(value))]
        )
    if piece.owned is not None:
        lo, hi = piece.owned
        found = [f for f in found if lo <= f.start < hi]
    return found


def _scan_source(source: Source) -> FileResult:
    findings: list[ScanFinding] = []
    try:
        fmt = detect_format(source, sniff(source))
        for piece in extract(source, fmt):
            for f in _piece_findings(piece):
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
        return FileResult(source.path, "unreadable", exc.message, tuple(findings))
    except (zipfile.BadZipFile, zlib.error, EOFError):
        return FileResult(source.path, "unreadable", "corrupt or truncated archive member", tuple(findings))
    except IsADirectoryError:
        return FileResult(source.path, "unreadable", "a directory", tuple(findings))
    except PermissionError:
        return FileResult(source.path, "unreadable", "permission denied", tuple(findings))
    except FileNotFoundError:
        return FileResult(source.path, "unreadable", "no such file", tuple(findings))
    except OSError:
        return FileResult(source.path, "unreadable", "the file could not be read", tuple(findings))
    return FileResult(source.path, "scanned", None, tuple(findings))


def scan_file(path: Path) -> list[FileResult]:
    """Results for one file: one, or one per member of a zip archive (``archive.zip!inner.csv``)."""
    source = Source(str(path), lambda: path.open("rb"), path.suffix.lower())
    try:
        fmt = detect_format(source, sniff(source))
    except Unreadable:
        fmt = "unreadable"  # _scan_source reports the reason
    except OSError:
        fmt = "unreadable"
    if fmt != "zip":
        return [_scan_source(source)]
    results: list[FileResult] = []
    for member in zip_members(str(path), path):
        if isinstance(member, Source):
            results.append(_scan_source(member))
        else:
            results.append(FileResult(member[0], "unreadable", member[1]))
    return results


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files to scan: each path, directories walked recursively in sorted order (symlinks not followed)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()))
        else:
            files.append(path)
    return files


def iter_scan(files: Iterable[Path]) -> Iterator[list[FileResult]]:
    for path in files:
        yield scan_file(path)


def scan_paths(paths: Iterable[Path]) -> list[FileResult]:
    """Per-file results for ``paths`` (directories walked, zip archives reported per member)."""
    return [result for results in iter_scan(expand_paths(paths)) for result in results]
