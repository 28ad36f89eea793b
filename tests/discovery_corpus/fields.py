"""People, providers and practices of one document, and the placeholder vocabulary templates draw on.

``Ctx.resolve(name)`` turns a placeholder such as ``patient_lf`` or ``dob`` into rich text with the value planted.
The vocabulary is shared by both splits; only the templates around it differ.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from . import lookalikes
from . import values as v
from .builder import Rich, ent, lit
from .model import MRN_FORMATS

PRACTICES = (
    "Lakeside Family Medicine",
    "Summit Orthopedics",
    "Riverbend Pediatrics",
    "Northside Cardiology Associates",
    "Cedar Valley Physical Therapy",
    "Desert Sky Internal Medicine",
    "Harbor View Dermatology",
    "Prairie Health Clinic",
    "Bluewater Urgent Care",
    "Mountain View Family Practice",
    "Red Rock Pain Center",
    "Greenway Behavioral Health",
    "Tri-County Imaging",
    "Clearwater Podiatry",
    "Pinecrest Endocrinology",
)
PAYERS = (
    "Aetna",
    "UnitedHealthcare",
    "Blue Cross Blue Shield",
    "Cigna",
    "Humana",
    "Molina Healthcare",
    "Anthem",
    "Ambetter",
    "Tricare West",
    "State Medicaid",
    "Oscar Health",
    "Medicare Part B",
)
SPECIALTIES = (
    "Family Medicine",
    "Internal Medicine",
    "Cardiology",
    "Orthopedic Surgery",
    "Pediatrics",
    "Dermatology",
    "Physical Therapy",
    "Endocrinology",
    "Psychiatry",
    "Podiatry",
    "Radiology",
)
DATE_STYLES = ("us", "us", "us_short", "iso", "long", "dmy", "dash")
PHONE_STYLES = ("paren", "paren", "dash", "dash", "dot", "intl", "one")


@dataclass
class Person:
    first: str
    last: str
    dob: dt.date
    sex: str
    ssn: str
    mbi: str
    member: str
    mrn: str
    street: str
    city: str
    state: str
    zip: str
    phone: str
    email: str
    card: str
    medicare: bool


@dataclass
class Provider:
    first: str
    last: str
    npi: str
    dea: str
    phone: str


@dataclass
class Practice:
    name: str
    npi: str
    street: str
    city: str
    state: str
    zip: str
    phone: str
    tax_id: str
    aba: str
    account: str


class Ctx:
    """The random source and the current patient, providers, practice and payer of one document."""

    def __init__(self, rng: random.Random, seed: int, *, upper: bool = False, fold: bool = False) -> None:
        self.rng = rng
        self.seed = seed
        self.upper = upper  # X12-style uppercase names and addresses
        self.fold = fold  # strip diacritics (X12, PDF standard fonts)
        self._names = 0
        self.mrn_format = rng.choice(MRN_FORMATS)
        self.practice = self.new_practice()
        self.provider = self.new_provider()
        self.provider2 = self.new_provider()
        self.payer = rng.choice(PAYERS)
        self.patient = self.new_patient()

    # ---- records -------------------------------------------------------------------------------------------
    def name(self) -> tuple[str, str]:
        self._names += 1
        first, last = v.person_name(self.rng, self.seed * 1000 + self._names)
        if self.fold:
            first, last = v.ascii_fold(first), v.ascii_fold(last)
        if self.upper:
            first, last = first.upper(), last.upper()
        return first, last

    def new_patient(self) -> Person:
        rng = self.rng
        first, last = self.name()
        place = v.city(rng)
        dob = v.birth_date(rng)
        medicare = dob.year < 1958 or rng.random() < 0.08
        self.payer = "Medicare Part B" if medicare else rng.choice(PAYERS[:-1])
        self.patient = Person(
            first=first,
            last=last,
            dob=dob,
            sex=rng.choice("FM"),
            ssn=v.ssn(rng),
            mbi=v.mbi(rng),
            member=v.member_id(rng),
            mrn=v.mrn(rng, self.mrn_format),
            street=v.street(rng, self.upper),
            city=place[0].upper() if self.upper else place[0],
            state=place[1],
            zip=v.zip_code(rng, place[2]),
            phone=v.phone_digits(rng),
            email=v.email(rng, first, last),
            card=v.card(rng),
            medicare=medicare,
        )
        return self.patient

    def new_provider(self) -> Provider:
        first, last = self.name()
        return Provider(first, last, v.npi(self.rng), v.dea(self.rng, last), v.phone_digits(self.rng))

    def new_practice(self) -> Practice:
        rng = self.rng
        place = v.city(rng)
        name = rng.choice(PRACTICES)
        return Practice(
            name=name.upper() if self.upper else name,
            npi=v.npi(rng),
            street=v.street(rng, self.upper),
            city=place[0].upper() if self.upper else place[0],
            state=place[1],
            zip=v.zip_code(rng, place[2]),
            phone=v.phone_digits(rng),
            tax_id=lookalikes.tax_id(rng),
            aba=v.aba(rng),
            account=v.bank_account(rng),
        )

    # ---- formatting helpers ---------------------------------------------------------------------------------
    def date(self, day: dt.date, style: str | None = None) -> str:
        return v.format_date(day, style or self.rng.choice(DATE_STYLES))

    def phone(self, digits: str, style: str | None = None) -> str:
        return v.format_phone(digits, style or self.rng.choice(PHONE_STYLES))

    def svc_date(self, style: str | None = None) -> str:
        return self.date(v.service_date(self.rng), style)

    def amount(self) -> str:
        return f"{self.rng.randint(15, 2400)}.{self.rng.randint(0, 99):02d}"

    def claim_no(self) -> str:
        return v.pattern(self.rng, self.rng.choice(("CLM-999999", "99A9999", "C9999-99", "AA-99999")))

    def insurance_id(self) -> Rich:
        """The patient's payer id: the MBI for Medicare patients, the plan member id otherwise."""
        p = self.patient
        return ent("MEDICARE_MBI", p.mbi) if p.medicare else ent("MEMBER_ID", p.member)

    def negative(self, kind: str) -> Rich:
        if kind == "date_not_birth":
            return ent("!date_not_birth", self.svc_date())
        return ent("!" + kind, lookalikes.lookalike(self.rng, kind))

    # ---- the placeholder vocabulary -------------------------------------------------------------------------
    def resolve(self, name: str) -> Rich:
        p, d, d2, org, rng = self.patient, self.provider, self.provider2, self.practice, self.rng
        person = {
            "patient": f"{p.first} {p.last}",
            "patient_lf": f"{p.last}, {p.first}",
            "patient_ulf": f"{p.last.upper()}, {p.first.upper()}",
            "patient_first": p.first,
            "patient_last": p.last,
            "provider": f"{d.first} {d.last}",
            "provider_last": d.last,
            "provider_lf": f"{d.last}, {d.first}",
            "provider2": f"{d2.first} {d2.last}",
            "provider2_last": d2.last,
        }
        if name == "next_patient":
            self.new_patient()
            return []
        if name == "next_provider":
            self.provider = self.new_provider()
            return []
        if name in person:
            return ent("PERSON", person[name])
        if name in ("other_person", "guarantor", "contact"):
            first, last = self.name()
            return ent("PERSON", f"{first} {last}" if rng.random() < 0.8 else f"{last}, {first}")
        simple: dict[str, Callable[[], tuple[str, str]]] = {
            "ssn": lambda: ("US_SSN", f"{p.ssn[:3]}-{p.ssn[3:5]}-{p.ssn[5:]}"),
            "ssn_bare": lambda: ("US_SSN", p.ssn),
            "mbi": lambda: ("MEDICARE_MBI", p.mbi),
            "mbi_dashed": lambda: ("MEDICARE_MBI", f"{p.mbi[:4]}-{p.mbi[4:7]}-{p.mbi[7:]}"),
            "member": lambda: ("MEMBER_ID", p.member),
            "mrn": lambda: ("MRN", p.mrn),
            "npi": lambda: ("US_NPI", d.npi),
            "npi2": lambda: ("US_NPI", d2.npi),
            "npi_org": lambda: ("US_NPI", org.npi),
            "dea": lambda: ("DEA_NUMBER", d.dea),
            "aba": lambda: ("ABA_ROUTING", org.aba),
            "acct": lambda: ("BANK_ACCOUNT", org.account),
            "card": lambda: ("CREDIT_CARD", v.format_card(p.card, rng.choice(("plain", "plain", "spaces", "dashes")))),
            "icd": lambda: ("ICD10_CM", v.icd10(rng)),
            "cpt": lambda: ("PROCEDURE_CODE", v.procedure(rng)),
            "dob": lambda: ("DATE_OF_BIRTH", self.date(p.dob)),
            "dob_us": lambda: ("DATE_OF_BIRTH", self.date(p.dob, "us")),
            "dob_iso": lambda: ("DATE_OF_BIRTH", self.date(p.dob, "iso")),
            "dob_long": lambda: ("DATE_OF_BIRTH", self.date(p.dob, "long")),
            "phone": lambda: ("PHONE", self.phone(p.phone)),
            "phone_provider": lambda: ("PHONE", self.phone(d.phone)),
            "phone_org": lambda: ("PHONE", self.phone(org.phone)),
            "email": lambda: ("EMAIL", p.email),
            "ip": lambda: ("IP_ADDRESS", v.ip_address(rng)),
            "street": lambda: ("STREET_ADDRESS", p.street),
            "zip": lambda: ("ZIP_CODE", p.zip),
        }
        if name in simple:
            kind, value = simple[name]()
            return ent(kind, value)
        if name == "aba_any":
            return ent("ABA_ROUTING", v.aba(rng))
        if name == "acct_any":
            return ent("BANK_ACCOUNT", v.bank_account(rng))
        if name == "email_provider":
            return ent("EMAIL", v.email(rng, d.first, d.last))
        if name == "insurance_id":
            return self.insurance_id()
        if name == "address":
            return [*ent("STREET_ADDRESS", p.street), (None, f", {p.city}, {p.state} "), *ent("ZIP_CODE", p.zip)]
        if name == "org_address":
            return [
                *ent("STREET_ADDRESS", org.street),
                (None, f", {org.city}, {org.state} "),
                *ent("ZIP_CODE", org.zip),
            ]
        filler: dict[str, Callable[[], str]] = {
            "city": lambda: p.city,
            "state": lambda: p.state,
            "practice": lambda: org.name,
            "payer": lambda: self.payer,
            "svc_date": lambda: self.svc_date(),
            "amount": lambda: self.amount(),
            "claim_no": lambda: self.claim_no(),
            "sex": lambda: p.sex,
            "visit_no": lambda: str(rng.randint(2, 40)),
            "units": lambda: str(rng.randint(1, 4)),
            "specialty": lambda: rng.choice(SPECIALTIES),
            "time": lambda: f"{rng.randint(7, 18):02d}:{rng.randint(0, 59):02d}",
        }
        if name in filler:
            return lit(filler[name]())
        if name.startswith("neg_"):
            return self.negative(NEG_ALIASES[name[4:]])
        raise KeyError(f"unknown placeholder {name!r}")


NEG_ALIASES = {
    "ssn": "ssn_lookalike",
    "npi": "npi_lookalike",
    "card": "card_lookalike",
    "aba": "aba_lookalike",
    "dea": "dea_lookalike",
    "mbi": "mbi_lookalike",
    "9": "bare_9_digits",
    "10": "bare_10_digits",
    "spaced": "spaced_ssn",
    "inword": "id_in_word",
    "date": "date_not_birth",
    "tax": "tax_id",
}
