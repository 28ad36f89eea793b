"""Throughput per format: both engines timed over the same files, analysis only, repeated until stable.

Per format the sample is the corpus files of that format in corpus order, up to ``sample_bytes`` (at least one
file). ClaimVault's round is ``scan_file`` on each sample file (the full pipeline, reading the file from the page
cache); Presidio's round is ``AnalyzerEngine.analyze`` on each file's decoded text (decoding is done once,
outside the timing). A round is repeated until ``min_seconds`` have passed and at least ``min_rounds`` ran; the
figure is the median round. MB is 10^6 bytes of the file as stored.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.discovery.engines import Presidio, scan_one, text_like
from tests.discovery_corpus import FORMATS, Document

from claimvault.discovery.profile import ScanProfile


@dataclass(frozen=True)
class Rate:
    format: str
    files: int
    bytes: int
    ours_seconds: float  # median round
    presidio_seconds: float | None  # None: Presidio cannot read the format (binary)

    @property
    def ours_mbs(self) -> float:
        return self.bytes / 1e6 / self.ours_seconds

    @property
    def presidio_mbs(self) -> float | None:
        return None if self.presidio_seconds is None else self.bytes / 1e6 / self.presidio_seconds

    @property
    def ratio(self) -> float | None:
        return None if self.presidio_seconds is None else self.presidio_seconds / self.ours_seconds


def median_round(run: Callable[[], object], *, min_seconds: float, min_rounds: int = 3, max_rounds: int = 200) -> float:
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_rounds or (time.perf_counter() - started < min_seconds and len(times) < max_rounds):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sample_of(documents: Sequence[Document], fmt: str, sample_bytes: int) -> list[Document]:
    chosen: list[Document] = []
    size = 0
    for doc in documents:
        if doc.format == fmt and (not chosen or size < sample_bytes):
            chosen.append(doc)
            size += len(doc.data)
    return chosen


def measure_rates(
    *,
    root: Path,
    documents: Sequence[Document],
    profile: ScanProfile,
    presidio: Presidio,
    sample_bytes: int,
    min_seconds: float,
    presidio_min_seconds: float,
) -> list[Rate]:
    rates: list[Rate] = []
    for fmt in FORMATS:
        sample = sample_of(documents, fmt, sample_bytes)
        if not sample:
            continue

        def ours(sample: list[Document] = sample) -> None:
            for doc in sample:
                scan_one(root, doc, profile)

        ours_seconds = median_round(ours, min_seconds=min_seconds)
        presidio_seconds: float | None = None
        if text_like(sample[0]):
            texts = [doc.text() for doc in sample]

            def theirs(texts: list[str] = texts) -> None:
                for text in texts:
                    presidio.analyze(text)

            presidio_seconds = median_round(theirs, min_seconds=presidio_min_seconds, min_rounds=2)
        rates.append(Rate(fmt, len(sample), sum(len(d.data) for d in sample), ours_seconds, presidio_seconds))
    return rates


def text_total(rates: Sequence[Rate]) -> Rate | None:
    """All text-like formats together: total bytes over total median seconds (the headline speed ratio)."""
    text = [r for r in rates if r.presidio_seconds is not None]
    if not text:
        return None
    return Rate(
        "all text",
        sum(r.files for r in text),
        sum(r.bytes for r in text),
        sum(r.ours_seconds for r in text),
        sum(r.presidio_seconds or 0.0 for r in text),
    )
