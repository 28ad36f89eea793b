"""The structured extractors (CSV, TSV, JSON, FHIR, X12, HL7) give the same pieces whatever the read size.

Each extractor reads its stream in chunks of ``extract_base.CHUNK`` characters and has fast paths for the
common shapes (a quote-free CSV run, a one-part HL7 field, a JSON key with its value); a value, a quoted cell or
a segment cut by a chunk border must still come out whole, once, at its exact offset. (Plain text is cut into
overlapping windows by design; ``test_discovery_scan`` covers its borders.)
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pytest

from claimvault.discovery import extract_base
from claimvault.discovery.extractors import Source, detect_format, extract, sniff
from tests.discovery_corpus import TEXT_FORMATS, Document, generate_corpus

Shape = tuple[str, int, str | None, str | None]


def _leaves() -> list[Document]:
    documents = generate_corpus(split="train", seed=21, documents=90)
    return [leaf for doc in documents for leaf in doc.leaves() if leaf.format in TEXT_FORMATS and leaf.format != "text"]


LEAVES = _leaves()


def _pieces(leaf: Document | tuple[str, bytes]) -> list[Shape]:
    path, data = (leaf.path, leaf.data) if isinstance(leaf, Document) else leaf
    source = Source(path, functools.partial(io.BytesIO, data), Path(path).suffix)
    fmt = detect_format(source, sniff(source))
    return [(p.text, p.offset, p.context, p.asserted_type) for p in extract(source, fmt)]


def test_the_corpus_covers_every_structured_format() -> None:
    assert {leaf.format for leaf in LEAVES} >= {"csv", "tsv", "json", "fhir", "x12", "hl7"}


@pytest.mark.parametrize("chunk", [37, 256, 4099])
def test_pieces_do_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    whole = {leaf.path: _pieces(leaf) for leaf in LEAVES}
    monkeypatch.setattr(extract_base, "CHUNK", chunk)
    for leaf in LEAVES:
        assert _pieces(leaf) == whole[leaf.path], (leaf.path, leaf.format)


def test_every_piece_sits_at_its_offset() -> None:
    checked = 0
    for leaf in LEAVES:
        text = leaf.data.decode("utf-8")
        for value, offset, _, _ in _pieces(leaf):
            assert text[offset : offset + len(value)] == value, (leaf.path, offset)
            checked += 1
    assert checked > 5000


@pytest.mark.parametrize("chunk", [5, 11, 64])
def test_quoted_csv_cells_across_borders(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    data = (
        b'name,note,ssn\r\n"Doe, Jane","said ""hi""\nthen left",123-45-6789\r\nplain,cell,987-65-4321\n\n"a"tail,,x\n'
    )
    expected = _pieces(("f.csv", data))
    assert [p[0] for p in expected] == ["Doe, Jane", 'said ""hi""\nthen left', "123-45-6789", "plain", "cell",
                                        "987-65-4321", "a", "x"]  # fmt: skip
    monkeypatch.setattr(extract_base, "CHUNK", chunk)
    assert _pieces(("f.csv", data)) == expected


@pytest.mark.parametrize("chunk", range(1, 25))
def test_json_numbers_cut_by_a_border_come_out_whole(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    data = b'{"npi": 1234567893, "amount": 12.25, "x": [1e+5, -2.5E-3, 7], "ok": true, "n": null, "s": "a\\"b"}'
    monkeypatch.setattr(extract_base, "CHUNK", chunk)
    assert [p[0] for p in _pieces(("f.json", data))] == ["1234567893", "12.25", "1e+5", "-2.5E-3", "7", 'a\\"b']
