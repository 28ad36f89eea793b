"""ICD-10-CM from the simple-icd-10-cm package: its one bundled release is a built-in version, in force for the
federal fiscal year it belongs to (October 1 of the year before to September 30).

The fiscal year is read from the name of the package's code list (``code-list-<Month>-<YYYY>.txt``): a release
dated October or later belongs to the next fiscal year. An April update belongs to the fiscal year that started
the October before, and is treated as in force for that whole year (codes it added on April 1 are accepted from
October 1: a known approximation; load the CMS order files to be exact). The package is imported only when a
diagnosis is first checked (it takes about two seconds to load).
"""

from __future__ import annotations

import re
import warnings
from datetime import date
from functools import cache
from importlib import metadata
from types import ModuleType

from claimvault.billing.codesets.formats import ICD10CM_RE, normalize_diagnosis
from claimvault.billing.codesets.interfaces import Status
from claimvault.billing.codesets.versions import VersionInfo

PACKAGE = "simple-icd-10-cm"
_CODE_LIST = re.compile(r"code-list-([A-Za-z]+)-(\d{4})\.txt$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
FALLBACK_RELEASE = (4, 2026)  # simple-icd-10-cm 1.5.0 bundles the April 2026 release


def _release() -> tuple[int, int]:
    """(month, year) of the bundled release."""
    for entry in metadata.files(PACKAGE) or []:
        found = _CODE_LIST.search(str(entry))
        if found and found.group(1)[:3].lower() in _MONTHS:
            return _MONTHS.index(found.group(1)[:3].lower()) + 1, int(found.group(2))
    return FALLBACK_RELEASE


def fiscal_year(month: int, year: int) -> int:
    return year + 1 if month >= 10 else year


@cache
def builtin_icd10cm_version() -> VersionInfo:
    month, year = _release()
    fy = fiscal_year(month, year)
    return VersionInfo(
        kind="icd10cm",
        label=f"ICD-10-CM FY{fy} (built-in)",
        effective_from=date(fy - 1, 10, 1),
        effective_to=date(fy, 9, 30),
        source_name=f"{PACKAGE} {metadata.version(PACKAGE)} ({_MONTHS[month - 1].title()} {year} release)",
        row_count=0,
    )


@cache
def _library() -> ModuleType:
    with warnings.catch_warnings():  # the package loads its data with deprecated importlib.resources calls
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

    return simple_icd_10_cm


def builtin_status(code: str) -> Status:
    """``valid`` for a billable code (a leaf), ``not_billable`` for a category or subcategory with children,
    ``invalid`` otherwise (unknown codes, chapters and blocks)."""
    normalized = normalize_diagnosis(code)
    if not ICD10CM_RE.match(normalized):
        return "invalid"
    cm = _library()
    if not cm.is_valid_item(normalized) or not cm.is_category_or_subcategory(normalized):
        return "invalid"
    return "valid" if cm.is_leaf(normalized) else "not_billable"
