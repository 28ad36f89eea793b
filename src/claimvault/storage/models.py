"""Imports every model module so that the metadata is complete (for migrations and schema checks)."""

from __future__ import annotations

import claimvault.accounts.lifecycle_models
import claimvault.accounts.models
import claimvault.billing.claims.models
import claimvault.billing.codesets.models
import claimvault.billing.coverage.models
import claimvault.billing.eligibility.models
import claimvault.billing.encounters.models
import claimvault.billing.fees.models
import claimvault.billing.patient_payments.models
import claimvault.billing.patients.models
import claimvault.billing.payers.models
import claimvault.billing.payments.models
import claimvault.billing.providers.models
import claimvault.billing.remittance.models
import claimvault.billing.statements.models
import claimvault.discovery.models
import claimvault.monitoring.models
import claimvault.privacy.disclosures.models
import claimvault.security.approvals.models
import claimvault.security.audit.export.models
import claimvault.security.audit.models
import claimvault.security.authorization.models
import claimvault.security.break_glass.models
import claimvault.security.crypto.models
import claimvault.security.mfa.models
import claimvault.security.models
import claimvault.storage.blobs.models  # noqa: F401
from claimvault.storage.base import Base, TenantScoped

metadata = Base.metadata


def tenant_scoped_tables() -> list[str]:
    """Names of the protected tables (row-level security applies to each of them on PostgreSQL)."""
    return sorted(str(m.local_table.description) for m in Base.registry.mappers if issubclass(m.class_, TenantScoped))
