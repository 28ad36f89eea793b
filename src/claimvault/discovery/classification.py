"""Sensitivity levels and 0-100 scores for findings, files, columns and tables, from the discovery policy.

Levels, most sensitive first: ``restricted`` (PHI and financial identifiers), ``confidential`` (other PII),
``internal`` (business identifiers that are public on their own, such as a provider's NPI) and ``public``.

The rules are data: ``claimvault/security/discovery_policy.toml`` gives each entity type its level, each level its
weight, the level of an unlisted type and the confidence a finding needs to be reported. A site replaces that file
with its own by setting ``CLAIMVAULT_DISCOVERY_POLICY`` to a path; the file is validated when first used and a
mistake raises ``DiscoveryPolicyError`` naming the problem.

Scores (packaged weights: restricted 100, confidential 60, internal 25, public 0):
- a finding: ``round(weight[level] * confidence)``;
- a file (its findings) or a table (its columns): 0 with none, otherwise ``min(100, top + round(10 * log10(n)))``
  where ``top`` is the highest score among the items and ``n`` the number of items at the roll-up's level (volume
  raises the score: 10 restricted findings add 10, 100 add 20). The level is the highest level among the items,
  ``public`` with none.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

from claimvault.errors import ClaimVaultError

POLICY_ENV = "CLAIMVAULT_DISCOVERY_POLICY"
PACKAGED = "packaged discovery_policy.toml"
_TYPE_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_KEYS = frozenset({"default_level", "report_threshold", "weights", "levels"})


class Level(StrEnum):
    public = "public"
    internal = "internal"
    confidential = "confidential"
    restricted = "restricted"

    @property
    def rank(self) -> int:
        return LEVEL_ORDER.index(self)


LEVEL_ORDER: tuple[Level, ...] = (Level.public, Level.internal, Level.confidential, Level.restricted)


class DiscoveryPolicyError(ClaimVaultError):
    code = "invalid_discovery_policy"


@dataclass(frozen=True)
class DiscoveryPolicy:
    """The classification rules: a level per entity type, a weight per level, the fallback level, the threshold."""

    type_levels: Mapping[str, Level]
    weights: Mapping[Level, int]
    default_level: Level
    report_threshold: float
    source: str = PACKAGED

    def level_of(self, entity_type: str) -> Level:
        return self.type_levels.get(entity_type, self.default_level)


def _level(value: object, where: str, source: str) -> Level:
    if not isinstance(value, str) or value not in Level.__members__:
        names = ", ".join(lv.value for lv in reversed(LEVEL_ORDER))
        raise DiscoveryPolicyError(f"{source}: {where} must be one of {names}")
    return Level(value)


def _weights(doc: Any, source: str) -> dict[Level, int]:
    if not isinstance(doc, dict):
        raise DiscoveryPolicyError(f"{source}: [weights] must be a table")
    weights: dict[Level, int] = {}
    for name, value in doc.items():
        level = _level(name, f"weights key {name!r}", source)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise DiscoveryPolicyError(f"{source}: the weight of {level} must be a whole number from 0 to 100")
        weights[level] = value
    missing = [lv.value for lv in LEVEL_ORDER if lv not in weights]
    if missing:
        raise DiscoveryPolicyError(f"{source}: [weights] has no weight for {', '.join(missing)}")
    for lower, higher in pairwise(LEVEL_ORDER):
        if weights[higher] < weights[lower]:
            raise DiscoveryPolicyError(f"{source}: the weight of {higher} may not be below the weight of {lower}")
    return weights


def _type_levels(doc: Any, source: str) -> dict[str, Level]:
    if not isinstance(doc, dict):
        raise DiscoveryPolicyError(f"{source}: [levels] must be a table")
    found: dict[str, Level] = {}
    for name, types in doc.items():
        level = _level(name, f"levels key {name!r}", source)
        if not isinstance(types, list):
            raise DiscoveryPolicyError(f"{source}: levels.{level} must be a list of entity type names")
        for entity_type in types:
            if not isinstance(entity_type, str) or not _TYPE_NAME.fullmatch(entity_type):
                raise DiscoveryPolicyError(
                    f"{source}: levels.{level} holds a name that is not an entity type (upper case, digits, _)"
                )
            if entity_type in found:
                raise DiscoveryPolicyError(
                    f"{source}: entity type {entity_type} is listed twice (under {found[entity_type]} and {level})"
                )
            found[entity_type] = level
    return found


def parse_policy(text: str, *, source: str) -> DiscoveryPolicy:
    """The policy in ``text`` (TOML); ``source`` names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DiscoveryPolicyError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise DiscoveryPolicyError(f"{source}: unknown setting {unknown[0]!r}")
    missing = sorted(_KEYS - set(doc))
    if missing:
        raise DiscoveryPolicyError(f"{source}: missing setting {missing[0]!r}")
    threshold = doc["report_threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise DiscoveryPolicyError(f"{source}: report_threshold must be a number from 0 to 1")
    return DiscoveryPolicy(
        type_levels=MappingProxyType(_type_levels(doc["levels"], source)),
        weights=MappingProxyType(_weights(doc["weights"], source)),
        default_level=_level(doc["default_level"], "default_level", source),
        report_threshold=float(threshold),
        source=source,
    )


@cache
def _load(path: str | None) -> DiscoveryPolicy:
    if path is None:
        text = resources.files("claimvault.security").joinpath("discovery_policy.toml").read_text("utf-8")
        return parse_policy(text, source=PACKAGED)
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        raise DiscoveryPolicyError(f"{POLICY_ENV}: the discovery policy file {path} cannot be read") from None
    return parse_policy(text, source=f"discovery policy {path}")


def load_policy(path: Path | None = None) -> DiscoveryPolicy:
    """The policy at ``path``, else the file named by ``CLAIMVAULT_DISCOVERY_POLICY``, else the packaged one.
    Each file is read and validated once per process."""
    if path is not None:
        return _load(str(path))
    return _load(os.environ.get(POLICY_ENV) or None)


def report_threshold(*, policy: DiscoveryPolicy | None = None) -> float:
    return (policy or load_policy()).report_threshold


def level_weight(level: Level, *, policy: DiscoveryPolicy | None = None) -> int:
    return (policy or load_policy()).weights[level]


def level_of(entity_type: str, *, policy: DiscoveryPolicy | None = None) -> Level:
    return (policy or load_policy()).level_of(entity_type)


def finding_score(entity_type: str, confidence: float, *, policy: DiscoveryPolicy | None = None) -> int:
    current = policy or load_policy()
    return round(current.weights[current.level_of(entity_type)] * max(0.0, min(1.0, confidence)))


def rollup_level(levels: Iterable[Level]) -> Level:
    """The level of a file, column or table: the highest among its parts, ``public`` with none."""
    return max(levels, key=lambda lv: lv.rank, default=Level.public)


def rollup_score(scored: Iterable[tuple[Level, int]]) -> int:
    """The score of a file or table from its parts' (level, score) pairs (see the module docstring); a database
    scanner passes one pair per column (the column's best type's level and ``finding_score``)."""
    pairs = list(scored)
    if not pairs:
        return 0
    level = rollup_level(lv for lv, _ in pairs)
    top = max(score for _, score in pairs)
    n = sum(1 for lv, _ in pairs if lv == level)
    return min(100, top + round(10 * math.log10(n)))


def file_level(entity_types: Iterable[str], *, policy: DiscoveryPolicy | None = None) -> Level:
    current = policy or load_policy()
    return rollup_level(current.level_of(t) for t in entity_types)


def file_score(findings: Iterable[tuple[str, float]], *, policy: DiscoveryPolicy | None = None) -> int:
    """Score of a file from its findings' (type, confidence) pairs (see the module docstring)."""
    current = policy or load_policy()
    return rollup_score((current.level_of(t), finding_score(t, c, policy=current)) for t, c in findings)


def __getattr__(name: str) -> Any:
    """``TYPE_LEVELS``, ``LEVEL_WEIGHT``, ``DEFAULT_LEVEL`` and ``REPORT_THRESHOLD``: the current policy's values,
    for code written when they were constants here."""
    policy = load_policy()
    values: dict[str, Any] = {
        "TYPE_LEVELS": policy.type_levels,
        "LEVEL_WEIGHT": policy.weights,
        "DEFAULT_LEVEL": policy.default_level,
        "REPORT_THRESHOLD": policy.report_threshold,
    }
    if name in values:
        return values[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
