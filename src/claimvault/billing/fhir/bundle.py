"""Reading a FHIR R4/R4B Bundle (transaction, batch or collection, as Synthea and EHRs export them) into an
:class:`ImportPlan`, or refusing it whole with every problem found (:class:`BundleRejected`).

The bundle's shell and each resource ClaimVault reads (Patient, Coverage, Encounter, Condition, and the
Organization, Practitioner and RelatedPerson they reference) are validated with fhir.resources' R4B models;
validation errors are reduced to a location and a reason, since pydantic's own errors quote the input. Other
resources (Observations, Procedures, Claims, EOBs, ...) are only counted in ``ImportPlan.skipped``. No database
access: the importer writes the plan, and an import is all or nothing because a plan exists only for a bundle
without problems.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from claimvault.billing.fhir.clinical import map_clinical
from claimvault.billing.fhir.entries import BundleIndex, Entry, Issues, safe_id
from claimvault.billing.fhir.mapping import check_overlaps, map_coverage, map_patient
from claimvault.billing.fhir.plan import BundleRejected, CoveragePlan, ImportPlan, PatientPlan, Problem

BUNDLE_TYPES = ("transaction", "batch", "collection")
IMPORTED = ("Patient", "Coverage", "Encounter", "Condition")
REFERENCED = ("Organization", "Practitioner", "RelatedPerson")
SKIPPED_COVERAGE_STATUS = {"draft", "entered-in-error"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REASONS = {
    "missing": "required",
    "extra_forbidden": "not an element of this resource",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "literal_error": "not an allowed code",
    "enum": "not an allowed code",
    "string_pattern_mismatch": "does not match the required format",
    "too_short": "too few items or characters",
    "too_long": "too many items or characters",
    "greater_than": "out of range",
    "greater_than_equal": "out of range",
    "decimal_parsing": "must be a decimal number",
    "float_parsing": "must be a number",
}


def _reason(error: Any) -> str:
    """A reason for one pydantic error that never quotes the input (messages are only tested, never echoed)."""
    kind = str(error.get("type", ""))
    if kind in _REASONS:
        return _REASONS[kind]
    if kind == "value_error":
        msg = str(error.get("msg", "")).lower()
        if "regex" in msg or "format" in msg:
            return "does not match the FHIR format of its type"
        if "required" in msg or "missing" in msg:
            return "a required element is missing"
        return "invalid value"
    return "invalid value" if not _NAME.match(kind.replace("-", "_")) else f"invalid ({kind})"


def fhir_path(root: str, loc: Sequence[Any]) -> str:
    """``("name", 0, "given")`` under ``Patient`` as ``Patient.name[0].given``; internal loc parts are dropped."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            path += "." + (part[: -len("__ext")] if part.endswith("__ext") else part)
    return path


def _decode(data: bytes | str) -> dict[str, Any]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BundleRejected([Problem(reason=f"not UTF-8 text (byte {exc.start})", path="Bundle")]) from None
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise BundleRejected([Problem(reason=f"not JSON ({where})", path="Bundle")]) from None
    except RecursionError:
        raise BundleRejected([Problem(reason="not JSON (nested too deeply)", path="Bundle")]) from None
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "Bundle":
        raise BundleRejected([Problem(reason="not a FHIR Bundle (resourceType must be Bundle)", path="Bundle")])
    return parsed


def bundle_identity(bundle: dict[str, Any]) -> str:
    """``identifier:<system>|<value>`` when the bundle has an identifier, else a digest of its canonical JSON (the
    same bundle, however it is spaced or ordered, has the same identity)."""
    ident = bundle.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        return f"identifier:{ident.get('system') or ''}|{ident['value']}"
    canonical = json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _check_shell(bundle: dict[str, Any], issues: Issues) -> None:
    entries = bundle.get("entry")
    shell = dict(bundle)
    if isinstance(entries, list):
        shell["entry"] = [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e for e in entries
        ]
    try:
        get_fhir_model_class("Bundle").model_validate(shell)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = err["loc"]
            problem = Problem(reason=_reason(err), path=fhir_path("Bundle", loc))
            if len(loc) > 1 and loc[0] == "entry" and isinstance(loc[1], int):
                problem = Problem(reason=problem.reason, path=problem.path, entry=loc[1])
            issues.problems.append(problem)
    if bundle.get("type") not in BUNDLE_TYPES:
        issues.problem(None, "Bundle.type", "only transaction, batch and collection bundles are imported")


