"""FHIR Patient and Coverage resources (already validated against R4B) to import records, through the same
normalisation and validation as ``PatientCreate`` and ``CoverageCreate``. A required value that cannot be used
is a problem (the bundle is refused); an optional one (an SSN that cannot have been issued, as Synthea's 999-
numbers, a phone or ZIP that is not valid) is left out with a warning. Messages name elements, never values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from claimvault.billing.coverage.schemas import CoverageCreate, normalize_member_id
from claimvault.billing.fhir.entries import BundleIndex, Entry, Issues, conditional_identifier, identifier_values
from claimvault.billing.fhir.plan import (
    COVERAGE_CREATE_FIELDS,
    CoveragePlan,
    PatientPlan,
    Rank,
    Relationship,
    Sex,
    import_key,
)
from claimvault.billing.patients.contact import (
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    normalize_state,
)
from claimvault.billing.patients.schemas import PatientCreate, normalize_mrn, normalize_ssn

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
GENDER: dict[str, Sex] = {"male": "M", "female": "F"}
RANKS: dict[int, Rank] = {1: "primary", 2: "secondary", 3: "tertiary"}
# subscriber-relationship codes ClaimVault distinguishes; the rest (parent, common, injured) are "other".
RELATIONSHIPS: dict[str, Relationship] = {"self": "self", "spouse": "spouse", "child": "child", "other": "other"}
_US = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}
_STATE_NAMES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA", "COLORADO": "CO",
    "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS",
    "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI",
    "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR", "PENNSYLVANIA": "PA",
    "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD", "TENNESSEE": "TN", "TEXAS": "TX",
    "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI",
    "WYOMING": "WY", "PUERTO RICO": "PR", "GUAM": "GU", "VIRGIN ISLANDS": "VI", "AMERICAN SAMOA": "AS",
    "NORTHERN MARIANA ISLANDS": "MP",
}  # fmt: skip

_PATIENT_PATHS = {
    "given_name": "Patient.name.given",
    "family_name": "Patient.name.family",
    "birth_date": "Patient.birthDate",
    "ssn": "Patient.identifier",
    "mrn": "Patient.identifier",
    "sex": "Patient.gender",
    "phone": "Patient.telecom",
    "email": "Patient.telecom",
    "address_line1": "Patient.address.line",
    "address_line2": "Patient.address.line",
    "city": "Patient.address.city",
    "state": "Patient.address.state",
    "postal_code": "Patient.address.postalCode",
}
_COVERAGE_PATHS = {
    "rank": "Coverage.order",
    "payer_name": "Coverage.payor",
    "member_id": "Coverage.subscriberId",
    "group_number": "Coverage.class",
    "subscriber_relationship": "Coverage.relationship",
    "subscriber_given_name": "Coverage.subscriber",
    "subscriber_family_name": "Coverage.subscriber",
    "subscriber_birth_date": "Coverage.subscriber",
    "effective_from": "Coverage.period.start",
    "effective_to": "Coverage.period.end",
}


def full_date(value: object) -> date | None:
    """The calendar date of a FHIR date or dateTime (as written, in its own time zone); None when partial."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def has_code(concept: dict[str, Any] | None, code: str, system: str | None = None) -> bool:
    return any(
        c.get("code") == code and (system is None or c.get("system") == system)
        for c in (concept or {}).get("coding") or ()
    )


def _optional(
    issues: Issues, entry: Entry, path: str, value: str | None, normalize: Callable[[str | None], str | None]
) -> str | None:
    """A normalised optional value, or None with a warning when it cannot be used."""
    try:
        return normalize(value)
    except ValueError as exc:
        issues.warn(entry, path, f"left out: {exc}")
        return None


def _checked(
    issues: Issues, entry: Entry, schema: type[BaseModel], data: dict[str, Any], paths: dict[str, str]
) -> BaseModel | None:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            name = str(err["loc"][0]) if err["loc"] else ""
            issues.problem(entry, paths.get(name, paths.get("", entry.resource_type)), err["msg"])
        return None


