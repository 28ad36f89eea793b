"""The discovery evaluation corpus: deterministic, exact offsets, valid positives, failing look-alikes, real files."""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections import Counter
from pathlib import Path

import pypdf
import pytest

from tests.discovery_corpus import (
    CHECKSUM_TYPES,
    ENTITY_TYPES,
    FORMATS,
    MRN_FORMATS,
    Document,
    Found,
    evaluate,
    generate_corpus,
    write_corpus,
)
from tests.discovery_corpus.checksums import aba_ok, card_ok, dea_ok, luhn_ok, mbi_ok, npi_ok, ssn_ok

CHECKS = {
    "US_SSN": ssn_ok,
    "US_NPI": npi_ok,
    "MEDICARE_MBI": mbi_ok,
    "DEA_NUMBER": dea_ok,
    "ABA_ROUTING": aba_ok,
    "CREDIT_CARD": card_ok,
}
LOOKALIKE_CHECKS = {
    "ssn_lookalike": ssn_ok,
    "npi_lookalike": npi_ok,
    "mbi_lookalike": mbi_ok,
    "dea_lookalike": dea_ok,
    "aba_lookalike": aba_ok,
    "card_lookalike": card_ok,
}


@pytest.fixture(scope="module")
def corpora() -> dict[str, list[Document]]:
    return {split: generate_corpus(split=split, seed=0) for split in ("train", "test")}


def leaves(docs: list[Document]) -> list[tuple[str, Document]]:
    return [(top.format, leaf) for top in docs for leaf in top.leaves()]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = generate_corpus(split="test", seed=7, documents=25)
    again = generate_corpus(split="test", seed=7, documents=25)
    other = generate_corpus(split="test", seed=8, documents=25)
    assert [(d.path, d.data, d.entities, d.negatives) for d in first] == [
        (d.path, d.data, d.entities, d.negatives) for d in again
    ]
    assert [d.data for d in first] != [d.data for d in other]


def test_validators_on_known_values() -> None:
    assert npi_ok("1234567893") and not npi_ok("1234567890")
    assert luhn_ok("4111111111111111") and card_ok("2221 0000 0000 0009") and not card_ok("4111111111111112")
    assert not card_ok("3530111333300000")  # JCB is not in the corpus's IIN set
    assert aba_ok("011000015") and not aba_ok("011000016") and not aba_ok("131000012")
    assert dea_ok("AB1234563") and not dea_ok("AB1234564") and not dea_ok("IB1234563")
    assert mbi_ok("1EG4-TE5-MK73") and not mbi_ok("1EG4-TE5-MS73")
    assert ssn_ok("536-22-8726") and not ssn_ok("078-05-1120") and not ssn_ok("666-12-3456")
    assert not ssn_ok("912-12-3456") and not ssn_ok("123-00-4567") and not ssn_ok("123-45-0000")


def test_offsets_are_exact_everywhere(corpora: dict[str, list[Document]]) -> None:
    for docs in corpora.values():
        for _, doc in leaves(docs):
            if not doc.exact_offsets:
                assert not doc.negatives
                continue
            text = doc.data.decode("utf-8")
            spans = sorted(doc.entities + doc.negatives, key=lambda p: p.start)
            for planted in spans:
                assert text[planted.start : planted.end] == planted.value, (doc.path, planted.type)
            for left, right in itertools.pairwise(spans):
                assert left.end <= right.start, (doc.path, left.type, right.type)


def test_positives_pass_and_lookalikes_fail_their_checks(corpora: dict[str, list[Document]]) -> None:
    mrn_patterns = [
        re.compile(
            "^" + "".join({"9": r"\d", "A": "[A-Z]", "X": "[0-9A-Z]"}.get(ch, re.escape(ch)) for ch in fmt) + "$"
        )
        for fmt in MRN_FORMATS
    ]
    for docs in corpora.values():
        for _, doc in leaves(docs):
            for planted in doc.entities:
                assert planted.type in ENTITY_TYPES
                if planted.type in CHECKS:
                    assert CHECKS[planted.type](planted.value), (doc.path, planted.type)
                if planted.type == "MRN":
                    assert any(p.match(planted.value) for p in mrn_patterns)
            for negative in doc.negatives:
                if negative.type in LOOKALIKE_CHECKS:
                    assert not LOOKALIKE_CHECKS[negative.type](negative.value), (doc.path, negative.type)


def test_nothing_sensitive_is_left_unplanted(corpora: dict[str, list[Document]]) -> None:
    patterns = {"EMAIL": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "US_SSN": re.compile(r"\b\d{3}-\d{2}-\d{4}\b")}
    for docs in corpora.values():
        for _, doc in leaves(docs):
            if not doc.exact_offsets:
                continue
            text = doc.data.decode("utf-8")
            for kind, pattern in patterns.items():
                for match in pattern.finditer(text):
                    if kind == "US_SSN" and not ssn_ok(match.group()):
                        continue
                    covered = [p for p in doc.entities + doc.negatives if p.start <= match.start() < p.end]
                    assert covered, (doc.path, kind)


