"""HTTP API routers. Interfaces only: they parse input, build the access context and call domain services."""
