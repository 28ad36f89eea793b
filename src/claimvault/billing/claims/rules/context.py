"""What a scrub knows besides the claim: today, the code sets, the other live claims (by fingerprint, for
duplicate detection) and the submission date; plus the claim fingerprint itself and the ``Issue`` a rule check
yields (a field path and a message; the rule table adds id, severity and fix)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.codesets.interfaces import CodeLookup


class Issue(NamedTuple):
    """One problem a rule check found: the dotted field path and a message naming fields, never values."""

    field: str | None
    message: str


@dataclass(frozen=True)
class ScrubContext:
    """``existing_claims`` maps a claim fingerprint to the ids of other *live* claims with that fingerprint (the
    claims service decides what "live" means: not voided, not denied-and-closed). The claim's own id is ignored
    there, and so is ``replaces`` (the id of the claim a frequency 7/8 claim replaces or voids) when the claim is a
    replacement or a void. ``submission_date`` defaults to ``today``."""

    today: date
    codes: CodeLookup
    existing_claims: Mapping[str, Collection[uuid.UUID]] = field(default_factory=dict)
    submission_date: date | None = None
    replaces: uuid.UUID | None = None

    @property
    def submitted_on(self) -> date:
        return self.submission_date or self.today


def claim_fingerprint(claim: ClaimDocument) -> str:
    """A stable digest over patient id, payer id, billing NPI and the sorted (procedure code, sorted modifiers,
    service date) of the lines. Raises ``ValueError`` when the claim has no ``patient_id`` (claims without one
    would all collide)."""
    if claim.patient_id is None:
        raise ValueError("claim_fingerprint needs the claim's patient_id.")
    lines = sorted(
        (line.procedure_code.strip().upper(), sorted(m.strip().upper() for m in line.modifiers), str(line.service_date))
        for line in claim.lines
    )
    canonical = json.dumps(
        [
            str(claim.patient_id),
            claim.subscriber.payer.payer_id.strip().upper(),
            claim.billing_provider.npi.strip(),
            lines,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
