"""Billing: patients, coverage, claims, X12, posting and statements."""
