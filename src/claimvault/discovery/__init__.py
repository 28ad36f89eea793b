"""Sensitive-data discovery: recognizers, validators, extractors and scanners for PHI, PII and payment data."""
