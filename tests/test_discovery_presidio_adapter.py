"""The optional Presidio adapter: ClaimVault's recognizers run inside a real presidio-analyzer AnalyzerEngine
with no NLP model, reporting ClaimVault's entity types and validators' verdicts."""

from __future__ import annotations

import pytest
from presidio_analyzer import AnalyzerEngine, RecognizerResult  # a dev dependency: imported for real
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import NhsRecognizer

from claimvault.discovery.presidio_adapter import (
    RECOGNIZER_NAME,
    SUPPORTED_ENTITIES,
    ClaimVaultRecognizer,
    claimvault_analyzer,
)

MASTERCARD_2_SERIES = "2221 0000 0000 0009"  # Luhn-valid, IIN 2221 (Mastercard 2221-2720)
VALID_MBI = "1EG4-TE5-MK73"  # the CMS specification's example
INVALID_MBI = "1SG4-TE5-MK73"  # S is never used in position 2
NPI_ALSO_NHS_VALID = "2158247827"  # passes the NPI Luhn and the UK NHS mod-11 check
ROUTING = "021000021"


def _found(results: list[RecognizerResult], text: str) -> list[tuple[str, str]]:
    return sorted((r.entity_type, text[r.start : r.end]) for r in results)


@pytest.fixture(scope="module")
def engine() -> AnalyzerEngine:
    return claimvault_analyzer()


def test_the_engine_needs_no_nlp_model(engine: AnalyzerEngine) -> None:
    assert isinstance(engine.nlp_engine, NoOpNlpEngine)
    assert [type(r) for r in engine.registry.recognizers] == [ClaimVaultRecognizer]
    assert set(engine.get_supported_entities()) == set(SUPPORTED_ENTITIES)


def test_finds_a_mastercard_2_series_card_and_a_valid_mbi(engine: AnalyzerEngine) -> None:
    text = f"Paid with card {MASTERCARD_2_SERIES}; Medicare MBI {VALID_MBI} on file."
    results = engine.analyze(text, language="en")
    assert _found(results, text) == [("CREDIT_CARD", MASTERCARD_2_SERIES), ("MEDICARE_MBI", VALID_MBI)]
    assert all(0.5 <= r.score <= 1.0 for r in results)


def test_an_mbi_that_cannot_exist_is_rejected(engine: AnalyzerEngine) -> None:
    text = f"Medicare MBI {INVALID_MBI} on file."
    assert engine.analyze(text, language="en") == []


def test_an_npi_is_an_npi_not_a_uk_nhs_number(engine: AnalyzerEngine) -> None:
    text = f"Rendering provider NPI: {NPI_ALSO_NHS_VALID}"
    # Presidio's own NHS recognizer takes this NPI for a UK NHS number; the adapter reports what it is.
    assert [r.entity_type for r in NhsRecognizer().analyze(text, ["UK_NHS"], None)] == ["UK_NHS"]
    assert _found(engine.analyze(text, language="en"), text) == [("US_NPI", NPI_ALSO_NHS_VALID)]


def test_requested_entities_filter_the_results(engine: AnalyzerEngine) -> None:
    text = f"MBI {VALID_MBI}, card {MASTERCARD_2_SERIES}"
    results = engine.analyze(text, language="en", entities=["MEDICARE_MBI"])
    assert _found(results, text) == [("MEDICARE_MBI", VALID_MBI)]


def test_a_field_name_gives_a_bare_number_its_context() -> None:
    bare = ClaimVaultRecognizer()
    assert bare.analyze(ROUTING, entities=["ABA_ROUTING"]) == []
    in_column = ClaimVaultRecognizer(field_name="routing_number")
    results = in_column.analyze(ROUTING, entities=["ABA_ROUTING"])
    assert [(r.entity_type, r.start, r.end) for r in results] == [("ABA_ROUTING", 0, len(ROUTING))]


def test_results_explain_the_rule_without_the_value(engine: AnalyzerEngine) -> None:
    text = f"MBI {VALID_MBI}"
    (result,) = engine.analyze(text, language="en", return_decision_process=True)
    explanation = result.analysis_explanation
    assert explanation is not None
    assert explanation.recognizer == RECOGNIZER_NAME
    assert explanation.pattern_name
    assert VALID_MBI not in str(explanation.textual_explanation)
    assert VALID_MBI.replace("-", "") not in str(explanation.textual_explanation)


def test_beside_presidio_recognizers_ours_keep_their_names() -> None:
    combined = claimvault_analyzer(with_presidio_recognizers=True)
    text = f"Medicare MBI {VALID_MBI}; card {MASTERCARD_2_SERIES}"
    ours = {
        (r.entity_type, text[r.start : r.end])
        for r in combined.analyze(text, language="en")
        if r.recognition_metadata and r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY] == RECOGNIZER_NAME
    }
    assert ours == {("MEDICARE_MBI", VALID_MBI), ("CREDIT_CARD", MASTERCARD_2_SERIES)}