def test_every_format_and_type_in_both_splits(corpora: dict[str, list[Document]]) -> None:
    for split, docs in corpora.items():
        assert {d.format for d in docs} == set(FORMATS), split
        per_format: dict[str, Counter[str]] = {}
        for top_format, doc in leaves(docs):
            per_format.setdefault(top_format, Counter()).update(p.type for p in doc.entities)
        totals = sum(per_format.values(), Counter())
        assert set(totals) == set(ENTITY_TYPES), split
        if split == "test":
            assert min(totals[t] for t in ENTITY_TYPES) >= 40
        negatives = Counter(n.type for _, doc in leaves(docs) for n in doc.negatives)
        assert 0.15 <= sum(negatives.values()) / sum(totals.values()) <= 0.25, split
        for kind in (
            "spaced_ssn",
            "id_in_word",
            "date_not_birth",
            "bare_9_digits",
            "bare_10_digits",
            *LOOKALIKE_CHECKS,
        ):
            assert negatives[kind] > 0, (split, kind)
        for fmt in ("csv", "json", "fhir", "x12", "hl7", "text"):
            assert {"PERSON", "US_NPI"} <= set(per_format[fmt]), (split, fmt)


def test_splits_use_different_templates(corpora: dict[str, list[Document]]) -> None:
    def headers(docs: list[Document]) -> set[str]:
        return {d.data.decode().splitlines()[0] for _, d in leaves(docs) if d.format in ("csv", "tsv")}

    assert not headers(corpora["train"]) & headers(corpora["test"])


def test_office_files_are_real(corpora: dict[str, list[Document]]) -> None:
    docs = [d for _, d in leaves(corpora["test"])]
    xlsx = next(d for d in docs if d.format == "xlsx")
    with zipfile.ZipFile(io.BytesIO(xlsx.data)) as archive:
        names = set(archive.namelist())
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"} <= names
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
        strings = archive.read("xl/sharedStrings.xml").decode()
    assert 't="s"' in sheet and 't="inlineStr"' in sheet
    assert all(p.value.replace("&", "&amp;") in sheet + strings for p in xlsx.entities[:20])
    docx = next(d for d in docs if d.format == "docx")
    with zipfile.ZipFile(io.BytesIO(docx.data)) as archive:
        body = archive.read("word/document.xml").decode()
    assert "<w:body>" in body and docx.entities[0].value.replace("&", "&amp;") in body
    pdf = next(d for d in docs if d.format == "pdf" and len(d.entities) >= 3)
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.data)).pages)
    for planted in (pdf.entities[0], pdf.entities[-1]):
        assert planted.value in text


def test_archives_hold_members_and_a_nested_archive(corpora: dict[str, list[Document]]) -> None:
    archive = next(d for d in corpora["test"] if d.format == "zip")
    with zipfile.ZipFile(io.BytesIO(archive.data)) as opened:
        names = opened.namelist()
        assert [m.path.split("!", 1)[1] for m in archive.members] == names
        nested = next(m for m in archive.members if m.format == "zip")
        assert nested.path.count("!") == 1 and nested.members and nested.members[0].path.count("!") == 2
        assert opened.read(nested.path.split("!", 1)[1]) == nested.data
    assert any("/" in name for name in names)


def test_write_corpus(tmp_path: Path) -> None:
    docs = generate_corpus(split="train", documents=12)
    write_corpus(docs, tmp_path)
    assert all((tmp_path / d.path).read_bytes() == d.data for d in docs)


def perfect(docs: list[Document]) -> dict[str, list[Found]]:
    return {doc.path: [(p.type, p.start, p.end) for p in doc.entities] for _, doc in leaves(docs)}


def test_evaluate_arithmetic() -> None:
    docs = generate_corpus(split="test", documents=22)
    report = evaluate(docs, perfect(docs))
    assert report.micro.f2 == 1.0 and report.checksum.recall == 1.0 and report.negatives_flagged == 0
    assert report.micro.support == sum(len(d.entities) for _, d in leaves(docs))
    assert "micro F2: 1.0000" in report.to_text() and report.to_json()["micro"]["f2"] == 1.0

    doc = next(d for _, d in leaves(docs) if d.exact_offsets and d.negatives and d.entities)
    target = next(p for p in doc.entities if p.type != "PERSON")
    findings = perfect(docs)
    findings[doc.path] = [f for f in findings[doc.path] if f != (target.type, target.start, target.end)]
    findings[doc.path].append(("PERSON", target.start, target.end))
    negative = doc.negatives[0]
    findings[doc.path].append(("US_SSN", negative.start, negative.end))
    report = evaluate(docs, findings)
    assert report.per_type[target.type].fn == 1 and report.per_type["PERSON"].fp == 1
    assert report.per_type["US_SSN"].fp == 1 and report.negatives_flagged == 1
    assert report.negatives_per_kind[negative.type][1] == 1 and report.micro.f2 < 1.0

    office = next(d for _, d in leaves(docs) if d.format == "xlsx" and d.entities[0].type != "CREDIT_CARD")
    findings = perfect(docs)
    findings[office.path] = findings[office.path][1:] + [("CREDIT_CARD", 0, 1)] * 2
    report = evaluate(docs, findings)
    assert report.per_type[office.entities[0].type].fn == 1
    assert report.per_type["CREDIT_CARD"].fp == 2
    assert set(CHECKSUM_TYPES) <= set(report.per_type)
