"""Storage: the declarative base, engines for SQLite and PostgreSQL, tenant-scoped sessions and migrations."""
