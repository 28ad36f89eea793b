"""The ``claimvault`` command line (Typer + Rich)."""
