"""Synthetic value generators for every entity type, their written forms, and the hard-negative look-alikes.

Every value is generated from a ``random.Random``; names come from Faker seeded per document.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from functools import cache

import simple_icd_10_cm as icd
from faker import Faker

from .checksums import ABA_PREFIXES, DEA_FIRST, MBI_LETTERS, aba_ok, luhn_check_digit, ssn_ok
from .model import MRN_FORMATS

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOCALES: tuple[tuple[str, int], ...] = (
    ("en_US", 70),
    ("es_MX", 10),
    ("en_GB", 5),
    ("vi_VN", 5),
    ("en_IN", 4),
    ("fr_FR", 3),
    ("pl_PL", 3),
)
STREET_NAMES = (
    "Main",
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Walnut",
    "Chestnut",
    "Birch",
    "Willow",
    "Lakeview",
    "Hillcrest",
    "Sunset",
    "Ridge",
    "Meadow",
    "Orchard",
    "Highland",
    "Valley",
    "River",
    "Spring",
    "Park",
    "Church",
    "Mill",
    "Market",
    "Union",
    "Center",
    "Prospect",
    "Summit",
    "Forest",
    "Harbor",
    "Canyon",
    "Juniper",
    "Magnolia",
    "Aspen",
    "2nd",
    "3rd",
    "4th",
    "5th",
    "12th",
    "21st",
    "N Broad",
    "S Central",
    "E Commerce",
    "W Industrial",
    "Old Mill",
    "Country Club",
    "Fairview",
    "Greenfield",
    "Riverside",
    "Bayshore",
    "Camino Real",
    "Rio Grande",
    "Vista Verde",
)
STREET_SUFFIXES = (
    "St",
    "Street",
    "Ave",
    "Avenue",
    "Rd",
    "Road",
    "Blvd",
    "Dr",
    "Drive",
    "Ln",
    "Lane",
    "Ct",
    "Way",
    "Pl",
    "Pkwy",
    "Ter",
    "Cir",
    "Hwy",
)
UNITS = ("Apt {n}", "Apt. {n}", "Unit {n}", "Suite {n}", "Ste {n}", "#{n}", "Bldg {l}", "Apt {n}{l}")
# (city, state, zip prefix): real places whose names are not personal names.
CITIES = (
    ("Springfield", "IL", "627"),
    ("Columbus", "OH", "432"),
    ("Denver", "CO", "802"),
    ("Phoenix", "AZ", "850"),
    ("Tucson", "AZ", "857"),
    ("Omaha", "NE", "681"),
    ("Boise", "ID", "837"),
    ("Tampa", "FL", "336"),
    ("Raleigh", "NC", "276"),
    ("Fresno", "CA", "937"),
    ("Sacramento", "CA", "958"),
    ("El Paso", "TX", "799"),
    ("San Antonio", "TX", "782"),
    ("Albuquerque", "NM", "871"),
    ("Des Moines", "IA", "503"),
    ("Little Rock", "AR", "722"),
    ("Tulsa", "OK", "741"),
    ("Wichita", "KS", "672"),
    ("Spokane", "WA", "992"),
    ("Portland", "OR", "972"),
    ("Richmond", "VA", "232"),
    ("Knoxville", "TN", "379"),
    ("Mobile", "AL", "366"),
    ("Baton Rouge", "LA", "708"),
    ("Fort Wayne", "IN", "468"),
    ("Green Bay", "WI", "543"),
    ("Rochester", "NY", "146"),
    ("Hartford", "CT", "061"),
    ("Providence", "RI", "029"),
    ("Manchester", "NH", "031"),
    ("Newark", "NJ", "071"),
    ("Allentown", "PA", "181"),
    ("Toledo", "OH", "436"),
    ("Lansing", "MI", "489"),
    ("Sioux Falls", "SD", "571"),
    ("Fargo", "ND", "581"),
    ("Billings", "MT", "591"),
    ("Cheyenne", "WY", "820"),
    ("Reno", "NV", "895"),
    ("Anchorage", "AK", "995"),
    ("Honolulu", "HI", "968"),
    ("Bakersfield", "CA", "933"),
    ("Laredo", "TX", "780"),
)
AREA_CODES = (
    "212",
    "213",
    "214",
    "216",
    "224",
    "239",
    "248",
    "262",
    "303",
    "305",
    "312",
    "314",
    "315",
    "317",
    "402",
    "404",
    "407",
    "412",
    "415",
    "425",
    "469",
    "480",
    "503",
    "505",
    "512",
    "520",
    "602",
    "614",
    "615",
    "623",
    "702",
    "713",
    "720",
    "757",
    "773",
    "786",
    "801",
    "813",
    "832",
    "901",
    "916",
    "919",
)
EMAIL_DOMAINS = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "comcast.net",
    "proton.me",
    "att.net",
    "mail.com",
)
COMMON_ICD = (
    "E11.9",
    "I10",
    "E78.5",
    "J06.9",
    "M54.50",
    "Z00.00",
    "Z00.01",
    "F41.1",
    "K21.9",
    "E66.9",
    "J45.909",
    "N39.0",
    "R51.9",
    "M25.561",
    "Z23",
    "E03.9",
    "F32.A",
    "G47.33",
    "R10.9",
    "L30.9",
    "H52.4",
    "Z79.4",
)
EM_CODES = (
    "99202",
    "99203",
    "99204",
    "99205",
    "99211",
    "99212",
    "99213",
    "99214",
    "99215",
    "99381",
    "99385",
    "99395",
    "99396",
    "99397",
    "99406",
    "99441",
    "99442",
)
OTHER_CPT = (
    "97110",
    "97112",
    "97140",
    "97530",
    "90471",
    "90472",
    "90686",
    "90715",
    "36415",
    "80053",
    "80061",
    "81002",
    "82947",
    "83036",
    "85025",
    "93000",
    "71046",
    "73030",
    "20610",
    "11721",
    "17110",
    "69210",
    "94640",
    "96372",
    "99283",
    "99284",
    "98941",
    "92014",
    "45378",
    "G0438",
    "G0439",
    "J1100",
    "J3301",
    "J1885",
    "A0428",
    "A4253",
    "E0114",
    "L3908",
    "Q4131",
    "S9083",
    "G0008",
)
CATEGORY_II = ("3074F", "3075F", "3078F", "3079F", "1036F", "4004F", "2022F", "3044F", "3046F", "1160F")


@cache
def _billable_icd() -> tuple[str, ...]:
    return tuple(code for code in icd.get_all_codes(False) if icd.is_leaf(code))


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def pattern(rng: random.Random, template: str) -> str:
    """Fill a ``9``/``A``/``X`` template (other characters literal)."""
    out = []
    for ch in template:
        if ch == "9":
            out.append(rng.choice(DIGITS))
        elif ch == "A":
            out.append(rng.choice(UPPER))
        elif ch == "X":
            out.append(rng.choice(DIGITS + UPPER))
        else:
            out.append(ch)
    return "".join(out)


def ascii_fold(text: str) -> str:
    """``text`` without diacritics (for X12 and PDF's standard fonts)."""
    text = text.replace("đ", "d").replace("Đ", "D").replace("ł", "l").replace("Ł", "L")
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def person_name(rng: random.Random, seed: int) -> tuple[str, str]:
    """(first, last) from a weighted locale, Faker seeded from ``seed``."""
    locale = rng.choices([loc for loc, _ in LOCALES], [w for _, w in LOCALES])[0]
    fake = _faker(locale)
    fake.seed_instance(seed)
    first, last = fake.first_name(), fake.last_name()
    first = first.split()[0] if rng.random() < 0.8 else first
    return first.replace("'", ""), last.replace("'", "")


def ssn(rng: random.Random) -> str:
    while True:
        value = f"{rng.randint(1, 899):03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        if ssn_ok(value):
            return value


def npi(rng: random.Random) -> str:
    body = rng.choice("12") + "".join(rng.choice(DIGITS) for _ in range(8))
    return body + luhn_check_digit("80840" + body)


def mbi(rng: random.Random) -> str:
    letters, alnum = MBI_LETTERS, MBI_LETTERS + DIGITS
    parts = [rng.choice("123456789"), rng.choice(letters), rng.choice(alnum), rng.choice(DIGITS)]
    parts += [rng.choice(letters), rng.choice(alnum), rng.choice(DIGITS), rng.choice(letters), rng.choice(letters)]
    parts += [rng.choice(DIGITS), rng.choice(DIGITS)]
    return "".join(parts)


def dea(rng: random.Random, last_name: str = "") -> str:
    initial = ascii_fold(last_name[:1]).upper()
    second = initial if initial.isalpha() and rng.random() < 0.85 else rng.choice(UPPER + "9")
    d = [rng.randint(0, 9) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return rng.choice(DEA_FIRST) + second + "".join(map(str, d)) + str(check)


def aba(rng: random.Random) -> str:
    while True:
        body = f"{rng.choice(ABA_PREFIXES):02d}" + "".join(rng.choice(DIGITS) for _ in range(6))
        for last in DIGITS:
            if aba_ok(body + last):
                return body + last


def bank_account(rng: random.Random) -> str:
    return rng.choice("123456789") + "".join(rng.choice(DIGITS) for _ in range(rng.choice((7, 9, 10, 11, 12, 14))))


def card(rng: random.Random) -> str:
    brand = rng.choices(["visa", "mc", "mc2", "amex", "disc"], [40, 20, 12, 14, 14])[0]
    if brand == "visa":
        prefix, length = "4", 16
    elif brand == "mc":
        prefix, length = str(rng.randint(51, 55)), 16
    elif brand == "mc2":
        prefix, length = str(rng.randint(2221, 2720)), 16
    elif brand == "amex":
        prefix, length = rng.choice(("34", "37")), 15
    else:
        prefix, length = rng.choice(("6011", str(rng.randint(644, 649)), "65")), 16
    body = prefix + "".join(rng.choice(DIGITS) for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


def format_card(number: str, style: str) -> str:
    if style == "plain":
        return number
    sep = " " if style == "spaces" else "-"
    groups = (4, 6, 5) if len(number) == 15 else (4, 4, 4, 4)
    out, pos = [], 0
    for size in groups:
        out.append(number[pos : pos + size])
        pos += size
    return sep.join(out)


def mrn(rng: random.Random, template: str | None = None) -> str:
    return pattern(rng, template or rng.choice(MRN_FORMATS))


MEMBER_TEMPLATES = (
    "W999999999",
    "AAA999999999",
    "9999999999A",
    "XAA9999999",
    "M99999999901",
    "AA99999999",
    "999999999999",
    "H9999999A",
)


def member_id(rng: random.Random) -> str:
    return pattern(rng, rng.choice(MEMBER_TEMPLATES))


def icd10(rng: random.Random) -> str:
    """A billable ICD-10-CM code with its dot."""
    if rng.random() < 0.55:
        return rng.choice(COMMON_ICD)
    code = rng.choice(_billable_icd())
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def procedure(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(EM_CODES)
    if roll < 0.9:
        return rng.choice(OTHER_CPT)
    return rng.choice(CATEGORY_II)


def birth_date(rng: random.Random) -> dt.date:
    return dt.date(1932, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 88))


def service_date(rng: random.Random) -> dt.date:
    return dt.date(2023, 1, 2) + dt.timedelta(days=rng.randint(0, 800))


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(day: dt.date, style: str) -> str:
    if style == "us":
        return f"{day.month:02d}/{day.day:02d}/{day.year}"
    if style == "us_short":
        return f"{day.month}/{day.day}/{day.year}"
    if style == "iso":
        return day.isoformat()
    if style == "compact":
        return day.strftime("%Y%m%d")
    if style == "long":
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    if style == "dmy":
        return f"{day.day:02d}-{MONTHS[day.month - 1][:3]}-{day.year}"
    if style == "dash":
        return f"{day.month:02d}-{day.day:02d}-{day.year}"
    raise ValueError("unknown date style")


def phone_digits(rng: random.Random) -> str:
    return rng.choice(AREA_CODES) + str(rng.randint(2, 9)) + f"{rng.randint(0, 99):02d}" + f"{rng.randint(0, 9999):04d}"


def format_phone(number: str, style: str) -> str:
    a, b, c = number[:3], number[3:6], number[6:]
    return {
        "paren": f"({a}) {b}-{c}",
        "paren_tight": f"({a}){b}-{c}",
        "dash": f"{a}-{b}-{c}",
        "dot": f"{a}.{b}.{c}",
        "intl": f"+1 {a} {b} {c}",
        "one": f"1-{a}-{b}-{c}",
        "plain": number,
    }[style]


def email(rng: random.Random, first: str, last: str) -> str:
    first_a, last_a = ascii_fold(first).lower().replace(" ", ""), ascii_fold(last).lower().replace(" ", "")
    local = rng.choice(
        (f"{first_a}.{last_a}", f"{first_a[0]}{last_a}", f"{first_a}{last_a[:1]}", f"{last_a}.{first_a}")
    )
    if rng.random() < 0.4:
        local += str(rng.randint(1, 99))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def ip_address(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.1:
        groups = ["2600", "1f18", *(f"{rng.randint(0, 0xFFFF):x}" for _ in range(6))]
        return ":".join(groups)
    if roll < 0.3:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if roll < 0.4:
        return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    first = rng.choice((24, 38, 45, 50, 63, 66, 68, 71, 73, 76, 98, 104, 107, 142, 166, 172, 173, 184, 198, 207))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def street(rng: random.Random, upper: bool = False) -> str:
    line = f"{rng.randint(1, 9899)} {rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}"
    if rng.random() < 0.25:
        line += " " + rng.choice(UNITS).format(n=rng.randint(1, 420), l=rng.choice("ABCDEF"))
    return line.upper() if upper else line


def city(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(CITIES)


def zip_code(rng: random.Random, prefix: str, plus4: bool | None = None, dash: bool = True) -> str:
    base = prefix + f"{rng.randint(1, 99):02d}"
    if plus4 is None:
        plus4 = rng.random() < 0.25
    if plus4:
        return base + ("-" if dash else "") + f"{rng.randint(1, 9999):04d}"
    return base
