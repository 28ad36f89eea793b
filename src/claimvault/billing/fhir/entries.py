"""A bundle's entries as the importer sees them: each entry's identity (fullUrl, ResourceType/id, or its index),
how references between entries resolve (``urn:uuid`` fullUrls, relative and absolute ``Type/id``, identifiers and
conditional ``Type?identifier=system|value`` references, as Synthea writes them), and the list of problems and
warnings found while reading. Nothing here holds or prints a value other than ids and codes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from claimvault.billing.fhir.plan import Problem

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def safe_id(value: object) -> str | None:
    """A resource id as it may appear in a report: only a well-formed FHIR id (ids are not PHI)."""
    return value if isinstance(value, str) and _FHIR_ID.match(value) else None


@dataclass(frozen=True, repr=False)
class Entry:
    index: int
    resource_type: str
    resource: dict[str, Any]
    full_url: str | None

    def __repr__(self) -> str:
        return f"Entry({self.index}, {self.resource_type})"

    @property
    def resource_id(self) -> str | None:
        return safe_id(self.resource.get("id"))

    @property
    def source_key(self) -> str:
        """The resource's identity in the bundle: its fullUrl, else Type/id, else its position."""
        if self.full_url:
            return self.full_url
        if self.resource_id:
            return f"{self.resource_type}/{self.resource_id}"
        return f"entry[{self.index}]"


@dataclass
class Issues:
    """Problems (the import is refused) and warnings (a value was left out), collected all at once."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def problem(self, entry: Entry | None, path: str, reason: str) -> None:
        self.problems.append(_make(entry, path, reason))

    def warn(self, entry: Entry | None, path: str, reason: str) -> None:
        self.warnings.append(_make(entry, path, reason))


def _make(entry: Entry | None, path: str, reason: str) -> Problem:
    if entry is None:
        return Problem(reason=reason, path=path)
    return Problem(
        reason=reason,
        path=path,
        entry=entry.index,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
    )


def identifier_values(resource: dict[str, Any], system: str) -> list[str]:
    return [
        ident["value"]
        for ident in resource.get("identifier") or ()
        if ident.get("system") == system and isinstance(ident.get("value"), str)
    ]


class BundleIndex:
    """Looks entries up by the ways a reference can name them."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._by_url: dict[str, Entry] = {}
        self._by_type_id: dict[tuple[str, str], Entry] = {}
        self.duplicates: list[Entry] = []
        # (type, system, value) and (type, None, value) -> first entry with that identifier
        self._by_identifier_key: dict[tuple[str, str | None, str], Entry] = {}
        for entry in entries:
            for ident in entry.resource.get("identifier") or ():
                if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                    for system in (ident.get("system"), None):
                        key = (entry.resource_type, system, ident["value"])
                        self._by_identifier_key.setdefault(key, entry)
            keys_taken = False
            if entry.full_url:
                keys_taken |= entry.full_url in self._by_url
                self._by_url.setdefault(entry.full_url, entry)
            for type_id in self._type_ids(entry):
                keys_taken |= type_id in self._by_type_id
                self._by_type_id.setdefault(type_id, entry)
            if keys_taken:
                self.duplicates.append(entry)

    @staticmethod
    def _type_ids(entry: Entry) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        if entry.resource_id:
            found.add((entry.resource_type, entry.resource_id))
        if entry.full_url and not entry.full_url.startswith("urn:"):
            match = _TYPE_ID.search(entry.full_url)
            if match and match[1] == entry.resource_type:
                found.add((match[1], match[2]))
        return found

    def of_type(self, resource_type: str) -> list[Entry]:
        return [e for e in self.entries if e.resource_type == resource_type]

    def resolve(self, reference: dict[str, Any] | None, *, expected: str | None = None) -> Entry | None:
        """The entry a Reference points to, or None (external, contained, display-only, or dangling)."""
        if not reference:
            return None
        found = self._resolve_text(reference.get("reference"))
        if found is None and isinstance(reference.get("identifier"), dict):
            kind = reference.get("type") if isinstance(reference.get("type"), str) else expected
            found = self._by_identifier(kind, reference["identifier"])
        if found is not None and expected is not None and found.resource_type != expected:
            return None
        return found

    def _resolve_text(self, text: object) -> Entry | None:
        if not isinstance(text, str) or not text or text.startswith("#"):
            return None
        if text in self._by_url:
            return self._by_url[text]
        if "?" in text:
            resource_type, _, query = text.partition("?")
            for name, value in parse_qsl(query):
                if name == "identifier" and "|" in value:
                    system, _, ident = value.partition("|")
                    return self._by_identifier(resource_type, {"system": system, "value": ident})
            return None
        match = _TYPE_ID.search(text)
        if match:
            return self._by_type_id.get((match[1], match[2]))
        return None

    def _by_identifier(self, resource_type: str | None, identifier: dict[str, Any]) -> Entry | None:
        system, value = identifier.get("system"), identifier.get("value")
        if not isinstance(value, str) or not resource_type:
            return None
        return self._by_identifier_key.get((resource_type, system if isinstance(system, str) else None, value))


def conditional_identifier(reference: dict[str, Any] | None, resource_type: str, system: str) -> str | None:
    """The identifier value in a conditional reference such as ``Practitioner?identifier=<system>|<value>`` (how
    Synthea names practitioners and organizations exported in separate bundles), or in a logical reference."""
    if not reference:
        return None
    ident = reference.get("identifier")
    if isinstance(ident, dict) and ident.get("system") == system and isinstance(ident.get("value"), str):
        return str(ident["value"])
    text = reference.get("reference")
    if not isinstance(text, str) or not text.startswith(f"{resource_type}?"):
        return None
    for name, value in parse_qsl(text.partition("?")[2]):
        if name == "identifier" and value.startswith(f"{system}|"):
            return value.partition("|")[2] or None
    return None
