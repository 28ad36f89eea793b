"""Payer and trading-partner data shapes. A partner's transport credential is write-only: no output shape
carries it. Validation messages never echo values."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from claimvault.billing.providers.schemas import check_phone, check_postal_code, check_x12_text

# SBR09 claim filing indicator codes (X12 005010 code list 1032).
CLAIM_FILING_INDICATORS = frozenset(
    {"11", "12", "13", "14", "15", "16", "17", "AM", "BL", "CH", "CI", "DS", "FI", "HM", "LM", "MA", "MB", "MC"}
    | {"OF", "TV", "VA", "WC", "ZZ"}
)
_ISA_ID = re.compile(r"^[A-Z0-9 ]{1,15}$")
_PAYER_ID = re.compile(r"^[A-Z0-9]{2,80}$")


def _isa_id(value: str) -> str:
    upper = value.upper()
    if not _ISA_ID.match(upper) or not upper.strip():
        raise ValueError("an interchange or application id is 1 to 15 letters, digits or spaces")
    return upper


class PayerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    payer_id: str
    name: str = Field(min_length=1, max_length=60)
    claim_filing_indicator: str = "CI"
    timely_filing_days: int | None = Field(default=None, ge=1, le=3650)
    trading_partner_id: uuid.UUID | None = None
    address_line1: str | None = Field(default=None, max_length=55)
    city: str | None = Field(default=None, max_length=30)
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    postal_code: str | None = None

    _name = field_validator("name", "address_line1", "city")(check_x12_text)
    _zip = field_validator("postal_code")(check_postal_code)

    @field_validator("payer_id")
    @classmethod
    def _payer_id(cls, value: str) -> str:
        upper = value.upper()
        if not _PAYER_ID.match(upper):
            raise ValueError("a payer id is 2 to 80 letters and digits")
        return upper

    @field_validator("claim_filing_indicator")
    @classmethod
    def _cfi(cls, value: str) -> str:
        if value.upper() not in CLAIM_FILING_INDICATORS:
            raise ValueError("not a claim filing indicator code")
        return value.upper()


class PayerOut(BaseModel):
    id: uuid.UUID
    payer_id: str
    name: str
    claim_filing_indicator: str
    timely_filing_days: int | None = None
    trading_partner_id: uuid.UUID | None = None
    address_line1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    active: bool
    created_at: datetime


class TradingPartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=60)
    isa_sender_qualifier: str = Field(default="ZZ", pattern=r"^[0-9A-Z]{2}$")
    isa_sender_id: str
    isa_receiver_qualifier: str = Field(default="ZZ", pattern=r"^[0-9A-Z]{2}$")
    isa_receiver_id: str
    gs_sender_code: str
    gs_receiver_code: str
    usage: Literal["P", "T"] = "T"
    submitter_name: str = Field(min_length=1, max_length=60)
    submitter_id: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9]+$")
    submitter_contact_name: str = Field(min_length=1, max_length=60)
    submitter_contact_phone: str
    receiver_name: str = Field(min_length=1, max_length=60)
    receiver_id: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9]+$")
    transport: Literal["drop_dir", "sftp"] = "drop_dir"
    sftp_host: str | None = Field(default=None, max_length=255)
    sftp_port: int | None = Field(default=None, ge=1, le=65535)
    sftp_username: str | None = Field(default=None, max_length=64)
    sftp_host_key: str | None = Field(default=None, max_length=1024)
    credential: str | None = Field(default=None, max_length=8192)

    _ids = field_validator("isa_sender_id", "isa_receiver_id", "gs_sender_code", "gs_receiver_code")(_isa_id)
    _text = field_validator("name", "submitter_name", "submitter_contact_name", "receiver_name")(check_x12_text)
    _phone = field_validator("submitter_contact_phone")(check_phone)

    @model_validator(mode="after")
    def _sftp(self) -> TradingPartnerCreate:
        if self.transport == "sftp" and not (self.sftp_host and self.sftp_username and self.sftp_host_key):
            raise ValueError("an SFTP partner needs host, username and a pinned host key")
        return self


class TradingPartnerOut(BaseModel):
    id: uuid.UUID
    name: str
    isa_sender_qualifier: str
    isa_sender_id: str
    isa_receiver_qualifier: str
    isa_receiver_id: str
    gs_sender_code: str
    gs_receiver_code: str
    usage: str
    submitter_name: str
    submitter_id: str
    receiver_name: str
    receiver_id: str
    transport: str
    sftp_host: str | None = None
    sftp_port: int | None = None
    sftp_username: str | None = None
    has_credential: bool = False
    active: bool
    created_at: datetime
