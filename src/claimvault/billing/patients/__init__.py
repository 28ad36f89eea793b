"""Patients: demographics held encrypted, reachable only through the PHI gate."""
