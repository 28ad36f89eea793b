"""FHIR R4 AuditEvent resources (built with fhir.resources' R4B models, identical to R4 for AuditEvent) and one
``batch`` Bundle per export batch.

A batch Bundle whose entries are ``POST AuditEvent`` is what IHE ATNA's FHIR feed (ITI-20, "Record Audit Event")
accepts, so a file can be posted to an Audit Record Repository as it is. Each AuditEvent's ``id`` is the event's
UUID and each entry's ``fullUrl`` is ``urn:uuid:<id>``, so a receiver can drop a duplicate; the content is a pure
function of the events (no export time), so a batch written again is byte-for-byte the same.

Mapping: ``type`` is a DICOM audit event id (110110 Patient Record, 110114 User Authentication, 110112 Query,
110106 Export, 110101 Audit Log Used, 110113 Security Alert, 110100 Application Activity); ``subtype`` carries
ClaimVault's action code, plus the DICOM event type or FHIR REST interaction when one fits; ``action`` C/R/U/D/E;
``outcome`` 0 success, 4 denied, 8 failure; ``purposeOfEvent`` the v3 PurposeOfUse code; one agent (the user by
``urn:uuid`` identifier with roles and network address, or the system command by name); ``source`` the
ClaimVault node, with the organization as ``site``; one entity per patient (``Patient/<id>``, role Patient), one
for the affected record (its type and id, with the names of changed fields as details) and one for the log
record itself (position, chain hash, request and session ids, permission, reason, user agent, detail JSON).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle

from claimvault.security.audit.models import AuditEvent

DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = "http://hl7.org/fhir/restful-interaction"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
URI = "urn:ietf:rfc:3986"
# ClaimVault's own code systems (URNs: ClaimVault publishes no terminology server).
ACTION_SYSTEM = "urn:claimvault:audit-action"
ROLE_SYSTEM = "urn:claimvault:role"
ENTITY_SYSTEM = "urn:claimvault:entity-type"
NODE_SYSTEM = "urn:claimvault:node"

PATIENT_ENTITIES = {"patient", "patients"}  # the gate names entities by table
OUTCOMES = {"success": "0", "denied": "4", "failure": "8"}
READS = {"read", "list", "search", "query", "export", "accounting", "review_list", "verify", "disclose"}
QUERIES = {"list", "search", "query", "review_list", "accounting"}
REST_CODES = {"read": "read", "create": "create", "update": "update", "delete": "delete", "search": "search-type"}
DICOM_TYPES = {
    "110100": "Application Activity",
    "110101": "Audit Log Used",
    "110106": "Export",
    "110110": "Patient Record",
    "110112": "Query",
    "110113": "Security Alert",
    "110114": "User Authentication",
}
DICOM_SUBTYPES = {
    "login": ("110122", "Login"),
    "logout": ("110123", "Logout"),
    "break_glass": ("110127", "Emergency Override Started"),
    "membership.change": ("110136", "Security Roles Changed"),
}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _urn(value: str) -> dict[str, Any]:
    return {"identifier": {"system": URI, "value": f"urn:uuid:{value}"}}


def event_type(p: dict[str, Any]) -> str:
    action, entity = p["action"], p.get("entity_type")
    if entity == "audit_events":
        return "110101"
    if action.startswith(("login", "logout", "mfa", "password")):
        return "110114"
    if action in {"break_glass", "membership.change"} or action.startswith(("user.", "keys.", "token.")):
        return "110113"
    if action in {"export", "disclose"}:
        return "110106"
    if p.get("patient_ids") or entity in PATIENT_ENTITIES:
        return "110110"
    if action == "denied":
        return "110113"
    if action in QUERIES:
        return "110112"
    return "110100"


def action_code(action: str) -> str:
    last = action.rsplit(".", 1)[-1]
    if last in {"create", "request"}:
        return "C"
    if action in READS or last == "read":
        return "R"
    if last in {"update", "change", "reactivate", "disable", "password_change_forced"}:
        return "U"
    if last in {"delete", "shred", "revoke", "end", "terminate"}:
        return "D"
    return "E"


def _agent(p: dict[str, Any]) -> dict[str, Any]:
    agent: dict[str, Any] = {"requestor": True}
    if p["actor_type"] == "system":
        agent["type"] = {"coding": [_coding(DCM, "110150", "Application")]}
        agent["name"] = p.get("actor_name") or "system"
    else:
        agent["type"] = {"coding": [_coding(ROLE_TYPE, "humanuser", "human user")]}
        if p.get("actor_id"):
            agent["who"] = _urn(p["actor_id"])
        else:
            agent["name"] = "anonymous"
    if p.get("roles"):
        agent["role"] = [{"coding": [_coding(ROLE_SYSTEM, r)]} for r in p["roles"]]
    address = p.get("source_address")
    if address:
        try:
            ipaddress.ip_address(address)
            kind = "2"  # IP address
        except ValueError:
            kind = "1"  # machine name
        agent["network"] = {"address": address, "type": kind}
    return agent


def _details(pairs: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": k, "valueString": str(v)} for k, v in pairs.items() if v not in (None, "", {}, [])]


def _entities(event: AuditEvent, p: dict[str, Any]) -> list[dict[str, Any]]:
    patients = list(p.get("patient_ids") or [])
    fields = [{"type": "changed-field", "valueString": f} for f in p.get("fields") or []]
    entities: list[dict[str, Any]] = []
    for pid in patients:
        entity: dict[str, Any] = {
            "what": {"reference": f"Patient/{pid}"},
            "type": _coding(ENTITY_TYPE, "1", "Person"),
            "role": _coding(OBJECT_ROLE, "1", "Patient"),
        }
        if fields and p.get("entity_type") in PATIENT_ENTITIES and p.get("entity_id") == pid:
            entity["detail"], fields = fields, []
        entities.append(entity)
    entity_type, entity_id = p.get("entity_type"), p.get("entity_id")
    if entity_type and not (entity_type in PATIENT_ENTITIES and entity_id in patients):
        entity = {"type": _coding(ENTITY_SYSTEM, entity_type), "role": _coding(OBJECT_ROLE, "4", "Domain Resource")}
        if entity_id:
            entity["what"] = _urn(entity_id)
        if fields:
            entity["detail"], fields = fields, []
        entities.append(entity)
    record = {
        "position": event.position,
        "chain-hash": bytes(event.chain_hash).hex(),
        "permission": p.get("permission"),
        "reason": p.get("reason"),
        "request-id": p.get("request_id"),
        "session-id": p.get("session_id"),
        "user-agent": p.get("user_agent"),
        "detail": json.dumps(p["detail"], sort_keys=True, separators=(",", ":")) if p.get("detail") else None,
    }
    entities.append(
        {
            "what": _urn(p["id"]),
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "name": "claimvault-audit-record",
            "detail": _details(record) + fields,
        }
    )
    return entities


def audit_event_resource(event: AuditEvent, *, node: str = "claimvault") -> FhirAuditEvent:
    """The FHIR AuditEvent for one sequenced event (validated by fhir.resources on construction)."""
    p = event.payload
    type_code = event_type(p)
    subtype = [_coding(ACTION_SYSTEM, p["action"])]
    if p["action"] in DICOM_SUBTYPES:
        code, display = DICOM_SUBTYPES[p["action"]]
        subtype.append(_coding(DCM, code, display))
    if p["action"] in REST_CODES:
        subtype.append(_coding(REST, REST_CODES[p["action"]]))
    source: dict[str, Any] = {
        "observer": {"display": "ClaimVault", "identifier": {"system": NODE_SYSTEM, "value": node}},
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }
    if p.get("organization_id"):
        source["site"] = f"urn:uuid:{p['organization_id']}"
    data: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": p["id"],
        "type": _coding(DCM, type_code, DICOM_TYPES[type_code]),
        "subtype": subtype,
        "action": action_code(p["action"]),
        "recorded": p["recorded_at"],
        "outcome": OUTCOMES.get(p["outcome"], "12"),
        "agent": [_agent(p)],
        "source": source,
        "entity": _entities(event, p),
    }
    if p.get("reason"):
        data["outcomeDesc"] = p["reason"]
    if p.get("purpose_of_use"):
        data["purposeOfEvent"] = [{"coding": [_coding(PURPOSE, p["purpose_of_use"])]}]
    return FhirAuditEvent.model_validate(data)


def audit_bundle(events: Sequence[AuditEvent], *, node: str = "claimvault") -> Bundle:
    first, last = events[0].position, events[-1].position
    entries = [
        {
            "fullUrl": f"urn:uuid:{e.id}",
            "resource": audit_event_resource(e, node=node),
            "request": {"method": "POST", "url": "AuditEvent"},
        }
        for e in events
    ]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": f"claimvault-audit-{first:012d}-{last:012d}",
            "type": "batch",
            "entry": entries,
        }
    )


def render_bundle(events: Sequence[AuditEvent], *, node: str = "claimvault") -> bytes:
    """One Bundle as one line of JSON (so a stream of batches is NDJSON)."""
    return (audit_bundle(events, node=node).model_dump_json() + "\n").encode("utf-8")


def render_event(event: AuditEvent, *, node: str = "claimvault") -> str:
    return audit_event_resource(event, node=node).model_dump_json()
