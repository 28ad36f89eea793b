"""Acceptance: the scanner's accuracy on the frozen test split of the seeded corpus (tests/discovery_corpus).

The test templates were written blind to the engine and are never used while tuning (tuning uses the train
split). The thresholds are the issue's: micro F2 >= 0.95 counting every type (PERSON included), recall >= 0.99 on
the checksum-validated types, at most 5% of hard negatives flagged as any type.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.scanner import scan_file
from tests.discovery_corpus import MRN_FORMATS, Document, Found, Report, evaluate, generate_corpus, write_corpus


def _relative(root: Path, reported: str) -> str:
    outer, sep, inner = reported.partition("!")
    return str(Path(outer).relative_to(root)) + sep + inner


def scan_corpus(documents: list[Document], root: Path) -> Report:
    write_corpus(documents, root)
    profile = ScanProfile(mrn_formats=MRN_FORMATS)
    found: dict[str, list[Found]] = {}
    for doc in documents:
        for result in scan_file(root / doc.path, profile=profile):
            assert result.status == "scanned", (result.path, result.reason)
            found[_relative(root, result.path)] = [(f.type, f.start, f.end) for f in result.findings]
    return evaluate(documents, found)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return scan_corpus(generate_corpus(split="test", seed=0), tmp_path_factory.mktemp("corpus"))


def test_micro_f2_on_the_test_split(report: Report) -> None:
    assert report.unknown_paths == 0
    assert report.micro.f2 >= 0.95, report.to_text()


def test_every_type_is_scored_and_found(report: Report) -> None:
    for name, counts in report.per_type.items():
        assert counts.support > 0 and counts.recall > 0.8, (name, report.to_text())


def test_checksum_types_recall(report: Report) -> None:
    assert report.checksum.recall >= 0.99, report.to_text()


def test_hard_negatives_are_rarely_flagged(report: Report) -> None:
    assert report.negatives > 0
    assert report.negative_flag_rate <= 0.05, report.to_text()
