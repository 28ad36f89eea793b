"""The scrubber's rule table: every rule's id, severity, description, fix hint and check, in the order the
scrubber runs them. One rule id has one severity (a warning and an error about the same subject are two rules);
the README lists this table and the tests require a failing case for every entry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from claimvault.billing.claims.document import ClaimDocument, Finding
from claimvault.billing.claims.rules import codes, identity, money_dates, submission
from claimvault.billing.claims.rules.context import Issue, ScrubContext

Severity = Literal["error", "warning"]
Check = Callable[[ClaimDocument, ScrubContext], Iterable[Issue]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    description: str
    fix: str
    check: Check

    def run(self, claim: ClaimDocument, context: ScrubContext) -> list[Finding]:
        return [
            Finding(rule=self.id, severity=self.severity, message=issue.message, fix=self.fix, field=issue.field)
            for issue in self.check(claim, context)
        ]


RULES: tuple[Rule, ...] = (
    # Identity and identifiers
    Rule("ID-REQUIRED", "error", "Fields the 837P requires are present (provider, payer, subscriber, patient "
         "name, birth date, sex and address, at least one diagnosis and one line).",
         "Fill in the named field.", identity.check_required),
    Rule("ID-NPI", "error", "Every NPI is 10 digits with a valid check digit (Luhn over 80840).",
         "Correct the NPI from the provider's NPPES record.", identity.check_npi),
    Rule("ID-TAXONOMY", "error", "The billing provider has a taxonomy code; every taxonomy code is 10 characters "
         "ending in X.", "Enter the provider's taxonomy code from NPPES.", identity.check_taxonomy),
    Rule("ID-TAX-ID", "error", "The billing provider's tax id (EIN or SSN) is 9 digits.",
         "Enter the 9-digit tax id without dashes.", identity.check_tax_id),
    Rule("ID-PO-BOX", "error", "The billing provider and service facility addresses are street addresses, not "
         "post office boxes.", "Use the physical address; a P.O. box belongs in the pay-to address.",
         identity.check_po_box),
    Rule("ID-ZIP", "error", "The billing provider and service facility ZIP codes have 9 digits (ZIP+4); other "
         "ZIP codes have 5 or 9.", "Enter the full ZIP+4 (digits only).", identity.check_zip),
    Rule("ID-MEMBER-ID", "error", "The member id is a valid MBI for Medicare (filing indicator MA or MB), otherwise "
         "2 to 80 letters or digits.", "Copy the member id from the insurance card, without spaces or dashes.",
         identity.check_member_id),
    # Codes
    Rule("CODE-DX-COUNT", "error", "A claim carries at most 12 diagnoses.",
         "Keep the 12 diagnoses the lines need; split the claim if more are needed.", codes.check_diagnosis_count),
    Rule("CODE-DX-BILLABLE", "error", "Every diagnosis is a valid, billable ICD-10-CM code on its dates of service.",
         "Code to the highest specificity valid on the date of service.", codes.check_diagnosis_billable),
    Rule("CODE-DX-VERSION", "error", "An ICD-10-CM version covers every date of service (no version: the code "
         "cannot be checked, so the claim is held).", "Load the ICD-10-CM release in force on the date of service.",
         codes.check_diagnosis_version),
    Rule("CODE-DX-POINTER", "error", "Each line has 1 to 4 distinct diagnosis pointers, each 1-12 and pointing at "
         "an existing diagnosis.", "Point the line at the diagnoses that support it.", codes.check_diagnosis_pointers),
    Rule("CODE-PROC-FORMAT", "error", "Each procedure code has a CPT (5 characters) or HCPCS Level II (letter and "
         "4 digits) format.", "Correct the procedure code.", codes.check_procedure_format),
    Rule("CODE-PROC-VALID", "error", "Each procedure code is valid on its date of service, where a code file is "
         "loaded.", "Use a procedure code in effect on the date of service.", codes.check_procedure_valid),
    Rule("CODE-PROC-VERSION", "warning", "A loaded procedure code file covers every date of service.",
         "Load the procedure code release in force on the date of service.", codes.check_procedure_version),
    Rule("CODE-MODIFIER", "error", "Each line has at most 4 distinct modifiers of two upper-case letters or digits.",
         "Correct or remove the modifier.", codes.check_modifiers),
    Rule("CODE-NCCI-PTP", "error", "No NCCI procedure-to-procedure pair on one date of service, unless the edit "
         "allows a modifier and a bypass modifier is present.",
         "Remove the column-two code, or append a bypass modifier (59, XE, XS, XP, XU, ...) where the edit allows "
         "it and the documentation supports it.", codes.check_ncci_ptp),
    Rule("CODE-NCCI-BYPASS", "warning", "An NCCI procedure pair that allows a modifier is bypassed by one.",
         "Confirm the documentation supports the bypass modifier.", codes.check_ncci_bypass),
    Rule("CODE-MUE", "error", "Units stay within the NCCI medically unlikely edit: per line (MAI 1) or summed per "
         "date of service (MAI 2 and 3).", "Reduce the units to the MUE limit or document an appeal.",
         codes.check_mue),
    Rule("CODE-POS", "error", "The claim and line places of service are CMS place-of-service codes.",
         "Use a two-digit CMS place-of-service code.", codes.check_place_of_service),
    # Money and dates
    Rule("MONEY-TOTAL", "error", "The claim total charge equals the sum of the line charges.",
         "Recompute the total charge from the lines.", money_dates.check_total),
    Rule("MONEY-CHARGE", "error", "The total and every line charge are positive amounts in cents.",
         "Enter a positive charge.", money_dates.check_charges),
    Rule("MONEY-UNITS", "error", "Every line has positive units.", "Enter the units billed.", money_dates.check_units),
    Rule("DATE-FUTURE", "error", "No service date is in the future.",
         "Bill the service after it is performed.", money_dates.check_future),
    Rule("DATE-BIRTH", "error", "No service date is before the patient's birth (and the birth date is not in the "
         "future).", "Check the patient's birth date and the service dates.", money_dates.check_birth),
    Rule("DATE-RANGE", "error", "Each line's service dates are in order (from <= to).",
         "Swap or correct the service dates.", money_dates.check_range),
    # Submission
    Rule("SUB-DUPLICATE", "error", "No other live claim has the same patient, payer, billing provider and services "
         "(a replacement or void is never a duplicate of the claim it replaces).",
         "Void or replace the existing claim instead of submitting a new one.", submission.check_duplicate),
    Rule("SUB-ORIGINAL-REF", "error", "A replacement (7) or void (8) claim carries the payer's original claim number.",
         "Enter the payer claim control number of the original claim.", submission.check_original_reference),
    Rule("SUB-STRAY-REF", "warning", "An original (1) claim carries no original claim number.",
         "Remove the original reference, or set the frequency to 7 or 8.", submission.check_stray_reference),
    Rule("SUB-TIMELY", "error", "The claim is submitted within the payer's timely-filing limit, counted from the "
         "earliest service date.", "Submit with proof of timely filing or write the claim off.",
         submission.check_timely_filing),
    Rule("SUB-TIMELY-NEAR", "warning", "The payer's timely-filing limit is 15 days away or fewer.",
         "Submit the claim now.", submission.check_timely_filing_near),
)  # fmt: skip

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Rule", "Severity"]
