"""Exporting the sequenced audit log to a SIEM or an audit repository: FHIR R4 AuditEvent bundles, JSON lines,
or RFC 5424 syslog over TLS, from a named, resumable cursor (see ``service``)."""

from claimvault.security.audit.export.cursor import FORMATS, AuditExportError
from claimvault.security.audit.export.service import ExportPlan, ExportResult, plan_export, run_export

__all__ = ["FORMATS", "AuditExportError", "ExportPlan", "ExportResult", "plan_export", "run_export"]
