"""Data model of the discovery evaluation corpus: entity types, formats, planted spans and documents."""

from __future__ import annotations

from dataclasses import dataclass

ENTITY_TYPES: tuple[str, ...] = (
    "US_SSN",
    "US_NPI",
    "MEDICARE_MBI",
    "DEA_NUMBER",
    "ABA_ROUTING",
    "BANK_ACCOUNT",
    "CREDIT_CARD",
    "MRN",
    "MEMBER_ID",
    "ICD10_CM",
    "PROCEDURE_CODE",
    "DATE_OF_BIRTH",
    "PHONE",
    "EMAIL",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "ZIP_CODE",
    "PERSON",
)
CHECKSUM_TYPES: tuple[str, ...] = ("US_SSN", "US_NPI", "MEDICARE_MBI", "DEA_NUMBER", "ABA_ROUTING", "CREDIT_CARD")
TEXT_FORMATS: tuple[str, ...] = ("text", "csv", "tsv", "json", "fhir", "x12", "hl7")
FORMATS: tuple[str, ...] = (*TEXT_FORMATS, "xlsx", "docx", "pdf", "zip")

# The MRN templates the corpus organisations use: "9" a digit, "A" an uppercase letter, "X" a digit or an
# uppercase letter, any other character literal.
MRN_FORMATS: tuple[str, ...] = ("MRN-9999999", "AA999999", "99-999999")

NEGATIVE_KINDS: tuple[str, ...] = (
    "ssn_lookalike",
    "npi_lookalike",
    "card_lookalike",
    "aba_lookalike",
    "dea_lookalike",
    "mbi_lookalike",
    "bare_9_digits",
    "bare_10_digits",
    "spaced_ssn",
    "id_in_word",
    "date_not_birth",
    "tax_id",
)


@dataclass(frozen=True)
class Planted:
    """One planted value (or hard negative, then ``type`` is its kind) and its code-point span."""

    type: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Document:
    """One corpus file; a zip archive lists its member documents (paths ``archive!member``)."""

    path: str
    format: str
    data: bytes
    entities: tuple[Planted, ...]
    negatives: tuple[Planted, ...]
    exact_offsets: bool
    members: tuple[Document, ...] = ()

    def text(self) -> str:
        """The document decoded as the scanner sees it (UTF-8, no newline translation)."""
        return self.data.decode("utf-8")

    def leaves(self) -> tuple[Document, ...]:
        """This document, or for an archive every non-archive document inside it, recursively."""
        if self.format != "zip":
            return (self,)
        return tuple(leaf for member in self.members for leaf in member.leaves())


Found = tuple[str, int, int]
