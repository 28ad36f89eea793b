"""Seeded evaluation corpus for ClaimVault's sensitive-data scanner (written blind to the engine).

``generate_corpus`` plants synthetic entities with exact offsets into every supported format, with hard
negatives; ``evaluate`` scores a scanner's findings against it. Train and test splits use separate templates.
"""

from .evaluate import Report, evaluate
from .generator import generate_corpus, write_corpus
from .model import (
    CHECKSUM_TYPES,
    ENTITY_TYPES,
    FORMATS,
    MRN_FORMATS,
    TEXT_FORMATS,
    Document,
    Found,
    Planted,
)

__all__ = [
    "CHECKSUM_TYPES",
    "ENTITY_TYPES",
    "FORMATS",
    "MRN_FORMATS",
    "TEXT_FORMATS",
    "Document",
    "Found",
    "Planted",
    "Report",
    "evaluate",
    "generate_corpus",
    "write_corpus",
]
