"""Coverages: a patient's insurance (rank, payer, member id, subscriber, effective dates), encrypted where it
identifies someone and reachable only through the PHI gate."""
