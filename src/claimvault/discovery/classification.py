"""Sensitivity levels and 0-100 scores for findings and files.

Levels, most sensitive first: ``restricted`` (PHI and financial identifiers), ``confidential`` (other PII),
``internal`` (business identifiers that are public on their own, such as a provider's NPI) and ``public``.

Scores:
- a finding: ``round(LEVEL_WEIGHT[level] * confidence)``, weights restricted 100, confidential 60, internal 25,
  public 0;
- a file: 0 with no findings, otherwise ``min(100, top + round(10 * log10(n)))`` where ``top`` is the highest
  finding score and ``n`` the number of findings at the file's level (volume raises the score: 10 restricted
  findings add 10, 100 add 20). A file's level is the highest level among its findings, ``public`` with none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum


class Level(StrEnum):
    public = "public"
    internal = "internal"
    confidential = "confidential"
    restricted = "restricted"

    @property
    def rank(self) -> int:
        return LEVEL_ORDER.index(self)


LEVEL_ORDER: tuple[Level, ...] = (Level.public, Level.internal, Level.confidential, Level.restricted)
LEVEL_WEIGHT: Mapping[Level, int] = {Level.restricted: 100, Level.confidential: 60, Level.internal: 25,
                                     Level.public: 0}  # fmt: skip

TYPE_LEVELS: Mapping[str, Level] = {
    **{t: Level.restricted for t in ("US_SSN", "MEDICARE_MBI", "CREDIT_CARD", "BANK_ACCOUNT", "ABA_ROUTING",
                                      "MEMBER_ID", "MRN", "DATE_OF_BIRTH", "ICD10_CM")},
    **{t: Level.confidential for t in ("PERSON", "STREET_ADDRESS", "ZIP_CODE", "PHONE", "EMAIL", "IP_ADDRESS",
                                        "DEA_NUMBER", "PROCEDURE_CODE")},
    "US_NPI": Level.internal,
}  # fmt: skip
DEFAULT_LEVEL = Level.confidential  # an entity type not listed above


def level_of(entity_type: str) -> Level:
    return TYPE_LEVELS.get(entity_type, DEFAULT_LEVEL)


def finding_score(entity_type: str, confidence: float) -> int:
    return round(LEVEL_WEIGHT[level_of(entity_type)] * max(0.0, min(1.0, confidence)))


def file_level(entity_types: Iterable[str]) -> Level:
    return max((level_of(t) for t in entity_types), key=lambda lv: lv.rank, default=Level.public)


def file_score(findings: Iterable[tuple[str, float]]) -> int:
    """Score of a file from its findings' (type, confidence) pairs (see the module docstring)."""
    pairs = list(findings)
    if not pairs:
        return 0
    level = file_level(t for t, _ in pairs)
    top = max(finding_score(t, c) for t, c in pairs)
    n = sum(1 for t, _ in pairs if level_of(t) == level)
    return min(100, top + round(10 * math.log10(n)))
