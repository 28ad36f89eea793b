"""Security core: access contexts, the access policy, the PHI gate, field encryption and the audit record."""