def _human_name(resource: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    names = [(i, n) for i, n in enumerate(resource.get("name") or ()) if n.get("use") not in {"old", "anonymous"}]
    official = [pair for pair in names if pair[1].get("use") == "official"]
    chosen = official or names
    return chosen[0] if chosen else None


def _telecom(resource: dict[str, Any], system: str) -> tuple[int, str] | None:
    for i, point in enumerate(resource.get("telecom") or ()):
        if point.get("system") == system and point.get("use") != "old" and isinstance(point.get("value"), str):
            return i, point["value"]
    return None


def _state(value: str | None) -> str | None:
    if value is None:
        return None
    return normalize_state(_STATE_NAMES.get(" ".join(value.upper().split()), value))


def _line(value: str | None) -> str | None:
    if value is not None and (not value.strip() or len(value) > 100):
        raise ValueError("an address line holds 1 to 100 characters")
    return None if value is None else " ".join(value.split())


def _address(issues: Issues, entry: Entry, resource: dict[str, Any]) -> dict[str, str | None]:
    addresses = [(i, a) for i, a in enumerate(resource.get("address") or ()) if a.get("use") not in {"old", "billing"}]
    home = [pair for pair in addresses if pair[1].get("use") == "home"] or addresses
    empty: dict[str, str | None] = {}
    if not home:
        return empty
    i, addr = home[0]
    base = f"Patient.address[{i}]"
    country = addr.get("country")
    if country is not None and " ".join(country.upper().split()) not in _US:
        issues.warn(entry, f"{base}.country", "left out: only US addresses are imported")
        return empty
    lines = addr.get("line") or []
    city = addr.get("city")
    if city is not None and len(city) > 60:
        issues.warn(entry, f"{base}.city", "left out: a city name holds at most 60 characters")
        city = None
    return {
        "address_line1": _optional(issues, entry, f"{base}.line[0]", lines[0] if lines else None, _line),
        "address_line2": _optional(issues, entry, f"{base}.line[1]", lines[1] if len(lines) > 1 else None, _line),
        "city": " ".join(city.split()) if city else None,
        "state": _optional(issues, entry, f"{base}.state", addr.get("state"), _state),
        "postal_code": _optional(issues, entry, f"{base}.postalCode", addr.get("postalCode"), normalize_postal_code),
    }


def map_patient(entry: Entry, *, issues: Issues, bundle_identity: str) -> PatientPlan | None:
    resource = entry.resource
    picked = _human_name(resource)
    given = family = middle = None
    if picked is None:
        issues.problem(entry, "Patient.name", "a name with family and given parts is required")
    else:
        i, name = picked
        givens = [g for g in name.get("given") or () if isinstance(g, str) and g.strip()]
        family = name.get("family")
        if not givens:
            issues.problem(entry, f"Patient.name[{i}].given", "required")
        if not isinstance(family, str) or not family.strip():
            issues.problem(entry, f"Patient.name[{i}].family", "required")
        given, middle = (givens[0], " ".join(givens[1:]) or None) if givens else (None, None)
    birth = full_date(resource.get("birthDate"))
    if birth is None:
        issues.problem(entry, "Patient.birthDate", "a full date of birth is required")
    ssn = mrn = None
    for i, ident in enumerate(resource.get("identifier") or ()):
        value = ident.get("value")
        if not isinstance(value, str):
            continue
        if ident.get("system") == SSN_SYSTEM and ssn is None:
            ssn = _optional(issues, entry, f"Patient.identifier[{i}]", value, normalize_ssn)
        elif has_code(ident.get("type"), "MR") and mrn is None:
            mrn = _optional(issues, entry, f"Patient.identifier[{i}]", value, normalize_mrn)
    phone = _telecom(resource, "phone")
    email = _telecom(resource, "email")
    data: dict[str, Any] = {
        "given_name": given,
        "family_name": family,
        "birth_date": birth,
        "ssn": ssn,
        "mrn": mrn,
        "sex": GENDER.get(str(resource.get("gender")), "U"),
        "phone": _optional(issues, entry, f"Patient.telecom[{phone[0]}]", phone[1], normalize_phone) if phone else None,
        "email": _optional(issues, entry, f"Patient.telecom[{email[0]}]", email[1], normalize_email) if email else None,
        **_address(issues, entry, resource),
    }
    if given is None or family is None or birth is None:
        return None
    checked = _checked(issues, entry, PatientCreate, data, _PATIENT_PATHS)
    if not isinstance(checked, PatientCreate):
        return None
    return PatientPlan(
        key=import_key(bundle_identity, entry.source_key),
        source_key=entry.source_key,
        entry=entry.index,
        middle_name=middle,
        **checked.model_dump(),
    )


def _member_id(resource: dict[str, Any]) -> tuple[str, str] | None:
    if isinstance(resource.get("subscriberId"), str):
        return "Coverage.subscriberId", resource["subscriberId"]
    idents = [(i, x) for i, x in enumerate(resource.get("identifier") or ()) if isinstance(x.get("value"), str)]
    typed = [(i, x) for i, x in idents if has_code(x.get("type"), "MB")]
    for i, ident in typed or idents:
        return f"Coverage.identifier[{i}]", ident["value"]
    return None


def _group(issues: Issues, entry: Entry, resource: dict[str, Any]) -> str | None:
    for i, cls in enumerate(resource.get("class") or ()):
        if has_code(cls.get("type"), "group"):
            value = cls.get("value")
            if isinstance(value, str) and value.strip() and len(value) <= 50:
                return " ".join(value.split()).upper()
            issues.warn(entry, f"Coverage.class[{i}].value", "left out: a group number holds 1 to 50 characters")
    return None


def _payer(index: BundleIndex, resource: dict[str, Any]) -> tuple[str | None, str | None]:
    """The payer's name and NPI: from the first payor that names an Organization in the bundle, or a display."""
    for ref in resource.get("payor") or ():
        org = index.resolve(ref, expected="Organization")
        if org is not None and isinstance(org.resource.get("name"), str):
            npis = identifier_values(org.resource, NPI_SYSTEM)
            return org.resource["name"], npis[0] if npis else None
        if isinstance(ref.get("display"), str) and ref["display"].strip():
            return ref["display"], conditional_identifier(ref, "Organization", NPI_SYSTEM)
    return None, None


def _relationship(resource: dict[str, Any]) -> Relationship | None:
    concept = resource.get("relationship")
    if not concept:
        return None
    for coding in concept.get("coding") or ():
        if coding.get("system") in (RELATIONSHIP_SYSTEM, None) and isinstance(coding.get("code"), str):
            return RELATIONSHIPS.get(coding["code"], "other")
    return "other"


def map_coverage(
    entry: Entry, *, index: BundleIndex, patients: dict[int, PatientPlan], issues: Issues, bundle_identity: str
) -> CoveragePlan | None:
    """``patients`` maps Patient entry indexes to their plans. A dangling beneficiary is a problem."""
    resource = entry.resource
    start = len(issues.problems)
    beneficiary = index.resolve(resource.get("beneficiary"), expected="Patient")
    patient = patients.get(beneficiary.index) if beneficiary else None
    if beneficiary is None:
        issues.problem(entry, "Coverage.beneficiary", "does not resolve to a Patient in this bundle")
    payer_name, payer_npi = _payer(index, resource)
    if payer_name is None:
        issues.problem(entry, "Coverage.payor", "needs an Organization in this bundle, or a display, for the payer")
    member = _member_id(resource)
    if member is None:
        issues.problem(entry, "Coverage.subscriberId", "a member id (subscriberId or identifier) is required")
    else:
        try:
            normalize_member_id(member[1])
        except ValueError as exc:
            issues.problem(entry, member[0], str(exc))
    order = resource.get("order")
    rank = RANKS.get(order if isinstance(order, int) else 1)
    if rank is None:
        issues.problem(entry, "Coverage.order", "only orders 1 to 3 (primary to tertiary) are supported")
    period = resource.get("period") or {}
    effective_from = full_date(period.get("start"))
    if effective_from is None:
        issues.problem(entry, "Coverage.period.start", "a full start date is required")
    subscriber = index.resolve(resource.get("subscriber"))
    relationship = _relationship(resource)
    if relationship is None:
        relationship = "self" if subscriber is None or subscriber is beneficiary else "other"
    person: dict[str, Any] = {}
    if relationship != "self":
        if subscriber is None or subscriber.resource_type not in {"Patient", "RelatedPerson"}:
            issues.problem(
                entry, "Coverage.subscriber", "a subscriber other than the patient must be a Patient or RelatedPerson"
            )
        else:
            picked = _human_name(subscriber.resource)
            name = picked[1] if picked else {}
            givens = name.get("given") or [None]
            person = {
                "subscriber_given_name": givens[0],
                "subscriber_family_name": name.get("family"),
                "subscriber_birth_date": full_date(subscriber.resource.get("birthDate")),
            }
    if len(issues.problems) > start or patient is None or member is None:
        return None
    data = {
        "rank": rank,
        "payer_name": payer_name,
        "member_id": member[1],
        "group_number": _group(issues, entry, resource),
        "subscriber_relationship": relationship,
        "effective_from": effective_from,
        "effective_to": full_date(period.get("end")),
        **person,
    }
    checked = _checked(issues, entry, CoverageCreate, data, _COVERAGE_PATHS)
    if not isinstance(checked, CoverageCreate):
        return None
    return CoveragePlan(
        key=import_key(bundle_identity, entry.source_key),
        source_key=entry.source_key,
        patient_key=patient.key,
        status="inactive" if resource.get("status") == "cancelled" else "active",
        payer_npi=payer_npi,
        entry=entry.index,
        **checked.model_dump(include=set(COVERAGE_CREATE_FIELDS)),
    )


def check_overlaps(coverages: list[tuple[Entry, CoveragePlan]], *, issues: Issues) -> None:
    """ClaimVault keeps at most one active coverage per rank and patient on any day: overlapping ones in one
    bundle are a problem (named on the later entry)."""
    seen: list[tuple[Entry, CoveragePlan]] = []
    for entry, plan in coverages:
        if plan.status != "active":
            continue
        for other_entry, other in seen:
            if other.patient_key != plan.patient_key or other.rank != plan.rank:
                continue
            end_a, end_b = plan.effective_to or date.max, other.effective_to or date.max
            if plan.effective_from <= end_b and other.effective_from <= end_a:
                issues.problem(
                    entry,
                    "Coverage.period",
                    f"overlaps the {plan.rank} coverage of the same patient in entry[{other_entry.index}]",
                )
                break
        seen.append((entry, plan))
