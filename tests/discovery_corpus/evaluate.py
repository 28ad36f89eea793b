"""Scoring a scanner's findings against the corpus: per-type and micro P/R/F2, checksum recall, hard negatives.

Exact-offset documents are scored per entity by overlap with the type required to match; XLSX, DOCX and PDF are
scored per (document, type) by counts. Archive members are scored as their own documents.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import CHECKSUM_TYPES, ENTITY_TYPES, Document, Found


@dataclass
class Counts:
    support: int = 0
    tp: int = 0  # findings that hit a planted entity of their type
    fp: int = 0
    recalled: int = 0  # planted entities hit by a finding of their type

    @property
    def fn(self) -> int:
        return self.support - self.recalled

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else (1.0 if not self.support else 0.0)

    @property
    def recall(self) -> float:
        return self.recalled / self.support if self.support else 1.0

    @property
    def f2(self) -> float:
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p + r else 0.0

    def add(self, other: Counts) -> None:
        self.support += other.support
        self.tp += other.tp
        self.fp += other.fp
        self.recalled += other.recalled

    def row(self) -> dict[str, Any]:
        return {
            "support": self.support,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f2": round(self.f2, 4),
        }


@dataclass
class Report:
    per_type: dict[str, Counts]
    per_format: dict[str, Counts]
    micro: Counts
    checksum: Counts
    negatives: int
    negatives_flagged: int
    negatives_per_kind: dict[str, tuple[int, int]]  # kind -> (total, flagged)
    flagged: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, finding type), no values
    unknown_paths: int = 0

    @property
    def negative_flag_rate(self) -> float:
        return self.negatives_flagged / self.negatives if self.negatives else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "per_type": {name: counts.row() for name, counts in self.per_type.items()},
            "per_format": {name: counts.row() for name, counts in self.per_format.items()},
            "micro": self.micro.row(),
            "checksum_recall": round(self.checksum.recall, 4),
            "hard_negatives": {
                "total": self.negatives,
                "flagged": self.negatives_flagged,
                "flag_rate": round(self.negative_flag_rate, 4),
                "per_kind": {k: {"total": t, "flagged": f} for k, (t, f) in self.negatives_per_kind.items()},
            },
            "unknown_paths": self.unknown_paths,
        }

    def to_text(self) -> str:
        head = f"{'type':<16} {'support':>7} {'TP':>6} {'FP':>6} {'FN':>6} {'prec':>6} {'recall':>6} {'F2':>6}"
        lines = [head, "-" * len(head)]
        for name, c in self.per_type.items():
            lines.append(
                f"{name:<16} {c.support:>7} {c.tp:>6} {c.fp:>6} {c.fn:>6} {c.precision:>6.3f} "
                f"{c.recall:>6.3f} {c.f2:>6.3f}"
            )
        m = self.micro
        lines += [
            "-" * len(head),
            f"{'micro':<16} {m.support:>7} {m.tp:>6} {m.fp:>6} {m.fn:>6} {m.precision:>6.3f} "
            f"{m.recall:>6.3f} {m.f2:>6.3f}",
            f"micro F2: {m.f2:.4f}",
            f"checksum-type recall: {self.checksum.recall:.4f}",
            f"hard negatives flagged: {self.negatives_flagged}/{self.negatives} ({self.negative_flag_rate:.2%})",
        ]
        for kind, (total, flagged) in self.negatives_per_kind.items():
            lines.append(f"  {kind:<16} {flagged:>5}/{total:<5}")
        lines.append("per-format micro F2: " + ", ".join(f"{f}={c.f2:.3f}" for f, c in self.per_format.items()))
        return "\n".join(lines)


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _leaves(documents: Iterable[Document]) -> Iterable[tuple[str, Document]]:
    for top in documents:
        for leaf in top.leaves():
            yield top.format, leaf


def evaluate(documents: Iterable[Document], found: Mapping[str, Sequence[Found]]) -> Report:
    """Score ``found`` (findings keyed by document path, archive members by ``zip!member``) against the corpus."""
    per_type: dict[str, Counts] = {name: Counts() for name in ENTITY_TYPES}
    per_format: dict[str, Counts] = defaultdict(Counts)
    neg_total: Counter[str] = Counter()
    neg_flagged: Counter[str] = Counter()
    flagged: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for top_format, doc in _leaves(documents):
        seen.add(doc.path)
        findings = list(found.get(doc.path, ()))
        doc_counts: dict[str, Counts] = defaultdict(Counts)
        if doc.exact_offsets:
            for planted in doc.entities:
                doc_counts[planted.type].support += 1
                if any(t == planted.type and _overlaps(s, e, planted.start, planted.end) for t, s, e in findings):
                    doc_counts[planted.type].recalled += 1
            for kind, start, end in findings:
                hit = any(p.type == kind and _overlaps(start, end, p.start, p.end) for p in doc.entities)
                if hit:
                    doc_counts[kind].tp += 1
                else:
                    doc_counts[kind].fp += 1
        else:
            planted_n = Counter(p.type for p in doc.entities)
            found_n = Counter(t for t, _, _ in findings)
            for kind in set(planted_n) | set(found_n):
                tp = min(planted_n[kind], found_n[kind])
                doc_counts[kind].add(Counts(support=planted_n[kind], tp=tp, fp=found_n[kind] - tp, recalled=tp))
        for negative in doc.negatives:
            neg_total[negative.type] += 1
            hit_types = [t for t, s, e in findings if _overlaps(s, e, negative.start, negative.end)]
            if hit_types:
                neg_flagged[negative.type] += 1
                flagged.append((doc.path, negative.type, hit_types[0]))
        for kind, counts in doc_counts.items():
            per_type.setdefault(kind, Counts()).add(counts)
            per_format[top_format].add(counts)
    unknown = [path for path in found if path not in seen]
    for path in unknown:
        for kind, _, _ in found[path]:
            per_type.setdefault(kind, Counts()).fp += 1
    micro, checksum = Counts(), Counts()
    for kind, counts in per_type.items():
        micro.add(counts)
        if kind in CHECKSUM_TYPES:
            checksum.add(counts)
    return Report(
        per_type=per_type,
        per_format=dict(per_format),
        micro=micro,
        checksum=checksum,
        negatives=sum(neg_total.values()),
        negatives_flagged=sum(neg_flagged.values()),
        negatives_per_kind={k: (neg_total[k], neg_flagged[k]) for k in sorted(neg_total)},
        flagged=flagged,
        unknown_paths=len(unknown),
    )
