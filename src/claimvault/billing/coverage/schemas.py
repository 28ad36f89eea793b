"""Coverage data shapes. Validation messages never echo values."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Rank = Literal["primary", "secondary", "tertiary"]
Relationship = Literal["self", "spouse", "child", "other"]
Status = Literal["active", "inactive"]
RANKS: tuple[str, ...] = ("primary", "secondary", "tertiary")
# X12 837/270 individual relationship codes (loop 2000B/2000C SBR02 / PAT01).
X12_RELATIONSHIP = {"self": "18", "spouse": "01", "child": "19", "other": "G8"}
SUBSCRIBER_FIELDS = ("subscriber_given_name", "subscriber_family_name", "subscriber_birth_date")


def normalize_member_id(value: str | None) -> str | None:
    """Upper case, without spaces or dashes; letters and digits only (X12-safe)."""
    if value is None:
        return None
    compact = "".join(ch for ch in value if ch not in " -").upper()
    if not 2 <= len(compact) <= 80 or not compact.isascii() or not compact.isalnum():
        raise ValueError("a member id holds 2 to 80 letters and digits")
    return compact


def _normalize_group(value: str | None) -> str | None:
    if value is None:
        return None
    compact = " ".join(value.split()).upper()
    if not compact or not compact.isascii() or any(ch in compact for ch in "~*:^|"):
        raise ValueError("a group number holds letters, digits and simple punctuation")
    return compact


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = " ".join(value.split())
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


def _check_birth_date(value: date | None) -> date | None:
    if value is not None and (value > date.today() or value.year < 1900):
        raise ValueError("birth date must be in the past and after 1900")
    return value


def check_coverage_shape(
    *, relationship: str, subscriber_given: bool, effective_from: date, effective_to: date | None
) -> None:
    """Rules on the whole coverage (used for a new one and for the merged state of an update)."""
    if effective_to is not None and effective_to < effective_from:
        raise ValueError("effective_to must not be before effective_from")
    if relationship == "self" and subscriber_given:
        raise ValueError("subscriber details are given only when the subscriber is not the patient")


class CoverageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    rank: Rank
    payer_name: str = Field(min_length=1, max_length=120)
    payer_id: uuid.UUID | None = None  # a configured payer: needed before the coverage can be billed
    member_id: str = Field(min_length=1, max_length=100)
    group_number: str | None = Field(default=None, max_length=50)
    subscriber_relationship: Relationship = "self"
    subscriber_given_name: str | None = Field(default=None, min_length=1, max_length=100)
    subscriber_family_name: str | None = Field(default=None, min_length=1, max_length=100)
    subscriber_birth_date: date | None = None
    effective_from: date
    effective_to: date | None = None

    _payer = field_validator("payer_name")(_strip)
    _member = field_validator("member_id")(normalize_member_id)
    _group = field_validator("group_number")(_normalize_group)
    _names = field_validator("subscriber_given_name", "subscriber_family_name")(_strip)
    _dob = field_validator("subscriber_birth_date")(_check_birth_date)

    @model_validator(mode="after")
    def _whole(self) -> CoverageCreate:
        given = [getattr(self, f) is not None for f in SUBSCRIBER_FIELDS]
        check_coverage_shape(
            relationship=self.subscriber_relationship,
            subscriber_given=any(given),
            effective_from=self.effective_from,
            effective_to=self.effective_to,
        )
        if self.subscriber_relationship != "self" and not all(given):
            raise ValueError("a subscriber other than the patient needs given name, family name and birth date")
        return self


class CoverageUpdate(BaseModel):
    """Only the fields given change; ``effective_to``, ``group_number`` and the subscriber fields may be cleared
    with null. The merged coverage is validated as a whole."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    rank: Rank | None = None
    status: Status | None = None
    payer_name: str | None = Field(default=None, min_length=1, max_length=120)
    payer_id: uuid.UUID | None = None
    member_id: str | None = Field(default=None, min_length=1, max_length=100)
    group_number: str | None = Field(default=None, max_length=50)
    subscriber_relationship: Relationship | None = None
    subscriber_given_name: str | None = Field(default=None, min_length=1, max_length=100)
    subscriber_family_name: str | None = Field(default=None, min_length=1, max_length=100)
    subscriber_birth_date: date | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    expected_version: int | None = Field(default=None, ge=1)

    _payer = field_validator("payer_name")(_strip)
    _member = field_validator("member_id")(normalize_member_id)
    _group = field_validator("group_number")(_normalize_group)
    _names = field_validator("subscriber_given_name", "subscriber_family_name")(_strip)
    _dob = field_validator("subscriber_birth_date")(_check_birth_date)


class CoverageSearch(BaseModel):
    """Exact member-id match through the blind index (any spacing, dashes or case)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    member_id: str = Field(min_length=1, max_length=100)

    _member = field_validator("member_id")(normalize_member_id)


class CoverageOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    rank: str
    status: str
    payer_name: str
    payer_id: uuid.UUID | None = None
    member_id: str | None = None  # None when withheld from this reader, or shredded
    group_number: str | None = None
    subscriber_relationship: str
    subscriber_relationship_code: str  # X12
    subscriber_given_name: str | None = None
    subscriber_family_name: str | None = None
    subscriber_birth_date: date | None = None
    effective_from: date
    effective_to: date | None
    withheld: list[str] = []  # fields this reader's roles may not see (minimum necessary)
    row_version: int
    created_at: datetime
    updated_at: datetime
    shredded: bool = False
