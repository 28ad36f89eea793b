"""Batched recognizer passes and the per-file memo give exactly the findings of one pass per value: field values
of the seeded corpus (every text-like format), generated values built from the pieces recognizers look at
(context words, state abbreviations before ZIP codes, titles, birth words, phone prefixes, ids), and whole files
scanned with batching and memo switched off. Synthetic values only."""

from __future__ import annotations

import functools
import io
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimvault.discovery import piece_analysis
from claimvault.discovery.extractors import Source, detect_format, extract, sniff
from claimvault.discovery.piece_analysis import PieceAnalyzer, analyze_batch
from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.recognizers import Finding, analyze
from claimvault.discovery.scanner import scan_paths
from tests.discovery_corpus import MRN_FORMATS, generate_corpus, write_corpus

PROFILE = ScanProfile(mrn_formats=tuple(MRN_FORMATS))


def _one_by_one(texts: list[str], context: str | None) -> list[list[Finding]]:
    return [analyze(t, context=context, profile=PROFILE) if t.strip() else [] for t in texts]


def _spans(found: list[list[Finding]]) -> list[list[tuple[str, int, int, float, str, str, bool]]]:
    return [[(f.type, f.start, f.end, f.score, f.rule, f.preview, f.validated) for f in fs] for fs in found]


@pytest.fixture(scope="module")
def corpus_values() -> dict[str | None, list[str]]:
    """Values of the batchable pieces of the corpus's text-like files, by field name."""
    by_context: dict[str | None, list[str]] = defaultdict(list)
    for doc in generate_corpus(split="train", seed=11, documents=120):
        for leaf in doc.leaves():
            if leaf.format in ("xlsx", "docx", "pdf", "zip"):
                continue
            source = Source(leaf.path, functools.partial(io.BytesIO, leaf.data), Path(leaf.path).suffix)
            for piece in extract(source, detect_format(source, sniff(source))):
                if piece_analysis._batchable(piece):
                    by_context[piece.context].append(piece.text)
    return by_context


def test_corpus_values_batched_match_one_pass_per_value(corpus_values: dict[str | None, list[str]]) -> None:
    assert sum(len(v) for v in corpus_values.values()) > 2000  # the corpus feeds many values to the check
    for context, texts in corpus_values.items():
        assert _spans(analyze_batch(texts, context, PROFILE)) == _spans(_one_by_one(texts, context)), context


_PARTS = [
    "SSN", "ssn:", "DOB", "born", "Dr.", "Mrs", "CA", "NY", " ", " ", ", ", "-", ".", "(", ")", "+", "1", "@", ":",
    "#", "^", "_", "/", "Apt", "St", "Main", "Box", "PO", "routing", "acct", "NPI", "MRN", "member", "Smith", "John",
    "Maria", "Garcia", "call", "phone", "ICD", "E11.9", "J06.9", "99213", "G0439", "078-05-1120", "219-09-9999",
    "1234567893", "4111111111111111", "5555 5555 5555 4444", "1EG4-TE5-MK73", "AB1234563", "021000021", "10.0.0.1",
    "fe80::1", "12345", "12345-6789", "(415) 555-0134", "415.555.0134", "03/04/1990", "March 4, 1990", "x@y.org",
    "\t", "\n", "ß", "İ", "Ö",
]  # fmt: skip


# Values whose first or last characters matter to a recognizer (a look-back or look-ahead at the value's edge).
_EDGE_VALUES = [
    "CA 12345", "NY 12345-6789", "1 (415) 555-0134", "+1 (415) 555-0134", "(415) 555-0134", "+14155550134",
    "DOB 03/04/1990", "born March 4, 1990", "Dr. John Smith", "John Smith", "Smith, John", "x@y.org", "a.b@c.io",
    "12 Main St", "12 Main St Apt 4", "PO Box 12", "E11.9^Diabetes^I10", "I10", "SSN 078-05-1120", "078-05-1120",
    "fe80::1", "::1", "10.0.0.1", "AB1234563", "1EG4-TE5-MK73", "routing 021000021", "acct 123456789", "99213",
    "NPI 1234567893", "1234567893", "4111 1111 1111 1111", "12345", "Room 5", "MRN NN192873", "NN192873", "-",
    "1", "A", "",
]  # fmt: skip


@pytest.mark.parametrize("context", [None, "notes", "zip", "phone", "mrn", "dx code", "acct"])
def test_edge_values_batched_match_one_pass_per_value(context: str | None) -> None:
    for shift in range(len(_EDGE_VALUES)):  # every value after every other one
        texts = _EDGE_VALUES[shift:] + _EDGE_VALUES[:shift]
        assert _spans(analyze_batch(texts, context, PROFILE)) == _spans(_one_by_one(texts, context))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(_PARTS) | st.text("0123456789ABCabc -.", max_size=6), max_size=8).map("".join),
        min_size=1,
        max_size=12,
    ),
    context=st.sampled_from([None, "notes", "zip", "Patient SSN", "phone", "acct", "routing", "mrn", "dx code"]),
)
def test_generated_values_batched_match_one_pass_per_value(texts: list[str], context: str | None) -> None:
    texts = [t for t in texts if "\x00" not in t and len(t.lower()) == len(t)]  # what _batchable admits
    if texts:
        assert _spans(analyze_batch(texts, context, PROFILE)) == _spans(_one_by_one(texts, context))


def test_the_memo_answers_a_repeated_value_with_its_first_findings() -> None:
    from claimvault.discovery.extract_base import Piece

    analyzer = PieceAnalyzer(PROFILE)
    first = Piece("1234567893", 0, context="NPI")
    again = Piece("1234567893", 40, context="NPI")
    other_field = Piece("1234567893", 80, context="amount")
    for piece in (first, again, other_field):
        analyzer.add(piece)
    done = {p.offset: found for p, found in analyzer.flush()}
    assert [f.type for f in done[0]] == ["US_NPI"] and done[0] == done[40]
    assert [f.score for f in done[80]] != [f.score for f in done[0]]  # no NPI context: a different confidence


def test_whole_files_scan_the_same_without_batching_or_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    documents = generate_corpus(split="train", seed=12, documents=60)
    write_corpus(documents, tmp_path)
    batched = [r.to_json() for r in scan_paths([tmp_path], profile=PROFILE)]
    monkeypatch.setattr(piece_analysis, "_batchable", lambda piece: False)
    monkeypatch.setattr(piece_analysis, "MEMO_MAX_TEXT", -1)
    one_by_one = [r.to_json() for r in scan_paths([tmp_path], profile=PROFILE)]
    assert sum(len(r["findings"]) for r in batched) > 500
    assert batched == one_by_one
