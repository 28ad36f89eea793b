"""Optional adapter exposing ClaimVault's discovery recognizers to Presidio users.

``ClaimVaultRecognizer`` is a presidio-analyzer ``EntityRecognizer``: its ``analyze`` runs
``claimvault.discovery.recognizers.analyze`` (checksum validators, context rules, the organization's MRN formats)
and returns ``RecognizerResult`` objects named with ClaimVault's entity types (``US_SSN``, ``US_NPI``,
``MEDICARE_MBI``, ``CREDIT_CARD``, ...), not Presidio's. ``claimvault_analyzer()`` builds an ``AnalyzerEngine``
that needs no NLP model (Presidio's ``NoOpNlpEngine``) with this recognizer alone, or beside Presidio's own pattern
recognizers when asked.

presidio-analyzer is optional: ClaimVault never imports this module itself, and importing it without
presidio-analyzer installed raises an ``ImportError`` that says what to install. The adapter returns spans and
scores only; explanations name the rule that fired and never hold the value.
"""

from __future__ import annotations

from collections.abc import Iterable

try:
    from presidio_analyzer import (
        AnalysisExplanation,
        AnalyzerEngine,
        EntityRecognizer,
        RecognizerRegistry,
        RecognizerResult,
    )
    from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine
except ImportError as exc:  # pragma: no cover - exercised only where presidio-analyzer is absent
    raise ImportError(
        "claimvault.discovery.presidio_adapter needs presidio-analyzer (pip install presidio-analyzer)"
    ) from exc

from claimvault.discovery.profile import DEFAULT_PROFILE, ScanProfile
from claimvault.discovery.recognizers import REPORT_THRESHOLD, analyze

SUPPORTED_ENTITIES: tuple[str, ...] = (
    "US_SSN", "US_NPI", "MEDICARE_MBI", "DEA_NUMBER", "ABA_ROUTING", "BANK_ACCOUNT", "CREDIT_CARD",
    "MRN", "MEMBER_ID", "ICD10_CM", "PROCEDURE_CODE",
    "DATE_OF_BIRTH", "PHONE", "EMAIL", "IP_ADDRESS", "STREET_ADDRESS", "ZIP_CODE", "PERSON",
)  # fmt: skip
RECOGNIZER_NAME = "ClaimVaultRecognizer"


class ClaimVaultRecognizer(EntityRecognizer):
    """ClaimVault's recognizers as one Presidio recognizer.

    ``profile`` carries the organization's MRN formats; ``field_name`` is the column header, JSON key or field
    name the analyzed texts come from, used as context the way ClaimVault's structure-aware extractors use it
    (Presidio's ``analyze`` has no per-call channel for it); ``threshold`` is ClaimVault's own report threshold.
    Scores already include ClaimVault's context rules, so the recognizer declares no Presidio context words and
    Presidio's context enhancer leaves its results alone.
    """

    def __init__(
        self,
        *,
        profile: ScanProfile = DEFAULT_PROFILE,
        field_name: str | None = None,
        threshold: float = REPORT_THRESHOLD,
        supported_language: str = "en",
        supported_entities: Iterable[str] = SUPPORTED_ENTITIES,
    ) -> None:
        self.profile = profile
        self.field_name = field_name
        self.threshold = threshold
        super().__init__(
            supported_entities=list(supported_entities),
            name=RECOGNIZER_NAME,
            supported_language=supported_language,
            version="1",
        )

    def load(self) -> None:
        """Nothing to load: the patterns are compiled when ``claimvault.discovery.recognizers`` is imported."""

    def analyze(
        self, text: str, entities: list[str] | None, nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Findings of the requested ``entities`` (all supported ones when empty); ``nlp_artifacts`` is unused."""
        del nlp_artifacts
        wanted = set(entities) & set(self.supported_entities) if entities else set(self.supported_entities)
        results: list[RecognizerResult] = []
        for finding in analyze(text, context=self.field_name, threshold=self.threshold, profile=self.profile):
            if finding.type not in wanted:
                continue
            explanation = AnalysisExplanation(
                recognizer=RECOGNIZER_NAME,
                original_score=finding.score,
                pattern_name=finding.rule,
                validation_result=finding.validated,
                textual_explanation=f"ClaimVault rule {finding.rule}",
            )
            results.append(
                RecognizerResult(
                    entity_type=finding.type,
                    start=finding.start,
                    end=finding.end,
                    score=finding.score,
                    analysis_explanation=explanation,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: RECOGNIZER_NAME,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
                    },
                )
            )
        return results


def no_model_nlp_engine(language: str = "en") -> NoOpNlpEngine:
    """Presidio's NLP engine that loads no model and returns empty artifacts (pattern recognizers only)."""
    engine = NoOpNlpEngine(models=[{"lang_code": language, "model_name": "no_op"}])
    engine.load()
    return engine


def claimvault_registry(
    *,
    profile: ScanProfile = DEFAULT_PROFILE,
    field_name: str | None = None,
    with_presidio_recognizers: bool = False,
    language: str = "en",
) -> RecognizerRegistry:
    """A registry holding ``ClaimVaultRecognizer`` (and, if asked, Presidio's default pattern recognizers)."""
    registry = RecognizerRegistry(supported_languages=[language])
    if with_presidio_recognizers:
        registry.load_predefined_recognizers(languages=[language], nlp_engine=no_model_nlp_engine(language))
    registry.add_recognizer(ClaimVaultRecognizer(profile=profile, field_name=field_name, supported_language=language))
    return registry


def claimvault_analyzer(
    *,
    profile: ScanProfile = DEFAULT_PROFILE,
    field_name: str | None = None,
    with_presidio_recognizers: bool = False,
    language: str = "en",
) -> AnalyzerEngine:
    """An ``AnalyzerEngine`` running ClaimVault's recognizers with no NLP model: ``engine.analyze(text,
    language="en")`` returns ``RecognizerResult`` objects with ClaimVault's entity types."""
    nlp_engine = no_model_nlp_engine(language)
    registry = claimvault_registry(
        profile=profile,
        field_name=field_name,
        with_presidio_recognizers=with_presidio_recognizers,
        language=language,
    )
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[language])
