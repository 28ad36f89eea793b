"""Plain-text tables for the discovery benchmark: accuracy side by side, Presidio thresholds, throughput."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.discovery.throughput import Rate
from tests.discovery_corpus import ENTITY_TYPES, Report


def _json(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = report.to_json()
    return data


def _row(stats: Mapping[str, Any] | None) -> str:
    if not stats:
        return f"{'':>5} {'':>4} {'':>5} {'':>5} {'':>5}"
    return (
        f"{stats.get('tp', 0):>5} {stats.get('fp', 0):>4} {stats.get('precision', 0.0):>5.3f} "
        f"{stats.get('recall', 0.0):>5.3f} {stats.get('f2', 0.0):>5.3f}"
    )


def _flagged(counts: Mapping[str, Any]) -> str:
    total, flagged = counts["total"], counts["flagged"]
    return f"flagged {flagged}/{total} ({flagged / total if total else 0.0:.1%})"


def accuracy_table(ours: Report, theirs: Report) -> str:
    a, b = _json(ours), _json(theirs)
    pa, pb = a["per_type"], b["per_type"]
    extra = sorted(t for t in (*pa, *pb) if t not in ENTITY_TYPES)
    head = f"{'type':<16} {'support':>7} | {'ClaimVault':^28} | {'Presidio':^28}"
    cols = f"{'TP':>5} {'FP':>4} {'P':>5} {'R':>5} {'F2':>5}"
    sub = f"{'':<16} {'':>7} | {cols} | {cols}"
    lines = [head, sub, "-" * len(sub)]
    for t in (*ENTITY_TYPES, *dict.fromkeys(extra)):
        support = (pa.get(t) or pb.get(t) or {}).get("support", 0)
        lines.append(f"{t:<16} {support:>7} | {_row(pa.get(t))} | {_row(pb.get(t))}")
    lines.append("-" * len(sub))
    lines.append(f"{'micro':<16} {a['micro'].get('support', 0):>7} | {_row(a['micro'])} | {_row(b['micro'])}")
    lines.append(f"{'checksum recall':<16} {'':>7} | {a['checksum_recall']:>28.3f} | {b['checksum_recall']:>28.3f}")
    na, nb = a["hard_negatives"], b["hard_negatives"]
    lines.append(f"{'hard negatives':<16} {na['total']:>7} | {_flagged(na):>28} | {_flagged(nb):>28}")
    for kind in sorted({*na["per_kind"], *nb["per_kind"]}):
        ka, kb = na["per_kind"].get(kind), nb["per_kind"].get(kind)
        lines.append(f"  {kind:<22} | {_flagged(ka) if ka else '':>28} | {_flagged(kb) if kb else '':>28}")
    return "\n".join(lines)


def threshold_lines(reports: Mapping[float, Report]) -> str:
    lines = []
    for threshold, report in reports.items():
        data = _json(report)
        m, flag_rate = data["micro"], data["hard_negatives"]["flag_rate"]
        lines.append(
            f"  score >= {threshold:.1f}: micro P {m['precision']:.3f} R {m['recall']:.3f} F2 {m['f2']:.3f}, "
            f"checksum recall {data['checksum_recall']:.3f}, hard negatives flagged {flag_rate:.1%}"
        )
    return "\n".join(lines)


def _mbs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def speed_table(rates: Sequence[Rate], total: Rate | None) -> str:
    head = f"{'format':<9} {'files':>5} {'KB':>7} | {'ClaimVault':>10} {'Presidio':>9} {'ours/Presidio':>13}"
    lines = [head, "-" * len(head)]
    for r in (*rates, *([total] if total else [])):
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.1f}x"
        lines.append(
            f"{r.format:<9} {r.files:>5} {r.bytes / 1024:>7.0f} | {_mbs(r.ours_mbs):>10} {_mbs(r.presidio_mbs):>9} "
            f"{ratio:>13}"
        )
    return "\n".join(lines)
