"""Claim data shapes. Findings and reasons carry rule ids, field paths and codes, never values."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ClaimCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    encounter_id: uuid.UUID
    rank: Literal["primary", "secondary", "tertiary"] = "primary"


class ClaimTransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    to_status: Literal["ready", "draft", "appealed", "closed"]
    reason: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9 .,:;()/_-]*$")


class ClaimCorrection(BaseModel):
    """A new version: ``1`` (a corrected original after a rejection), ``7`` replacement or ``8`` void."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    frequency_code: Literal["1", "7", "8"]
    original_reference: str | None = Field(default=None, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9-]+$")


class FindingOut(BaseModel):
    rule: str
    severity: str
    message: str
    fix: str
    field: str | None = None


class TransitionOut(BaseModel):
    from_status: str | None
    to_status: str
    source: str
    actor: str
    reason: str | None = None
    at: datetime


class ClaimOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    encounter_id: uuid.UUID
    coverage_id: uuid.UUID
    payer_id: uuid.UUID
    rank: str
    control_number: str
    family_id: uuid.UUID
    version: int
    frequency_code: str
    original_reference: str | None = None
    payer_claim_number: str | None = None
    status: str
    total_charge: Decimal
    scrubbed_at: datetime | None = None
    findings: list[FindingOut] = []
    status_reasons: list[dict[str, object]] = []
    x12_file_id: uuid.UUID | None = None
    created_at: datetime
    withheld: list[str] = []


class ScrubResultOut(BaseModel):
    claim_id: uuid.UUID
    control_number: str
    status: str
    errors: int
    warnings: int
    findings: list[FindingOut]
