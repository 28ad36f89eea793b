"""Payers and trading partners (clearinghouses), with encrypted transport credentials."""
