"""Minimum-necessary masking: rules as data (``masking.toml``), applied by the PHI gate while it decrypts.

``view_for`` picks, for each column, the least-masked treatment among the roles that grant the permission in
use; ``apply_masking`` turns decrypted values into what the caller may see (masked or removed fields are listed
so callers can say so).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from claimvault.security.data_policy import DataPolicy
from claimvault.security.permissions import Role

FULL = "full"
SSN_LAST4 = "ssn_last4"
REMOVE = "remove"
TREATMENTS = (FULL, SSN_LAST4, REMOVE)  # least to most masked
_RANK = {name: rank for rank, name in enumerate(TREATMENTS)}


@dataclass(frozen=True)
class MaskingRules:
    """role -> {"table.column" or "class:X": treatment}."""

    by_role: Mapping[str, Mapping[str, str]]

    def treatment(self, role: str, *, table: str, column: str, classification: str) -> str:
        rules = self.by_role.get(role, {})
        return rules.get(f"{table}.{column}") or rules.get(f"class:{classification}") or FULL


def parse_rules(document: Mapping[str, Any]) -> MaskingRules:
    roles = document.get("roles", {})
    known = {r.value for r in Role}
    by_role: dict[str, dict[str, str]] = {}
    for role, rules in roles.items():
        if role not in known:
            raise ValueError("masking rules name an unknown role")
        for target, treatment in rules.items():
            if treatment not in _RANK or not (target.startswith("class:") or "." in target):
                raise ValueError("masking rules hold an unknown treatment or target")
        by_role[role] = dict(rules)
    return MaskingRules(by_role)


@cache
def load_masking_rules() -> MaskingRules:
    text = resources.files("claimvault.security.authorization").joinpath("masking.toml").read_text("utf-8")
    return parse_rules(tomllib.loads(text))


def view_for(rules: MaskingRules, policy: DataPolicy, *, table: str, roles: Iterable[str]) -> dict[str, str]:
    """Column -> treatment for a reader holding ``roles`` (those granting the permission in use). Columns shown in
    full are left out. With no role (a system context) nothing is masked."""
    roles = list(roles)
    view: dict[str, str] = {}
    if not roles:
        return view
    for (t, column), entry in policy.columns.items():
        if t != table or not entry.encrypted:
            continue
        treatment = min(
            (rules.treatment(r, table=table, column=column, classification=entry.classification) for r in roles),
            key=_RANK.__getitem__,
        )
        if treatment != FULL:
            view[column] = treatment
    return view


def mask_ssn_last4(value: object) -> str | None:
    if value is None:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    last4 = digits[-4:] if len(digits) >= 4 else "****"
    return f"***-**-{last4}"


def apply_masking(values: Mapping[str, Any], view: Mapping[str, str]) -> tuple[dict[str, Any], frozenset[str]]:
    """Masked copy of ``values`` and the names of the fields that were masked or removed."""
    out = dict(values)
    touched = set()
    for column, treatment in view.items():
        if column not in out:
            continue
        touched.add(column)
        if treatment == REMOVE:
            del out[column]
        elif treatment == SSN_LAST4:
            out[column] = mask_ssn_last4(out[column])
    return out, frozenset(touched)
