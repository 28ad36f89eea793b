"""Observability: structured logging with redaction, and the per-request context that logs carry."""
