"""Eligibility result shapes and the AAA reject reason codes (005010X279A1) we can name in plain words."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

Status = Literal["active", "inactive", "rejected", "error", "pending"]

# AAA03: why a payer could not answer (the code list of 005010X279A1, the reasons a practice meets most).
REJECT_REASONS = {
    "15": "Required application data missing",
    "41": "Authorization/access restrictions",
    "42": "Unable to respond at current time",
    "43": "Invalid/missing provider identification",
    "51": "Provider not on file",
    "57": "Invalid/missing date(s) of service",
    "58": "Invalid/missing date of birth",
    "62": "Date of service not within allowable inquiry period",
    "63": "Date of service in future",
    "64": "Invalid/missing patient id",
    "65": "Invalid/missing patient name",
    "67": "Patient not found",
    "71": "Patient birth date does not match that for the patient on the database",
    "72": "Invalid/missing subscriber/insured id",
    "73": "Invalid/missing subscriber/insured name",
    "75": "Subscriber/insured not found",
    "76": "Duplicate subscriber/insured id number",
    "78": "Subscriber/insured not in group/plan identified",
}

# error_code: why a check ended in status "error" (nothing from the payer was kept).
ERROR_CODES = {
    "transport_failed": "the clearinghouse could not be reached or did not answer",
    "response_invalid": "the 271 answer failed X12 validation",
    "response_unmatched": "no answer in the 271 carried our trace number",
    "coverage_not_stated": "the payer answered without saying whether coverage is active",
}


class EligibilityResultOut(BaseModel):
    """One stored check. Amounts are the plan's figures for service type 30 in network; ``coinsurance_percent``
    is 0-100. ``withheld`` lists fields this reader may not see; ``shredded`` is set once the patient's key is
    destroyed (the encrypted fields then read as None)."""

    id: uuid.UUID
    patient_id: uuid.UUID
    coverage_id: uuid.UUID
    service_date: date | None
    trace_number: str
    status: Status
    error_code: str | None = None
    reject_reasons: list[str] = []
    plan_name: str | None = None
    copay: Decimal | None = None
    deductible: Decimal | None = None
    deductible_remaining: Decimal | None = None
    coinsurance_percent: Decimal | None = None
    out_of_pocket: Decimal | None = None
    response_blob_id: uuid.UUID | None = None
    created_by: uuid.UUID | None = None
    created_at: datetime
    withheld: list[str] = []
    shredded: bool = False

    def __repr__(self) -> str:
        return f"EligibilityResultOut(id={self.id}, status={self.status!r})"

    __str__ = __repr__


def describe_reason(code: str) -> str:
    return REJECT_REASONS.get(code, "see the payer's AAA code list")
