"""Encounters, their diagnoses and service lines. Anything that ties care to a patient is PHI and ciphertext:
dates of service, diagnosis codes, procedure codes and modifiers. Units, charges, positions, places of service and
the coding state stay plain so totals and workflow queries need no decryption.

A diagnosis imported in a code system we cannot bill (SNOMED CT from a FHIR bundle) is kept with its system and
``needs_coding`` set; the encounter stays unbillable until a coder assigns ICD-10-CM codes.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from claimvault.storage.base import Base, IdMixin, TenantScoped, TimestampMixin


class Encounter(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "encounters"
    __table_args__ = (
        Index("ix_encounters_org_patient", "organization_id", "patient_id"),
        Index("uq_encounters_org_import_key", "organization_id", "import_key", unique=True),
    )
    __patient_key__ = "patient_id"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    service_date: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext (date)
    service_date_to: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext (date)
    billing_provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"), default=None)
    rendering_provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"), default=None)
    referring_provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"), default=None)
    facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"), default=None)
    place_of_service: Mapped[str] = mapped_column(String(2), default="11")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | needs_coding | billed | void
    import_key: Mapped[str | None] = mapped_column(String(64), default=None)  # idempotent FHIR import
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class EncounterDiagnosis(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "encounter_diagnoses"
    __table_args__ = (Index("ix_encounter_diagnoses_org_encounter", "organization_id", "encounter_id"),)
    __patient_key__ = "patient_id"

    encounter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("encounters.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    position: Mapped[int] = mapped_column(Integer)  # 1..12: what service-line pointers refer to
    code_system: Mapped[str] = mapped_column(String(64), default="icd10cm")  # icd10cm | a FHIR system URI
    code: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext
    needs_coding: Mapped[bool] = mapped_column(Boolean, default=False)


class ServiceLine(IdMixin, TenantScoped, TimestampMixin, Base):
    __tablename__ = "service_lines"
    __table_args__ = (Index("ix_service_lines_org_encounter", "organization_id", "encounter_id"),)
    __patient_key__ = "patient_id"

    encounter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("encounters.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    line_number: Mapped[int] = mapped_column(Integer)
    procedure_code: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext: CPT or HCPCS
    modifiers: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # ciphertext: "25,59"
    diagnosis_pointers: Mapped[str] = mapped_column(String(32))  # "1,2": positions, no codes
    units: Mapped[Decimal] = mapped_column(Numeric(9, 3), default=Decimal(1))
    charge: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    place_of_service: Mapped[str | None] = mapped_column(String(2), default=None)
