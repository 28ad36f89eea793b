"""Per-organization scan settings passed through the scanner to the recognizers.

``ScanProfile.mrn_formats`` are medical-record-number templates an organization declares: ``9`` is a digit, ``A``
an uppercase letter, ``X`` a digit or an uppercase letter, and any other character stands for itself (``MRN-9999999``,
``AA999999``). Templates, not regular expressions, so an administrator's input can never make a pattern that
backtracks without bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from claimvault.errors import ClaimVaultError

MAX_TEMPLATE = 40
MAX_FORMATS = 20


class InvalidMrnFormat(ClaimVaultError):
    code = "invalid_mrn_format"


def mrn_template_regex(template: str) -> str:
    """The regular expression (no anchors) for one MRN template; raises ``InvalidMrnFormat`` when unusable."""
    if not template or len(template) > MAX_TEMPLATE:
        raise InvalidMrnFormat(f"an MRN format must have 1 to {MAX_TEMPLATE} characters")
    if not any(ch in "9X" for ch in template):
        raise InvalidMrnFormat("an MRN format must hold at least one digit position (9 or X)")
    if not template.isprintable() or any(ch.isspace() for ch in template):
        raise InvalidMrnFormat("an MRN format may not contain spaces or control characters")
    parts = {"9": r"\d", "A": "[A-Z]", "X": "[0-9A-Z]"}
    return "".join(parts.get(ch, re.escape(ch)) for ch in template)


@dataclass(frozen=True)
class ScanProfile:
    """What an organization tells the scanner about its own identifiers."""

    mrn_formats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.mrn_formats) > MAX_FORMATS:
            raise InvalidMrnFormat(f"at most {MAX_FORMATS} MRN formats")
        for template in self.mrn_formats:
            mrn_template_regex(template)


DEFAULT_PROFILE = ScanProfile()
