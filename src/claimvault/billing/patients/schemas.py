"""Patient data shapes for service callers. Validation messages never echo values."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from claimvault.billing.patients.contact import (
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    normalize_state,
)

_NAME = Field(min_length=1, max_length=100)
CONTACT_FIELDS = ("phone", "email", "address_line1", "address_line2", "city", "state", "postal_code")


def _check_birth_date(value: date | None) -> date | None:
    if value is not None and (value > date.today() or value.year < 1900):
        raise ValueError("birth date must be in the past and after 1900")
    return value


def normalize_ssn(value: str | None) -> str | None:
    """Nine digits, with or without dashes or spaces; never-issued numbers are refused. Stored as digits."""
    if value is None:
        return None
    digits = "".join(ch for ch in value if ch not in "- ")
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        raise ValueError("an SSN has nine digits")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        raise ValueError("this SSN cannot have been issued")
    return digits


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = " ".join(value.split())
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


def normalize_mrn(value: str | None) -> str | None:
    """A medical record number: 1 to 64 letters, digits and dashes, upper case (EHRs and Synthea use UUIDs)."""
    if value is None:
        return None
    compact = value.strip().upper()
    if not 1 <= len(compact) <= 64 or not compact.isascii() or not compact.replace("-", "").isalnum():
        raise ValueError("an MRN holds 1 to 64 letters, digits and dashes")
    return compact


class _Contact(BaseModel):
    """Contact and optional demographic fields shared by create and update; every one optional, encrypted at
    rest."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    address_line1: str | None = Field(default=None, max_length=100)
    address_line2: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=60)
    state: str | None = Field(default=None, max_length=8)
    postal_code: str | None = Field(default=None, max_length=12)
    sex: Literal["M", "F", "U"] | None = None  # administrative sex as claims carry it (DMG03)
    mrn: str | None = Field(default=None, max_length=64)

    _mrn = field_validator("mrn")(normalize_mrn)
    _phone = field_validator("phone")(normalize_phone)
    _email = field_validator("email")(normalize_email)
    _lines = field_validator("address_line1", "address_line2", "city")(_strip)
    _state = field_validator("state")(normalize_state)
    _zip = field_validator("postal_code")(normalize_postal_code)


class PatientCreate(_Contact):
    given_name: str = _NAME
    family_name: str = _NAME
    birth_date: date
    ssn: str | None = Field(default=None, max_length=11)

    _names = field_validator("given_name", "family_name")(_strip)
    _dob = field_validator("birth_date")(_check_birth_date)
    _ssn = field_validator("ssn")(normalize_ssn)


class PatientUpdate(_Contact):
    """Only the fields given change. Contact fields may be set to null (removed); names and birth date may not."""

    given_name: str | None = Field(default=None, min_length=1, max_length=100)
    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: date | None = None
    ssn: str | None = Field(default=None, max_length=11)
    expected_version: int | None = Field(default=None, ge=1)

    _names = field_validator("given_name", "family_name")(_strip)
    _dob = field_validator("birth_date")(_check_birth_date)
    _ssn = field_validator("ssn")(normalize_ssn)


class PatientSearch(BaseModel):
    """Exact match through a blind index (no plaintext is queried): family name and date of birth, SSN, or phone
    (any usual format; normalised to E.164 first)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: date | None = None
    ssn: str | None = Field(default=None, max_length=11)
    phone: str | None = Field(default=None, max_length=32)
    mrn: str | None = Field(default=None, max_length=64)

    _ssn = field_validator("ssn")(normalize_ssn)
    _phone = field_validator("phone")(normalize_phone)
    _mrn = field_validator("mrn")(normalize_mrn)

    @model_validator(mode="after")
    def _one_criterion(self) -> PatientSearch:
        by_name = self.family_name is not None and self.birth_date is not None
        partial_name = (self.family_name is None) != (self.birth_date is None)
        chosen = int(by_name) + int(self.ssn is not None) + int(self.phone is not None) + int(self.mrn is not None)
        if partial_name or chosen != 1:
            raise ValueError(
                "search by family name and birth date together, by SSN alone, by phone alone or by MRN alone"
            )
        return self


class PatientOut(BaseModel):
    id: uuid.UUID
    given_name: str | None  # None only for a crypto-shredded patient
    family_name: str | None
    birth_date: date | None
    ssn: str | None = None  # shown as NNN-NN-NNNN, or masked to the last four digits for some roles
    phone: str | None = None  # E.164
    email: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    sex: str | None = None
    mrn: str | None = None
    withheld: list[str] = []  # fields this reader's roles may not see (minimum necessary), left out or masked
    row_version: int
    created_at: datetime
    updated_at: datetime
    shredded: bool = False
    merged_into_id: uuid.UUID | None = None  # a duplicate merged into this patient record (follow it)


class PatientPage(BaseModel):
    items: list[PatientOut]
    next_after: uuid.UUID | None
