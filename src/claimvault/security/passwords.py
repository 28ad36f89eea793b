"""Password hashing with Argon2id. Parameters are configuration; a stored hash is upgraded at login when they
change. Password rules (length, blocklists, feedback) belong to the identity work and build on this."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHashing:
    def __init__(self, *, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when a username does not exist, so that timing does not reveal which usernames do.
        self._dummy = self._hasher.hash("claimvault-dummy-password-for-timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        """Return (matches, needs_rehash). A missing hash still costs one verification."""
        try:
            self._hasher.verify(stored_hash or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored_hash is None:
            return False, False
        return True, self._hasher.check_needs_rehash(stored_hash)