def _entries(bundle: dict[str, Any], issues: Issues) -> tuple[list[Entry], set[int]]:
    """Entries with a resource, and the indexes of those whose resource failed validation."""
    found: list[Entry] = []
    invalid: set[int] = set()
    raw = bundle.get("entry")
    for i, item in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(item, dict):
            continue  # reported by the shell check
        resource = item.get("resource")
        method = (item.get("request") or {}).get("method") if isinstance(item.get("request"), dict) else None
        if method in {"DELETE", "PATCH", "GET", "HEAD"}:
            issues.problems.append(
                Problem(reason="only POST and PUT entries are imported", path=f"Bundle.entry[{i}].request", entry=i)
            )
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            issues.problems.append(
                Problem(reason="an entry must carry a resource with a resourceType", path=f"Bundle.entry[{i}]", entry=i)
            )
            continue
        kind = resource["resourceType"]
        try:
            model = get_fhir_model_class(kind)
        except ValueError:
            issues.problems.append(Problem(reason="not an R4B resource type", path=f"Bundle.entry[{i}]", entry=i))
            continue
        full_url = item.get("fullUrl") if isinstance(item.get("fullUrl"), str) else None
        entry = Entry(index=i, resource_type=kind, resource=resource, full_url=full_url)
        found.append(entry)
        if kind in IMPORTED or kind in REFERENCED:
            try:
                model.model_validate(resource)
            except ValidationError as exc:
                invalid.add(i)
                for err in exc.errors(include_input=False, include_url=False):
                    issues.problem(entry, fhir_path(kind, err["loc"]), _reason(err))
    return found, invalid


def read_bundle(data: bytes | str) -> ImportPlan:
    """The import plan for one bundle, or :class:`BundleRejected` listing every problem (no values)."""
    bundle = _decode(data)
    identity = bundle_identity(bundle)
    issues = Issues()
    _check_shell(bundle, issues)
    entries, invalid = _entries(bundle, issues)
    index = BundleIndex(entries)
    for entry in index.duplicates:
        issues.problem(entry, f"Bundle.entry[{entry.index}].fullUrl", "the same resource appears twice")
    valid = [e for e in entries if e.index not in invalid]

    patients: dict[int, PatientPlan] = {}
    for entry in (e for e in valid if e.resource_type == "Patient"):
        plan = map_patient(entry, issues=issues, bundle_identity=identity)
        if plan is not None:
            patients[entry.index] = plan

    skipped: dict[str, int] = {}
    coverages: list[tuple[Entry, CoveragePlan]] = []
    for entry in (e for e in valid if e.resource_type == "Coverage"):
        if entry.resource.get("status") in SKIPPED_COVERAGE_STATUS:
            skipped["Coverage"] = skipped.get("Coverage", 0) + 1
            continue
        coverage = map_coverage(entry, index=index, patients=patients, issues=issues, bundle_identity=identity)
        if coverage is not None:
            coverages.append((entry, coverage))
    check_overlaps(coverages, issues=issues)

    clinical = map_clinical(
        index=index, patients=patients, issues=issues, bundle_identity=identity, invalid=frozenset(invalid)
    )
    for key, count in clinical.skipped.items():
        skipped[key] = skipped.get(key, 0) + count
    for entry in entries:
        if entry.resource_type not in IMPORTED:
            skipped[entry.resource_type] = skipped.get(entry.resource_type, 0) + 1

    if issues.problems:
        raise BundleRejected(sorted(issues.problems, key=lambda p: (-1 if p.entry is None else p.entry, p.path)))
    return ImportPlan(
        bundle_identity=identity,
        bundle_type=str(bundle["type"]),
        patients=tuple(patients.values()),
        coverages=tuple(plan for _, plan in coverages),
        encounters=tuple(clinical.encounters),
        diagnoses=tuple(clinical.diagnoses),
        skipped=skipped,
        warnings=tuple(issues.warnings),
    )


__all__ = ["BundleRejected", "ImportPlan", "Problem", "fhir_path", "read_bundle", "safe_id"]
