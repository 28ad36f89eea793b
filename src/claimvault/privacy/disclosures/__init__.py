"""Accounting of disclosures (45 CFR 164.528): records of disclosures of a patient's PHI, suspensions requested
by health oversight agencies and law enforcement, and the patient's six-year accounting as JSON and PDF."""
