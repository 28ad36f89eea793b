"""The two engines the discovery benchmark compares, each run over corpus files and returning findings by path.

- ClaimVault: ``scan_file`` (the whole pipeline: format sniffing, structure-aware extraction, recognizers,
  classification) on each file written to disk, with the corpus organisations' MRN formats.
- Presidio: presidio-analyzer's ``AnalyzerEngine`` with its pattern recognizers and no NLP model
  (``NoOpNlpEngine``, Presidio's supported way to run without spaCy), over each text-like document's decoded
  text (``data.decode("utf-8")``: no newline translation, so offsets line up with the corpus). Its entity names
  are mapped to ours; names with no counterpart keep their own and count as false positives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.discovery_corpus import MRN_FORMATS, TEXT_FORMATS, Document

from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.scanner import scan_file

# Presidio entity name -> ClaimVault entity type (anything else keeps its Presidio name: a false positive).
PRESIDIO_TO_OURS: dict[str, str] = {
    "US_SSN": "US_SSN",
    "CREDIT_CARD": "CREDIT_CARD",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_BANK_NUMBER": "BANK_ACCOUNT",
    "ABA_ROUTING_NUMBER": "ABA_ROUTING",
    "MEDICAL_LICENSE": "DEA_NUMBER",
    "DATE_TIME": "DATE_OF_BIRTH",
    "US_MBI": "MEDICARE_MBI",
    "US_NPI": "US_NPI",
    "US_HEALTH_INSURANCE_MEMBER_ID": "MEMBER_ID",
}
# Presidio's US healthcare recognizers that ship disabled; enabled here (unless --presidio-defaults-only) so
# Presidio is compared at its best on US billing data.
PRESIDIO_HEALTHCARE_EXTRAS: tuple[str, ...] = (
    "UsMbiRecognizer",
    "UsNpiRecognizer",
    "AbaRoutingRecognizer",
    "UsHealthInsuranceMemberIdRecognizer",
)

ScoredFinding = tuple[str, int, int, float]  # (our type or Presidio's own name, start, end, score)


@dataclass(frozen=True)
class Timed:
    """Findings per document path and the analysis seconds per top-level corpus document."""

    found: dict[str, list[ScoredFinding]]
    seconds: dict[str, float]


def text_like(doc: Document) -> bool:
    return doc.format in TEXT_FORMATS


def text_leaves(documents: Iterable[Document]) -> list[Document]:
    """Every text-like document, zip members included (paths ``archive!member``)."""
    return [leaf for doc in documents for leaf in doc.leaves() if text_like(leaf)]


# ---------------------------------------------------------------------------------------------------- ClaimVault


def corpus_profile() -> ScanProfile:
    return ScanProfile(mrn_formats=tuple(MRN_FORMATS))


def scan_one(root: Path, doc: Document, profile: ScanProfile) -> dict[str, list[ScoredFinding]]:
    """ClaimVault's findings for one written corpus file, keyed by corpus path (zip members included)."""
    prefix = str(root) + "/"
    out: dict[str, list[ScoredFinding]] = {}
    for result in scan_file(root / doc.path, profile=profile):
        path = result.path.removeprefix(prefix)
        out[path] = [(f.type, f.start, f.end, f.confidence) for f in result.findings]
    return out


def run_ours(root: Path, documents: Sequence[Document], profile: ScanProfile) -> Timed:
    found: dict[str, list[ScoredFinding]] = {}
    seconds: dict[str, float] = {}
    for doc in documents:
        t0 = time.perf_counter()
        found.update(scan_one(root, doc, profile))
        seconds[doc.path] = time.perf_counter() - t0
    return Timed(found, seconds)


# ------------------------------------------------------------------------------------------------------ Presidio


class Presidio:
    """presidio-analyzer with pattern recognizers only (no NLP model), its entity names mapped to ours."""

    def __init__(self, *, defaults_only: bool = False) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer import predefined_recognizers as predefined
        from presidio_analyzer.nlp_engine import NoOpNlpEngine

        # Presidio's e-mail recognizer asks tldextract for the public-suffix list, which tries the network
        # once and falls back to its bundled copy; keep that (and Presidio's info logs) off the output.
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
        nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
        if not defaults_only:
            loaded = {type(r).__name__ for r in registry.recognizers}
            for name in PRESIDIO_HEALTHCARE_EXTRAS:
                if name not in loaded and hasattr(predefined, name):
                    registry.add_recognizer(getattr(predefined, name)())
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        self.recognizers = sorted(type(r).__name__ for r in registry.recognizers)
        self.analyze("warm-up: a@example.com 10.0.0.1 2021-03-04")  # one-time lazy loads, not timed

    def analyze(self, text: str) -> list[ScoredFinding]:
        return [
            (PRESIDIO_TO_OURS.get(r.entity_type, r.entity_type), r.start, r.end, float(r.score))
            for r in self.engine.analyze(text, language="en")
        ]


def run_presidio(presidio: Presidio, documents: Sequence[Document]) -> Timed:
    """Presidio over the text-like documents (zip members too); seconds are per top-level document."""
    found: dict[str, list[ScoredFinding]] = {}
    seconds: dict[str, float] = {}
    for doc in documents:
        leaves = [leaf for leaf in doc.leaves() if text_like(leaf)]
        if not leaves:
            continue
        texts = [(leaf.path, leaf.text()) for leaf in leaves]  # decoding is not analysis: not timed
        t0 = time.perf_counter()
        for path, text in texts:
            found[path] = presidio.analyze(text)
        seconds[doc.path] = time.perf_counter() - t0
    return Timed(found, seconds)


def at_threshold(
    found: dict[str, list[ScoredFinding]], threshold: float = 0.0
) -> dict[str, list[tuple[str, int, int]]]:
    """Findings scoring at least ``threshold``, as ``evaluate`` takes them."""
    return {path: [(t, s, e) for t, s, e, score in fs if score >= threshold] for path, fs in found.items()}
