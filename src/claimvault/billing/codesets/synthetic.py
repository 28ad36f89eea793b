"""Small synthetic code-set files, one in each accepted format, for tests and the demo (``claimvault demo seed``).

Seeded and generated here; nothing is copied from a licensed file. HCPCS Level II codes are public, so a few
common ones appear with short descriptors written for this module, next to invented codes; CPT lines carry the
codes and a placeholder descriptor (never the AMA's). PTP pairs and MUE limits are plausible but made up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from claimvault.billing.codesets.formats import Kind
from claimvault.billing.codesets.loader import LoadResult, load_code_set
from claimvault.security.context import AccessContext
from claimvault.storage.database import Database

# Codes the files hold, for generators of synthetic claims (these pass the scrubber's code checks).
CPT_CODES = (
    "99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215", "99385", "99386", "99395",
    "99396", "36415", "80053", "81002", "85025", "93000", "93005", "71046", "20605", "20610", "17110", "11102",
    "96372", "90471", "90686", "1036F", "0042T", "0001U",
)  # fmt: skip
HCPCS_CODES = {  # code: short descriptor (written here)
    "G0008": "Admin influenza vaccine",
    "G0009": "Admin pneumococcal vaccine",
    "G0402": "Initial preventive exam",
    "J1100": "Dexamethasone injection 1mg",
    "J3301": "Triamcinolone inj 10 mg",
    "A4206": "Syringe with needle 1 cc",
    "E0114": "Underarm crutches pair",
    "Q0091": "Obtaining screen pap smear",
}
HCPCS_ADDED_MIDYEAR = "G0136"  # added on July 1 of the file's year
HCPCS_TERMINATED = "G0101"  # terminated on March 31 of the file's year
# ICD-10-CM (no dot): billable codes and category headers of the synthetic order file.
ICD10CM_BILLABLE = (
    "E119", "E1165", "I10", "J069", "J029", "Z0000", "Z0001", "Z23", "M1711", "M1712", "R051", "R509", "K219",
    "N390", "F419", "E785", "M545", "R1084", "L700",
)  # fmt: skip
ICD10CM_HEADERS = ("E11", "J06", "J02", "Z00", "M17", "R05", "R50", "K21", "N39", "F41", "E78", "M54", "R10", "L70")
# (column 1, column 2, modifier indicator): a modifier may bypass the edit when the indicator is 1.
PTP_PAIRS = (
    ("20610", "99213", "1"),
    ("20610", "20605", "1"),
    ("93000", "93005", "0"),
    ("96372", "99211", "0"),
    ("17110", "11102", "1"),
    ("99214", "36415", "1"),
)
PTP_DELETED = ("99213", "81002", "1")  # deleted on April 1 of the file's year (in force before it)
PTP_MIDYEAR = ("99215", "85025", "1")  # effective July 1 of the file's year
PTP_RETRACTED = ("99212", "36415", "9")  # deleted retroactively: never in force
MUE_LIMITS = {  # code: (max units, adjudication indicator text)
    "99213": (1, "2 Date of Service Edit: Policy"),
    "36415": (2, "3 Date of Service Edit: Clinical"),
    "20610": (2, "2 Date of Service Edit: Policy"),
    "96372": (4, "1 Line Edit"),
    "93000": (1, "2 Date of Service Edit: Policy"),
    "J1100": (20, "3 Date of Service Edit: Clinical"),
    "G0008": (1, "2 Date of Service Edit: Policy"),
}


@dataclass(frozen=True)
class SyntheticFiles:
    hcpcs: Path  # CMS fixed-width record
    hcpcs_csv: Path  # CSV export of the xlsx layout
    cpt: Path  # licensed-file layout: code, tab, descriptor (a placeholder here)
    ptp: Path
    mue: Path
    icd10cm_order: Path


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _hcpcs_record(code: str, short: str, added: date, terminated: date | None, record_id: str = "3") -> str:
    long_description = f"Synthetic long descriptor for {code}"
    line = f"{code:<5}00100{record_id}{long_description:<80.80}{short:<28.28}"
    line = line.ljust(268) + _ymd(added) + _ymd(added) + (_ymd(terminated) if terminated else " " * 8) + "N"
    return line.ljust(320)


def write_synthetic_code_sets(directory: Path, *, year: int, seed: int = 2026) -> SyntheticFiles:
    """Write one file of each format under ``directory`` for code sets of ``year`` (ICD-10-CM: fiscal ``year``)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    jan1 = date(year, 1, 1)
    invented = sorted({f"A{rng.randint(9000, 9999)}" for _ in range(6)})
    hcpcs = {**HCPCS_CODES, **{code: f"Synthetic supply {i + 1}" for i, code in enumerate(invented)}}

    records = []
    for code, short in sorted(hcpcs.items()):
        records.append(_hcpcs_record(code, short, date(year - rng.randint(1, 15), 1, 1), None))
        if code == "G0402":
            records.append(f"{code}00200" + "4" + "continuation of the long descriptor".ljust(80))
    records.append(_hcpcs_record(HCPCS_ADDED_MIDYEAR, "Synthetic mid-year code", date(year, 7, 1), None))
    records.append(_hcpcs_record(HCPCS_TERMINATED, "Synthetic retired code", date(2001, 1, 1), date(year, 3, 31)))
    records.append("   GA00100" + "7" + "Synthetic modifier record".ljust(80))
    hcpcs_path = directory / f"HCPC{year}_synthetic_ANWEB.txt"
    hcpcs_path.write_text("\n".join(records) + "\n", encoding="utf-8")

    csv_lines = ["HCPC,SEQNUM,RECID,LONG DESCRIPTION,SHORT DESCRIPTION,ADD DT,ACT EFF DT,TERM DT,ACTION CD"]
    for code, short in sorted(hcpcs.items()):
        csv_lines.append(f'{code},00100,3,"Synthetic long descriptor",{short},{_ymd(jan1)},{_ymd(jan1)},,N')
    csv_lines.append(f"{HCPCS_TERMINATED},00100,3,Synthetic,Synthetic retired code,20010101,20010101,{year}0331,D")
    hcpcs_csv = directory / f"HCPC{year}_synthetic.csv"
    hcpcs_csv.write_text("\n".join(csv_lines) + "\n", encoding="utf-8")

    cpt_path = directory / f"cpt{year}_synthetic.txt"
    cpt_path.write_text(
        "".join(f"{code}\tSYNTHETIC PLACEHOLDER DESCRIPTOR {i + 1}\n" for i, code in enumerate(CPT_CODES)),
        encoding="utf-8",
    )

    ptp_lines = [
        "Synthetic NCCI-style practitioner PTP edits for testing (not CMS data)",
        "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date *=no data\t"
        "Modifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale",
    ]
    rationale = "Synthetic rationale"
    for column1, column2, modifier in PTP_PAIRS:
        start = date(year - rng.randint(1, 10), 1, 1)
        ptp_lines.append(f"{column1}\t{column2}\t\t{_ymd(start)}\t*\t{modifier}\t{rationale}")
    c1, c2, m = PTP_DELETED
    ptp_lines.append(f"{c1}\t{c2}\t*\t19960101\t{year}0401\t{m}\t{rationale}")
    c1, c2, m = PTP_MIDYEAR
    ptp_lines.append(f"{c1}\t{c2}\t\t{year}0701\t*\t{m}\t{rationale}")
    c1, c2, m = PTP_RETRACTED
    ptp_lines.append(f"{c1}\t{c2}\t\t{_ymd(jan1)}\t{_ymd(jan1)}\t{m}\t{rationale}")
    ptp_path = directory / f"ccipra_synthetic_{year}q1.txt"
    ptp_path.write_text("\n".join(ptp_lines) + "\n", encoding="utf-8")

    mue_lines = [
        '"Synthetic practitioner MUE values for testing, not CMS data."',
        '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"',
    ]
    mue_lines += [f'"{code}","{units}","{mai}","Synthetic rationale"' for code, (units, mai) in MUE_LIMITS.items()]
    mue_path = directory / f"mue_practitioner_synthetic_{year}q1.csv"
    mue_path.write_text("\n".join(mue_lines) + "\n", encoding="utf-8")

    order = sorted([(c, "1") for c in ICD10CM_BILLABLE] + [(c, "0") for c in ICD10CM_HEADERS])
    icd_lines = [
        f"{i + 1:05d} {code:<7} {flag} {'Synthetic short description':<60} Synthetic long description"
        for i, (code, flag) in enumerate(order)
    ]
    icd_path = directory / f"icd10cm-order-{year}-synthetic.txt"
    icd_path.write_text("\n".join(icd_lines) + "\n", encoding="utf-8")
    return SyntheticFiles(hcpcs_path, hcpcs_csv, cpt_path, ptp_path, mue_path, icd_path)


