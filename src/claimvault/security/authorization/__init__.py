"""Authorization beyond roles: relationship rules (care assignments, service agreements), masking, row scopes."""
