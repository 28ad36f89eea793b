"""The demo practice's billing world, built through the billing services and the PHI gate: the practice's
directory (a billing organization, clinicians, a referring cardiologist, a satellite facility, a clearinghouse with
a local drop directory, Medicare, two commercial plans and Medicaid), synthetic patients with their coverages
(Medicare members with MBIs, spouses and children insured through a subscriber, some with secondary coverage),
coded encounters with several service lines, modifiers and diagnoses, and then claims in every lifecycle state
(``demo_claims``). Seeded: the same seed and patient count give the same data, states and counts."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from faker import Faker

from claimvault.billing.codesets.synthetic import load_synthetic_code_sets
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage
from claimvault.billing.encounters.schemas import DiagnosisIn, EncounterCreate, ServiceLineIn
from claimvault.billing.encounters.service import create_encounter
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.billing.payers.schemas import PayerCreate, TradingPartnerCreate
from claimvault.billing.payers.service import add_payer, add_trading_partner
from claimvault.billing.providers.schemas import FacilityCreate, ProviderCreate
from claimvault.billing.providers.service import add_facility, add_provider
from claimvault.cli.demo_claims import ROUND_OF, DemoEncounter, StageReport, stage_claims
from claimvault.discovery.validators import mbi_valid, npi_valid
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission

PERMISSIONS = frozenset(
    {
        Permission.PATIENT_CREATE,
        Permission.COVERAGE_MANAGE,
        Permission.PROVIDER_MANAGE,
        Permission.PAYER_MANAGE,
        Permission.ENCOUNTER_MANAGE,
        Permission.CLAIM_READ,
        Permission.CLAIM_MANAGE,
        Permission.CLAIM_SUBMIT,
        Permission.DISCLOSURE_RECORD,
    }
)
CODE_SET_YEAR = 2026  # synthetic CPT/HCPCS/NCCI/MUE in force from January 1; the built-in ICD-10-CM is FY2026
PATIENT_BATCH = 25  # patients per transaction
# Share of encounters per target state (see demo_claims.TARGETS); every state appears at least once.
TARGET_WEIGHTS = {
    "paid": 26, "partially_paid": 7, "denied": 5, "appealed": 3, "closed": 7, "accepted": 6, "submitted": 4,
    "rejected": 4, "replaced": 3, "voided": 2, "resubmitted": 2, "exported": 7, "ready": 12, "scrubbed": 5,
    "draft": 7,
}  # fmt: skip
# Dates of service by round: adjudicated claims are the oldest, the work queue the newest (all before FY2026 ends).
ROUND_DATES = {"A": (date(2026, 5, 1), date(2026, 7, 24)), "B": (date(2026, 8, 3), date(2026, 9, 18)),
               "C": (date(2026, 9, 8), date(2026, 9, 29))}  # fmt: skip
FEES = {
    "99203": "165.00", "99204": "250.00", "99212": "85.00", "99213": "125.00", "99214": "185.00", "99395": "225.00",
    "99396": "240.00", "36415": "18.00", "80053": "45.00", "85025": "32.00", "81002": "15.00", "93000": "60.00",
    "71046": "95.00", "20610": "145.00", "96372": "38.00", "J1100": "6.00", "J3301": "15.00", "90686": "42.00",
    "90471": "28.00", "G0008": "30.00", "G0402": "190.00",
}  # fmt: skip
# Encounter templates: diagnoses (alternatives separated by "|") and lines (code, modifiers, units, pointers).
Line = tuple[str, tuple[str, ...], int, tuple[int, ...]]
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[Line, ...]]] = {
    "chronic_care": (("E119|E1165", "I10", "E785"), (("99213", (), 1, (1, 2, 3)), ("36415", (), 1, (1,)),
                     ("80053", (), 1, (1, 3)), ("85025", (), 1, (1,)))),
    "sick_visit": (("J069|J029|R051", "R509"), (("99213", (), 1, (1, 2)),)),
    "uti_visit": (("N390",), (("99212", (), 1, (1,)), ("81002", (), 1, (1,)))),
    "chest_pain": (("R079", "I10"), (("99214", ("25",), 1, (1, 2)), ("93000", (), 1, (1,)), ("71046", (), 1, (1,)))),
    "knee_injection": (("M1711|M1712", "E119"), (("99214", ("25",), 1, (1, 2)), ("20610", ("SIDE",), 1, (1,)),
                       ("J3301", (), 4, (1,)))),
    "back_pain_injection": (("M5450", "F419"), (("99213", ("25",), 1, (1, 2)), ("96372", (), 1, (1,)),
                            ("J1100", (), 4, (1,)))),
    "preventive": (("Z0000|Z0001", "Z23"), (("PREVENTIVE", (), 1, (1,)), ("90686", (), 1, (2,)),
                   ("90471", (), 1, (2,)), ("36415", (), 1, (1,)), ("80053", (), 1, (1,)))),
    "medicare_wellness": (("Z0000", "Z23", "I10"), (("G0402", (), 1, (1, 3)), ("90686", (), 1, (2,)),
                          ("G0008", ("GA",), 1, (2,)))),
    "child_sick": (("J069|R509|J029",), (("99213", (), 1, (1,)),)),
    "child_flu_shot": (("Z23", "J069"), (("99212", ("25",), 1, (2,)), ("90686", (), 1, (1,)), ("90471", (), 1, (1,)))),
    # 20610 with 99213 is an NCCI pair a modifier (25) may bypass: a warning, so the claim waits as "scrubbed".
    "knee_bypass": (("M1711|M1712",), (("99213", ("25",), 1, (1,)), ("20610", ("SIDE",), 1, (1,)))),
}  # fmt: skip
TEMPLATES_BY_KIND = {
    "medicare": ("chronic_care", "chest_pain", "knee_injection", "medicare_wellness", "back_pain_injection"),
    "commercial": ("chronic_care", "sick_visit", "uti_visit", "chest_pain", "knee_injection", "back_pain_injection",
                   "preventive"),
    "medicaid": ("sick_visit", "uti_visit", "chronic_care", "back_pain_injection", "preventive"),
    "child": ("child_sick", "child_flu_shot"),
}  # fmt: skip
HEADER_OF = {
    "E119": "E11", "E1165": "E11", "E785": "E78", "M1711": "M17", "M1712": "M17", "J069": "J06", "J029": "J02",
    "M5450": "M54", "N390": "N39", "R509": "R50", "F419": "F41", "Z0000": "Z00", "Z0001": "Z00", "R079": "R07",
    "R051": "R05",
}  # fmt: skip
_STATES = ("IL", "IN", "WI", "MI", "OH")
_MBI = ("123456789", "ACDEFGHJKMNPQRTUVWXY", "ACDEFGHJKMNPQRTUVWXY0123456789", "0123456789")


@dataclass(frozen=True)
class Directory:
    billing_provider: uuid.UUID
    clinicians: tuple[uuid.UUID, ...]
    pediatrician: uuid.UUID
    referring: uuid.UUID
    facility: uuid.UUID
    payers: dict[str, tuple[uuid.UUID, str]]  # role -> (payer row id, name)


@dataclass
class PatientPlan:
    kind: str  # medicare | commercial | medicaid | child
    data: PatientCreate
    coverages: list[CoverageCreate]
    secondary: bool
    dependent: bool


@dataclass
class BillingReport:
    patients: int = 0
    coverages: int = 0
    encounters: int = 0
    stages: StageReport = field(default_factory=StageReport)


def make_npi(rng: random.Random) -> str:
    """A synthetic NPI with a valid check digit (Luhn over 80840)."""
    body = str(rng.choice((1, 2))) + "".join(str(rng.randrange(10)) for _ in range(8))
    return next(body + str(d) for d in range(10) if npi_valid(body + str(d)))


def make_mbi(rng: random.Random) -> str:
    """A synthetic Medicare Beneficiary Identifier in the CMS format (C A AN N A AN N A A N N)."""
    c, a, an, n = _MBI
    mbi = "".join(rng.choice(chars) for chars in (c, a, an, n, a, an, n, a, a, n, n))
    assert mbi_valid(mbi)
    return mbi


def _zip9(rng: random.Random) -> str:
    return f"{rng.randrange(60000, 62999)}{rng.randrange(1000, 9999)}"


def build_directory(*, runtime: Runtime, organization_id: uuid.UUID, rng: random.Random) -> Directory:
    """Providers, the facility, the clearinghouse and the payers, through the gate."""
    ctx = system_context("demo seed", organization_id=organization_id, permissions=PERMISSIONS)
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        billing = add_provider(
            gate=gate,
            data=ProviderCreate(
                npi=make_npi(rng),
                entity="organization",
                organization_name="Demo Family Practice",
                taxonomy="207Q00000X",
                can_bill=True,
                can_render=False,
                tax_id=f"36{rng.randrange(10**6, 10**7)}",
                address_line1="1200 Lakeview Avenue",
                city="Springfield",
                state="IL",
                postal_code="627011204",
                contact_name="Billing Office",
                contact_phone="2175550142",
            ),
        )
        people = (
            ("Osler", "Maren", "207Q00000X"),
            ("Okafor", "Daniel", "207R00000X"),
            ("Lindqvist", "Priya", "363LF0000X"),
            ("Abernathy", "Jonah", "208000000X"),
        )
        clinicians = [
            add_provider(
                gate=gate,
                data=ProviderCreate(
                    npi=make_npi(rng),
                    entity="person",
                    family_name=family,
                    given_name=given,
                    taxonomy=taxonomy,
                    can_refer=True,
                ),
            ).id
            for family, given, taxonomy in people
        ]
        referring = add_provider(
            gate=gate,
            data=ProviderCreate(
                npi=make_npi(rng),
                entity="person",
                family_name="Vasquez",
                given_name="Helena",
                taxonomy="207RC0000X",
                can_render=False,
                can_refer=True,
            ),
        )
        facility = add_facility(
            gate=gate,
            data=FacilityCreate(
                name="Demo Family Practice Riverside",
                npi=make_npi(rng),
                place_of_service="11",
                address_line1="48 River Road",
                city="Chatham",
                state="IL",
                postal_code=_zip9(rng),
            ),
        )
        partner = add_trading_partner(
            gate=gate,
            data=TradingPartnerCreate(
                name="Demo Clearinghouse",
                isa_sender_id="DEMOPRACTICE",
                isa_receiver_id="DEMOCLEARING",
                gs_sender_code="DEMOPRACTICE",
                gs_receiver_code="DEMOCLEARING",
                submitter_name="Demo Family Practice",
                submitter_id="DEMOSUB01",
                submitter_contact_name="Billing Office",
                submitter_contact_phone="2175550142",
                receiver_name="Demo Clearinghouse",
                receiver_id="DEMOCH01",
                transport="drop_dir",
            ),
        )
        payers: dict[str, tuple[uuid.UUID, str]] = {}
        for role, code, name, indicator, days in (
            ("medicare", "DEMOMCR01", "Demo Medicare Part B", "MB", 365),
            ("mutual", "DEMOMUT01", "Demo Mutual Health", "CI", 180),
            ("care", "EXCARE01", "Example Care Plan", "CI", 365),
            ("medicaid", "DEMOMCD01", "Sample State Medicaid", "MC", 365),
        ):
            row = add_payer(
                gate=gate,
                data=PayerCreate(
                    payer_id=code,
                    name=name,
                    claim_filing_indicator=indicator,
                    timely_filing_days=days,
                    trading_partner_id=partner.id,
                ),
            )
            payers[role] = (row.id, name)
    return Directory(billing.id, tuple(clinicians[:3]), clinicians[3], referring.id, facility.id, payers)


def _birth(rng: random.Random, oldest: int, youngest: int) -> date:
    """A birth date between the years ``oldest`` and ``youngest`` (inclusive), not after 2025-06-30."""
    day = date(oldest, 1, 1) + timedelta(days=rng.randrange((date(youngest, 12, 31) - date(oldest, 1, 1)).days))
    return min(day, date(2025, 6, 30))


def _coverage(
    directory: Directory, role: str, rank: str, member_id: str, start: date, subscriber: Mapping[str, object]
) -> CoverageCreate:
    payer_id, name = directory.payers[role]
    group = None if role in ("medicare", "medicaid") else f"GRP{sum(map(ord, member_id)) * 37 % 10**5:05d}"
    return CoverageCreate.model_validate(
        {
            "rank": rank,
            "payer_name": name,
            "payer_id": payer_id,
            "member_id": member_id,
            "group_number": group,
            "effective_from": start,
            **subscriber,
        }
    )


def plan_patient(index: int, rng: random.Random, fake: Faker, directory: Directory) -> PatientPlan:
    """One synthetic patient and their coverages. The first five cover every profile (with a secondary coverage
    and a subscriber other than the patient among them); the rest are drawn by weight."""
    fixed = (
        ("medicare", True, False),
        ("commercial", False, True),
        ("child", False, True),
        ("medicaid", False, False),
        ("commercial", True, False),
    )
    if index < len(fixed):
        kind, secondary, dependent = fixed[index]
    else:
        kind = rng.choices(("medicare", "commercial", "child", "medicaid"), weights=(30, 40, 15, 15))[0]
        secondary = rng.random() < {"medicare": 0.35, "commercial": 0.2, "child": 0.15, "medicaid": 0.0}[kind]
        dependent = kind == "child" or (kind == "commercial" and rng.random() < 0.3)
    sex = rng.choice(("F", "M"))
    given = fake.first_name_female() if sex == "F" else fake.first_name_male()
    family = fake.last_name()
    birth = {"medicare": (1934, 1960), "commercial": (1962, 2006), "child": (2009, 2025), "medicaid": (1964, 2007)}
    born = _birth(rng, *birth[kind])
    patient = PatientCreate(
        given_name=given,
        family_name=family,
        birth_date=born,
        sex=sex,
        mrn=f"DFP-{index + 1:06d}",
        phone=f"(217) 555-01{rng.randrange(100):02d}",
        email=f"{given}.{family}{rng.randrange(1, 999)}@example.com".lower(),
        address_line1=f"{rng.randrange(10, 9999)} {fake.street_name()}",
        city=fake.city(),
        state=rng.choice(_STATES),
        postal_code=f"{rng.randrange(60000, 62999)}",
    )
    start = max(born, date(2025, 1, 1) - timedelta(days=rng.randrange(0, 6 * 365)))
    spouse_sex = "M" if sex == "F" else "F"

    def someone(relation: str) -> dict[str, object]:
        if relation == "child":
            first = fake.first_name()
            return {
                "subscriber_relationship": "child",
                "subscriber_given_name": first,
                "subscriber_family_name": family,
                "subscriber_birth_date": _birth(rng, 1970, 1995),
            }
        first = fake.first_name_male() if spouse_sex == "M" else fake.first_name_female()
        return {
            "subscriber_relationship": "spouse",
            "subscriber_given_name": first,
            "subscriber_family_name": family,
            "subscriber_birth_date": _birth(rng, born.year - 4, born.year + 4),
        }

    def commercial_id() -> str:
        return f"{fake.bothify('???').upper()}{rng.randrange(10**8, 10**9)}"

    coverages: list[CoverageCreate] = []
    commercial = ("mutual", "care")
    if kind == "medicare":
        coverages.append(
            _coverage(directory, "medicare", "primary", make_mbi(rng), start, {"subscriber_relationship": "self"})
        )
        if secondary:
            role = rng.choice(("care", "medicaid"))
            member = commercial_id() if role == "care" else f"MCD{rng.randrange(10**8, 10**9)}"
            coverages.append(
                _coverage(directory, role, "secondary", member, start, {"subscriber_relationship": "self"})
            )
    elif kind == "medicaid":
        coverages.append(
            _coverage(
                directory,
                "medicaid",
                "primary",
                f"MCD{rng.randrange(10**8, 10**9)}",
                start,
                {"subscriber_relationship": "self"},
            )
        )
    else:
        first, other = rng.sample(commercial, 2)
        holder = (
            someone("child")
            if kind == "child"
            else someone("spouse")
            if dependent
            else {"subscriber_relationship": "self"}
        )
        coverages.append(_coverage(directory, first, "primary", commercial_id(), start, holder))
        if secondary:
            second = someone("child") if kind == "child" else someone("spouse")
            coverages.append(_coverage(directory, other, "secondary", commercial_id(), start, second))
    return PatientPlan(kind, patient, coverages, secondary, dependent)


def assign_targets(rng: random.Random, plans: list[PatientPlan], owners: list[int]) -> list[str]:
    """A target state per encounter: every state once among the first encounters, the rest by weight; a patient
    with secondary coverage and one insured through someone else each get a claim left ready for export."""
    names = list(TARGET_WEIGHTS)
    targets = rng.choices(names, weights=list(TARGET_WEIGHTS.values()), k=len(owners))
    first = names[:]
    rng.shuffle(first)
    targets[: len(first)] = first[: len(owners)]
    for feature in ("secondary", "dependent"):
        if any(t == "ready" and getattr(plans[p], feature) for t, p in zip(targets, owners, strict=True)):
            continue
        candidates = [i for i, p in enumerate(owners) if getattr(plans[p], feature)]
        spare = [i for i in candidates if i >= len(first)] or candidates
        if spare:
            targets[spare[0]] = "ready"
    return targets


def plan_encounter(
    rng: random.Random, plan: PatientPlan, directory: Directory, target: str, taken: set[date], *, hold: bool = False
) -> EncounterCreate:
    """A coded encounter for ``target``: the date of service falls in the target's round; a "scrubbed" target gets
    a pair the NCCI edits flag for review; ``hold`` leaves a category code for the coder (the claim stays a draft)."""
    low, high = ROUND_DATES[ROUND_OF[target]]
    day = low + timedelta(days=rng.randrange((high - low).days + 1))
    while day in taken:
        day = day + timedelta(days=1) if day < high else low
    taken.add(day)
    name = "knee_bypass" if target == "scrubbed" else rng.choice(TEMPLATES_BY_KIND[plan.kind])
    if target == "ready" and plan.kind != "child" and rng.random() < 0.5:
        name = "knee_injection"
    dx_options, lines = TEMPLATES[name]
    diagnoses = [rng.choice(option.split("|")) for option in dx_options]
    if hold:
        coded = [i for i, code in enumerate(diagnoses) if code in HEADER_OF]
        if coded:
            diagnoses[coded[0]] = HEADER_OF[diagnoses[coded[0]]]
    side = "RT" if diagnoses[0] == "M1711" else "LT"
    age = (day - plan.data.birth_date).days // 365
    service_lines = []
    for code, modifiers, units, pointers in lines:
        if code == "PREVENTIVE":
            code = "99396" if age >= 40 else "99395"
        fee = Decimal(FEES[code]) * units
        service_lines.append(
            ServiceLineIn(
                procedure_code=code,
                modifiers=[side if m == "SIDE" else m for m in modifiers],
                units=Decimal(units),
                diagnosis_pointers=list(pointers),
                charge=fee,
            )
        )
    rendering = directory.pediatrician if plan.kind == "child" else rng.choice(directory.clinicians)
    at_facility = rng.random() < 0.3
    return EncounterCreate(
        service_date=day,
        billing_provider_id=directory.billing_provider,
        rendering_provider_id=rendering,
        referring_provider_id=directory.referring if name == "chest_pain" else None,
        facility_id=directory.facility if at_facility else None,
        place_of_service="11",
        diagnoses=[DiagnosisIn(code=c) for c in diagnoses],
        lines=service_lines,
    )


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def seed_billing(
    *,
    runtime: Runtime,
    organization_id: uuid.UUID,
    patients: int,
    seed: int,
    code_set_dir: Path,
    drop_dir: Path | None = None,
    progress: Progress | None = None,
) -> BillingReport:
    """Seed the practice's billing world (see the module docstring) and return what was created (counts only)."""
    report = BillingReport()
    tick = progress or (lambda stage, done, total: None)
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    load_synthetic_code_sets(db=runtime.db, directory=code_set_dir, year=CODE_SET_YEAR)
    directory = build_directory(runtime=runtime, organization_id=organization_id, rng=rng)
    plans = [plan_patient(i, rng, fake, directory) for i in range(patients)]
    owners = [i for i in range(patients) for _ in range(2 if i % 5 in (1, 3) or rng.random() < 0.2 else 1)]
    targets = assign_targets(rng, plans, owners)
    taken: dict[int, set[date]] = {}
    drafts = [n for n, target in enumerate(targets) if target == "draft"]
    held = set(drafts[::2])  # every other draft waits for the coder; the others are fresh, not yet scrubbed
    encounter_data = [
        plan_encounter(rng, plans[p], directory, target, taken.setdefault(p, set()), hold=n in held)
        for n, (p, target) in enumerate(zip(owners, targets, strict=True))
    ]
    ctx = system_context("demo seed", organization_id=organization_id, permissions=PERMISSIONS)
    encounters: list[DemoEncounter] = []
    for start in range(0, patients, PATIENT_BATCH):
        with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
            for p in range(start, min(start + PATIENT_BATCH, patients)):
                patient = create_patient(gate=gate, data=plans[p].data, confirm_new=True)
                for coverage in plans[p].coverages:
                    add_coverage(gate=gate, patient_id=patient.id, data=coverage)
                report.coverages += len(plans[p].coverages)
                for n, owner in enumerate(owners):
                    if owner == p:
                        made = create_encounter(gate=gate, patient_id=patient.id, data=encounter_data[n])
                        on = made.service_date or date.min
                        encounters.append(DemoEncounter(made.id, targets[n], on, n in held))
        report.patients = min(start + PATIENT_BATCH, patients)
        tick("Patients, coverages and encounters", report.patients, patients)
    report.encounters = len(encounters)
    report.stages = stage_claims(
        runtime=runtime, ctx=ctx, encounters=encounters, rng=rng, drop_dir=drop_dir, progress=tick
    )
    return report
