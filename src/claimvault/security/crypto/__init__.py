"""Cryptography: the key provider (KEK), per-organization data keys, field encryption and blind indexes."""
