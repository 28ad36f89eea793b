"""Provider and facility data shapes. Validation messages never echo values."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from claimvault.discovery.validators import npi_valid

_TAXONOMY = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")
_STATE = re.compile(r"^[A-Z]{2}$")


def check_npi(value: str | None) -> str | None:
    if value is None:
        return None
    if not npi_valid(value):
        raise ValueError("an NPI is 10 digits with a valid check digit")
    return value


def check_postal_code(value: str | None) -> str | None:
    if value is None:
        return None
    digits = value.replace("-", "").replace(" ", "")
    if not digits.isdigit() or len(digits) not in (5, 9):
        raise ValueError("a ZIP code is 5 or 9 digits")
    return digits


def check_phone(value: str | None) -> str | None:
    if value is None:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise ValueError("a phone number has 10 digits")
    return digits


def check_x12_text(value: str | None) -> str | None:
    """Free text that goes into X12: printable ASCII without the delimiters we use."""
    if value is None:
        return None
    compact = " ".join(value.split())
    if not compact or not compact.isascii() or any(ch in compact for ch in "~*:^|>"):
        raise ValueError("letters, digits, spaces and simple punctuation only")
    return compact.upper()


class BusinessAddress(BaseModel):
    address_line1: str | None = Field(default=None, max_length=55)
    address_line2: str | None = Field(default=None, max_length=55)
    city: str | None = Field(default=None, max_length=30)
    state: str | None = None
    postal_code: str | None = None

    _text = field_validator("address_line1", "address_line2", "city")(check_x12_text)
    _zip = field_validator("postal_code")(check_postal_code)

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is not None and not _STATE.match(value.upper()):
            raise ValueError("a state is two letters")
        return None if value is None else value.upper()


class _AddressOut(BaseModel):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class ProviderCreate(BusinessAddress):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    npi: str
    entity: Literal["person", "organization"]
    organization_name: str | None = Field(default=None, max_length=60)
    family_name: str | None = Field(default=None, max_length=60)
    given_name: str | None = Field(default=None, max_length=35)
    taxonomy: str | None = None
    can_bill: bool = False
    can_render: bool = True
    can_refer: bool = True
    tax_id: str | None = None
    tax_id_kind: Literal["EI", "SY"] = "EI"
    contact_name: str | None = Field(default=None, max_length=60)
    contact_phone: str | None = None

    _npi = field_validator("npi")(check_npi)
    _names = field_validator("organization_name", "family_name", "given_name", "contact_name")(check_x12_text)
    _phone = field_validator("contact_phone")(check_phone)

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy(cls, value: str | None) -> str | None:
        if value is not None and not _TAXONOMY.match(value.upper()):
            raise ValueError("a taxonomy code is 10 characters ending in X")
        return None if value is None else value.upper()

    @field_validator("tax_id")
    @classmethod
    def _tax_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace("-", "")
        if not digits.isdigit() or len(digits) != 9:
            raise ValueError("a tax id is 9 digits")
        return digits

    @model_validator(mode="after")
    def _names_for_entity(self) -> ProviderCreate:
        if self.entity == "organization" and not self.organization_name:
            raise ValueError("an organization provider needs organization_name")
        if self.entity == "person" and not (self.family_name and self.given_name):
            raise ValueError("a person provider needs given_name and family_name")
        if self.can_bill and not self.tax_id:
            raise ValueError("a billing provider needs a tax id")
        return self


class ProviderOut(_AddressOut):
    id: uuid.UUID
    npi: str
    entity: str
    organization_name: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    taxonomy: str | None = None
    can_bill: bool
    can_render: bool
    can_refer: bool
    tax_id: str | None = None
    tax_id_kind: str
    contact_name: str | None = None
    contact_phone: str | None = None
    active: bool
    row_version: int
    created_at: datetime
    withheld: list[str] = []


class FacilityCreate(BusinessAddress):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=60)
    npi: str | None = None
    place_of_service: str | None = Field(default=None, pattern=r"^[0-9]{2}$")

    _npi = field_validator("npi")(check_npi)
    _name = field_validator("name")(check_x12_text)


class FacilityOut(_AddressOut):
    id: uuid.UUID
    name: str
    npi: str | None = None
    place_of_service: str | None = None
    active: bool
    created_at: datetime
