"""Patient data shapes for service callers. Validation messages never echo values."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = Field(min_length=1, max_length=100)


def _check_birth_date(value: date | None) -> date | None:
    if value is not None and (value > date.today() or value.year < 1900):
        raise ValueError("birth date must be in the past and after 1900")
    return value


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = " ".join(value.split())
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


class PatientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    given_name: str = _NAME
    family_name: str = _NAME
    birth_date: date

    _names = field_validator("given_name", "family_name")(_strip)
    _dob = field_validator("birth_date")(_check_birth_date)


class PatientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    given_name: str | None = Field(default=None, min_length=1, max_length=100)
    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: date | None = None
    expected_version: int | None = Field(default=None, ge=1)

    _names = field_validator("given_name", "family_name")(_strip)
    _dob = field_validator("birth_date")(_check_birth_date)


class PatientSearch(BaseModel):
    """Exact match on family name and date of birth (through a blind index: no plaintext is queried)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    family_name: str = _NAME
    birth_date: date


class PatientOut(BaseModel):
    id: uuid.UUID
    given_name: str
    family_name: str
    birth_date: date
    row_version: int
    created_at: datetime
    updated_at: datetime


class PatientPage(BaseModel):
    items: list[PatientOut]
    next_after: uuid.UUID | None