def load_synthetic_code_sets(
    *, db: Database, directory: Path, year: int, ctx: AccessContext | None = None
) -> list[LoadResult]:
    """Write and load the synthetic files for the demo: HCPCS, CPT, PTP and MUE in force from January 1 of
    ``year`` (open-ended), and an ICD-10-CM order file as fiscal ``year + 1`` (October 1 of ``year`` to
    September 30 of ``year + 1``), after the built-in release. Loading twice adds nothing."""
    files = write_synthetic_code_sets(directory, year=year)
    jan1 = date(year, 1, 1)
    fy = f"ICD-10-CM FY{year + 1} (synthetic)"
    loads: tuple[tuple[Kind, Path, date, date | None, str], ...] = (
        ("hcpcs", files.hcpcs, jan1, None, f"HCPCS {year} (synthetic)"),
        ("cpt", files.cpt, jan1, None, f"CPT {year} (synthetic)"),
        ("ncci_ptp", files.ptp, jan1, None, f"NCCI PTP {year} (synthetic)"),
        ("mue", files.mue, jan1, None, f"MUE {year} (synthetic)"),
        ("icd10cm", files.icd10cm_order, date(year, 10, 1), date(year + 1, 9, 30), fy),
    )
    return [
        load_code_set(db=db, kind=kind, path=path, effective_from=start, effective_to=end, label=label, ctx=ctx)
        for kind, path, start, end, label in loads
    ]
