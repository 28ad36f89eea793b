"""Request and response shapes for disclosures, suspensions and the accounting. Validation never echoes input."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Why PHI was disclosed (164.512 and others). Codes, not PHI.
PurposeCode = Literal[
    "public_health",
    "health_oversight",
    "judicial",
    "law_enforcement",
    "decedent",
    "organ_donation",
    "research",
    "serious_threat",
    "specialized_government",
    "workers_comp",
    "required_by_law",
    "abuse_neglect",
    "other",
]
# Disclosures recorded for completeness but exempt from the accounting (164.528(a)(1)(i)-(ix)).
ExcludedCategory = Literal[
    "treatment",
    "payment",
    "operations",
    "individual",
    "incident",
    "authorization",
    "facility_directory",
    "persons_involved",
    "national_security",
    "correctional",
    "limited_data_set",
]
AgencyKind = Literal["health_oversight", "law_enforcement"]
StatementKind = Literal["written", "oral"]
SuspensionReason = Literal["investigation", "audit", "enforcement", "other"]

ORAL_STATEMENT_MAX_DAYS = 30  # 164.528(a)(2)(ii): an oral statement suspends for at most 30 days
MAX_TEXT = 2000


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


def _today_utc() -> date:
    return datetime.now(UTC).date()


class DisclosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    disclosed_on: date
    recipient_name: str = Field(min_length=1, max_length=200)
    recipient_address: str | None = Field(default=None, max_length=500)  # "if known"
    description: str = Field(min_length=1, max_length=MAX_TEXT)
    purpose: str = Field(min_length=1, max_length=MAX_TEXT)
    purpose_code: PurposeCode
    excluded_category: ExcludedCategory | None = None
    suspension_id: uuid.UUID | None = None

    _text = field_validator("recipient_name", "recipient_address", "description", "purpose")(_clean)

    @field_validator("disclosed_on")
    @classmethod
    def _not_future(cls, value: date) -> date:
        # A day of slack for time zones ahead of UTC.
        if value > _today_utc() + timedelta(days=1) or value.year < 1990:
            raise ValueError("the disclosure date must not be in the future")
        return value

    @model_validator(mode="after")
    def _suspension_fits(self) -> DisclosureIn:
        if self.suspension_id is not None and (
            self.excluded_category is not None or self.purpose_code not in ("health_oversight", "law_enforcement")
        ):
            raise ValueError("only a health oversight or law enforcement disclosure can be suspended")
        return self


class DisclosureOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    disclosed_on: date | None  # None only once the patient was crypto-shredded
    recipient_name: str | None
    recipient_address: str | None
    description: str | None
    purpose: str | None
    purpose_code: str
    excluded_category: str | None
    suspension_id: uuid.UUID | None
    recorded_by: uuid.UUID | None
    created_at: datetime | None
    shredded: bool = False


class SuspensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    agency_name: str = Field(min_length=1, max_length=200)
    agency_kind: AgencyKind
    statement_kind: StatementKind
    reason_code: SuspensionReason
    starts_on: date
    ends_on: date
    disclosure_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)

    _text = field_validator("agency_name")(_clean)

    @model_validator(mode="after")
    def _dates(self) -> SuspensionIn:
        if self.ends_on < self.starts_on:
            raise ValueError("the suspension must end on or after its start")
        if self.statement_kind == "oral" and self.ends_on > self.starts_on + timedelta(days=ORAL_STATEMENT_MAX_DAYS):
            raise ValueError("an oral statement suspends the accounting for at most 30 days")
        return self


class SuspensionOut(BaseModel):
    id: uuid.UUID
    agency_name: str
    agency_kind: str
    statement_kind: str
    reason_code: str
    starts_on: date
    ends_on: date
    created_by: uuid.UUID | None
    created_at: datetime | None
    disclosure_ids: list[uuid.UUID] = []


class AccountingEntry(BaseModel):
    """One disclosure, or (summarized, 164.528(b)(3)) the first of several to one recipient for one purpose."""

    disclosed_on: date | None
    recipient_name: str | None
    recipient_address: str | None
    description: str | None
    purpose: str | None
    purpose_code: str
    disclosure_count: int = 1
    last_disclosed_on: date | None = None


class AccountingPeriod(BaseModel):
    start: date
    end: date


class AccountingOrganization(BaseModel):
    id: uuid.UUID
    name: str


class Accounting(BaseModel):
    title: str = "Accounting of disclosures of protected health information"
    regulation: str = "45 CFR 164.528"
    organization: AccountingOrganization
    patient_id: uuid.UUID
    period: AccountingPeriod
    generated_at: datetime
    summarized: bool
    entry_count: int
    entries: list[AccountingEntry]
