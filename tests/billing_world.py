"""A small billing set-up built through the real services and the PHI gate: a trading partner, a payer linked to
it, a billing organization and a rendering clinician, a patient with primary coverage, and coded encounters.
Synthetic, seeded values only."""

from __future__ import annotations

import random
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from claimvault.accounts.services import create_organization
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage
from claimvault.billing.encounters.schemas import DiagnosisIn, EncounterCreate, ServiceLineIn
from claimvault.billing.encounters.service import create_encounter
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.billing.payers.schemas import PayerCreate, TradingPartnerCreate
from claimvault.billing.payers.service import add_payer, add_trading_partner
from claimvault.billing.providers.schemas import ProviderCreate
from claimvault.billing.providers.service import add_provider
from claimvault.runtime import Runtime
from claimvault.security.context import SystemContext, system_context
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.permissions import Permission
from tests.claim_documents import make_npi

SERVICE_DATE = date(2026, 6, 15)  # inside the built-in ICD-10-CM release (FY2026)
SCRUB_DAY = date(2026, 7, 1)


@dataclass
class BillingWorld:
    runtime: Runtime
    org_id: uuid.UUID
    payer_id: uuid.UUID
    payer_code: str
    partner_id: uuid.UUID
    billing_provider_id: uuid.UUID
    rendering_provider_id: uuid.UUID

    def ctx(self, command: str = "test") -> SystemContext:
        return system_context(command, organization_id=self.org_id, permissions=set(Permission))

    def gate(self, command: str = "test") -> AbstractContextManager[PHIGate]:
        return open_gate(db=self.runtime.db, keys=self.runtime.keys, ctx=self.ctx(command))

    def patient(
        self, *, family: str, dx: tuple[str, ...] = ("E119", "I10"), seed: int = 1
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """A patient with primary coverage and one coded encounter; returns (patient id, encounter id)."""
        rng = random.Random(seed)
        with self.gate() as gate:
            patient = create_patient(
                gate=gate,
                data=PatientCreate(
                    given_name="Ada",
                    family_name=family,
                    birth_date=date(1970, 1, 1 + seed % 27),
                    sex="F",
                    address_line1="12 Elm Street",
                    city="Springfield",
                    state="IL",
                    postal_code="62701",
                ),
                confirm_new=True,
            )
            add_coverage(
                gate=gate,
                patient_id=patient.id,
                data=CoverageCreate(
                    rank="primary",
                    payer_name="Example Health",
                    payer_id=self.payer_id,
                    member_id=f"XYZ{rng.randrange(10**8):08d}",
                    effective_from=date(2026, 1, 1),
                ),
            )
            encounter = create_encounter(
                gate=gate,
                patient_id=patient.id,
                data=EncounterCreate(
                    service_date=SERVICE_DATE,
                    billing_provider_id=self.billing_provider_id,
                    rendering_provider_id=self.rendering_provider_id,
                    diagnoses=[DiagnosisIn(code=c) for c in dx],
                    lines=[
                        ServiceLineIn(
                            procedure_code="99213", modifiers=["25"], diagnosis_pointers=[1], charge=Decimal("125.00")
                        ),
                        ServiceLineIn(
                            procedure_code="93000",
                            diagnosis_pointers=[1, 2] if len(dx) > 1 else [1],
                            charge=Decimal("40.00"),
                        ),
                    ],
                ),
            )
        return patient.id, encounter.id


def build_billing_world(runtime: Runtime, *, slug: str = "clinic", seed: int = 7) -> BillingWorld:
    rng = random.Random(seed)
    org = create_organization(db=runtime.db, keys=runtime.keys, ctx=None, slug=slug, name=slug.title())
    ctx = system_context("test setup", organization_id=org.id, permissions=set(Permission))
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        partner = add_trading_partner(
            gate=gate,
            data=TradingPartnerCreate(
                name="Test Clearinghouse",
                isa_sender_id="CLINIC01",
                isa_receiver_id="CLEARHOUSE",
                gs_sender_code="CLINIC01",
                gs_receiver_code="CLEARHOUSE",
                submitter_name="Clinic Billing",
                submitter_id="SUB001",
                submitter_contact_name="Billing Office",
                submitter_contact_phone="2125550100",
                receiver_name="Test Clearinghouse",
                receiver_id="CH0001",
            ),
        )
        payer = add_payer(
            gate=gate,
            data=PayerCreate(
                payer_id="EXH01", name="Example Health", timely_filing_days=365, trading_partner_id=partner.id
            ),
        )
        billing = add_provider(
            gate=gate,
            data=ProviderCreate(
                npi=make_npi(rng),
                entity="organization",
                organization_name="Springfield Family Medicine",
                taxonomy="207Q00000X",
                can_bill=True,
                tax_id="123456789",
                address_line1="100 Main Street",
                city="Springfield",
                state="IL",
                postal_code="627011234",
                contact_name="Billing Office",
                contact_phone="2175550100",
            ),
        )
        rendering = add_provider(
            gate=gate,
            data=ProviderCreate(
                npi=make_npi(rng), entity="person", family_name="Osler", given_name="William", taxonomy="207Q00000X"
            ),
        )
    return BillingWorld(runtime, org.id, payer.id, "EXH01", partner.id, billing.id, rendering.id)
