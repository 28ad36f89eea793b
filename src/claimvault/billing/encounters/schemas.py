"""Encounter data shapes: a visit with its diagnoses (ICD-10-CM, positions 1-12) and service lines. Validation
here is about shape; code validity on the date of service is the scrubber's job. Messages never echo values."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ICD = re.compile(r"^[A-Z][0-9][0-9A-Z]{1,5}$")
_PROC = re.compile(r"^[A-Z0-9]{5}$")
_MOD = re.compile(r"^[A-Z0-9]{2}$")


def normalize_icd10(value: str) -> str:
    compact = value.replace(".", "").strip().upper()
    if not _ICD.match(compact):
        raise ValueError("an ICD-10-CM code is a letter, a digit and 1 to 5 more characters")
    return compact


class DiagnosisIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    code: str = Field(min_length=3, max_length=64)
    code_system: str = Field(default="icd10cm", max_length=64)

    @model_validator(mode="after")
    def _icd(self) -> DiagnosisIn:
        if self.code_system == "icd10cm":
            self.code = normalize_icd10(self.code)
        return self


class ServiceLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    procedure_code: str
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    diagnosis_pointers: list[int] = Field(min_length=1, max_length=4)
    units: Decimal = Field(default=Decimal(1), gt=0, max_digits=9, decimal_places=3)
    # Omitted: the fee schedule entry in force on the date of service times the units.
    charge: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    place_of_service: str | None = Field(default=None, pattern=r"^[0-9]{2}$")

    @field_validator("procedure_code")
    @classmethod
    def _proc(cls, value: str) -> str:
        upper = value.strip().upper()
        if not _PROC.match(upper):
            raise ValueError("a procedure code is 5 letters or digits (CPT or HCPCS)")
        return upper

    @field_validator("modifiers")
    @classmethod
    def _mods(cls, value: list[str]) -> list[str]:
        upper = [m.strip().upper() for m in value]
        if any(not _MOD.match(m) for m in upper):
            raise ValueError("a modifier is 2 letters or digits")
        return upper

    @field_validator("diagnosis_pointers")
    @classmethod
    def _pointers(cls, value: list[int]) -> list[int]:
        if any(not 1 <= p <= 12 for p in value) or len(set(value)) != len(value):
            raise ValueError("pointers are distinct positions 1 to 12")
        return value


class EncounterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    service_date: date
    service_date_to: date | None = None
    billing_provider_id: uuid.UUID
    rendering_provider_id: uuid.UUID | None = None
    referring_provider_id: uuid.UUID | None = None
    facility_id: uuid.UUID | None = None
    place_of_service: str = Field(default="11", pattern=r"^[0-9]{2}$")
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=12)
    lines: list[ServiceLineIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _shape(self) -> EncounterCreate:
        if self.service_date_to is not None and self.service_date_to < self.service_date:
            raise ValueError("service_date_to must not be before service_date")
        for line in self.lines:
            if any(p > len(self.diagnoses) for p in line.diagnosis_pointers):
                raise ValueError("a diagnosis pointer refers to a diagnosis that is not there")
        return self


class DiagnosesReplace(BaseModel):
    """A coder's assignment: the encounter's diagnoses, in pointer order, replacing what was there."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    diagnoses: list[DiagnosisIn] = Field(min_length=1, max_length=12)


class DiagnosisOut(BaseModel):
    position: int
    code: str | None
    code_system: str
    needs_coding: bool


class ServiceLineOut(BaseModel):
    line_number: int
    procedure_code: str | None
    modifiers: list[str]
    diagnosis_pointers: list[int]
    units: Decimal
    charge: Decimal
    place_of_service: str | None = None


class EncounterOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    service_date: date | None
    service_date_to: date | None = None
    billing_provider_id: uuid.UUID | None = None
    rendering_provider_id: uuid.UUID | None = None
    referring_provider_id: uuid.UUID | None = None
    facility_id: uuid.UUID | None = None
    place_of_service: str
    status: str
    diagnoses: list[DiagnosisOut] = []
    lines: list[ServiceLineOut] = []
    total_charge: Decimal
    created_at: datetime
