"""Brute-force protection: attempt throttling with exponential backoff, checked before any hash is computed.

One small interface (``AttemptLimiter``) with an in-memory implementation (single process, the embedded
default) and a Redis one (several processes). Password and MFA failures are counted under separate keys, per
account and per source address. Both implementations share one pure policy (``ThrottlePolicy``): the first
``free_failures`` failures of a key cost nothing; each further one imposes ``base_delay * 2**(failures -
free_failures)`` seconds of backoff (capped at ``max_delay``); reaching ``lockout_threshold`` failures is a
lockout (reported once); a key's failures are forgotten after ``decay_seconds`` without a new failure.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from claimvault.errors import ClaimVaultError, ConfigurationError

Clock = Callable[[], float]
REDIS_PREFIX = "claimvault:throttle:"


@dataclass(frozen=True)
class Throttled(Exception):
    """Too many recent failures for one of the keys; retry after ``retry_after`` seconds."""

    retry_after: int


class ThrottleUnavailable(ClaimVaultError):
    """The shared throttle store cannot be reached; logins are refused rather than left unthrottled."""

    status_code = 503
    code = "throttle_unavailable"

    def __init__(self) -> None:
        super().__init__("Login is temporarily unavailable. Try again shortly.")


class AttemptLimiter(Protocol):
    def check(self, keys: list[str]) -> None:
        """Raise ``Throttled`` if any key is in backoff. Called before any password or code is checked."""
        ...

    def failed(self, keys: list[str]) -> bool:
        """Count a failure for every key; return True when this failure locked one of them out."""
        ...

    def succeeded(self, keys: list[str]) -> None:
        """Clear the counters for these keys."""
        ...


class PermissiveLimiter:
    """Never throttles: for callers that are throttled elsewhere, and tests that are not about throttling."""

    def check(self, keys: list[str]) -> None:
        return None

    def failed(self, keys: list[str]) -> bool:
        return False

    def succeeded(self, keys: list[str]) -> None:
        return None


# The policy: pure functions of (state, now) shared by every implementation --------------------------------


@dataclass(frozen=True)
class KeyState:
    """What is stored per key: the failure count and when the latest failure happened (clock seconds)."""

    failures: int
    last_failure: float


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 5
    base_delay: float = 1.0
    max_delay: float = 15 * 60.0
    lockout_threshold: int = 10
    decay_seconds: float = 60 * 60.0

    def __post_init__(self) -> None:
        if self.free_failures < 0 or self.lockout_threshold < 1:
            raise ConfigurationError("Throttle thresholds must be positive.")
        if self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ConfigurationError("Throttle delays must be positive, and the cap at least the base delay.")
        if self.decay_seconds < self.max_delay:
            raise ConfigurationError("The throttle decay window must be at least the longest backoff.")

    def current_failures(self, state: KeyState | None, now: float) -> int:
        """Failures still counted at ``now``: all of them, or none after a quiet ``decay_seconds``."""
        if state is None or now - state.last_failure >= self.decay_seconds:
            return 0
        return state.failures

    def backoff(self, failures: int) -> float:
        """Seconds of backoff imposed by the ``failures``-th failure (0 while failures are free)."""
        excess = failures - self.free_failures
        if excess <= 0:
            return 0.0
        if excess >= 64:  # 2**64 seconds is past any cap; avoids huge floats
            return self.max_delay
        return min(self.max_delay, self.base_delay * 2.0**excess)

    def retry_after(self, state: KeyState | None, now: float) -> float:
        """Seconds until the key may be tried again (0: it may be tried now)."""
        failures = self.current_failures(state, now)
        if state is None or failures == 0:
            return 0.0
        return max(0.0, state.last_failure + self.backoff(failures) - now)

    def record_failure(self, state: KeyState | None, now: float) -> tuple[KeyState, bool]:
        """The state after one more failure, and whether this failure reached the lockout threshold."""
        before = self.current_failures(state, now)
        after = before + 1
        return KeyState(after, now), before < self.lockout_threshold <= after


def _retry_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def _unique(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(keys))


# In memory --------------------------------------------------------------------------------------------------


class MemoryLimiter:
    """Per-process limiter. Thread-safe (one lock); bounded: keys whose failures have decayed are purged, and
    beyond ``max_keys`` the key with the oldest latest failure is evicted. Uses a monotonic clock by default."""

    def __init__(
        self, *, policy: ThrottlePolicy | None = None, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._max_keys = max(1, max_keys)
        self._lock = threading.Lock()
        self._states: OrderedDict[str, KeyState] = OrderedDict()  # oldest latest-failure first

    def check(self, keys: list[str]) -> None:
        with self._lock:
            now = self._clock()
            wait = max((self.policy.retry_after(self._states.get(k), now) for k in keys), default=0.0)
        if wait > 0:
            raise Throttled(_retry_seconds(wait))

    def failed(self, keys: list[str]) -> bool:
        locked = False
        with self._lock:
            now = self._clock()
            self._purge(now)
            for key in _unique(keys):
                state, crossed = self.policy.record_failure(self._states.pop(key, None), now)
                self._states[key] = state  # re-inserted at the end: newest failure last
                locked = locked or crossed
            while len(self._states) > self._max_keys:
                self._states.popitem(last=False)
        return locked

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._states.pop(key, None)

    def failures(self, key: str) -> int:
        """Failures currently counted for ``key`` (for tests and operators)."""
        with self._lock:
            return self.policy.current_failures(self._states.get(key), self._clock())

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    def _purge(self, now: float) -> None:
        """Drop keys from the front whose failures have decayed (the order is by latest failure)."""
        while self._states:
            key, state = next(iter(self._states.items()))
            if now - state.last_failure < self.policy.decay_seconds:
                break
            del self._states[key]


# Redis ------------------------------------------------------------------------------------------------------


class RedisLimiter:
    """Limiter shared by several processes through Redis. Each key is a hash {n: failures, t: latest failure}
    that expires once its failures would have decayed. Failures are counted in an optimistic transaction
    (WATCH/MULTI, retried on conflict), so concurrent failures are never lost. Key names carry a digest of the
    key, never the typed username itself. Uses wall-clock time by default (shared between processes)."""

    def __init__(
        self,
        client: Any,
        *,
        policy: ThrottlePolicy | None = None,
        clock: Clock = time.time,
        prefix: str = REDIS_PREFIX,
    ) -> None:
        if not prefix.startswith(REDIS_PREFIX):
            raise ConfigurationError("Redis throttle keys must start with claimvault:throttle:.")
        self.policy = policy or ThrottlePolicy()
        self._client = client
        self._clock = clock
        self.prefix = prefix
        self._ttl = math.ceil(self.policy.decay_seconds)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLimiter:
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, **kwargs)

    def redis_key(self, key: str) -> str:
        parts = key.split(":", 2)
        kind = ":".join(parts[:2]) if len(parts) == 3 else "key"
        return f"{self.prefix}{kind}:{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}"

    def check(self, keys: list[str]) -> None:
        names = [self.redis_key(k) for k in keys]
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hmget(name, "n", "t")
                rows = pipe.execute()
        except redis.RedisError:
            # Fail closed. Nothing chained: a connection error's text can carry the Redis URL and password.
            raise ThrottleUnavailable from None
        now = self._clock()
        wait = max((self.policy.retry_after(_decode(row), now) for row in rows), default=0.0)
        if wait > 0:
            raise Throttled(_retry_seconds(wait))

    def failed(self, keys: list[str]) -> bool:
        names = _unique(self.redis_key(k) for k in keys)

        def count(pipe: Any) -> bool:
            now = self._clock()
            results = [self.policy.record_failure(_decode(pipe.hmget(name, "n", "t")), now) for name in names]
            pipe.multi()
            for name, (state, _) in zip(names, results, strict=True):
                pipe.hset(name, mapping={"n": state.failures, "t": repr(state.last_failure)})
                pipe.expire(name, self._ttl)
            return any(crossed for _, crossed in results)

        try:
            return bool(self._client.transaction(count, *names, value_from_callable=True))
        except redis.RedisError:
            raise ThrottleUnavailable from None

    def succeeded(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            self._client.delete(*(self.redis_key(k) for k in keys))
        except redis.RedisError:
            raise ThrottleUnavailable from None

    def failures(self, key: str) -> int:
        """Failures currently counted for ``key`` (for tests and operators)."""
        row = self._client.hmget(self.redis_key(key), "n", "t")
        return self.policy.current_failures(_decode(row), self._clock())


def _decode(row: list[Any]) -> KeyState | None:
    failures, last = row
    if failures is None or last is None:
        return None
    return KeyState(int(failures), float(last))


# Wiring -----------------------------------------------------------------------------------------------------


def password_keys(username: str, source_address: str | None) -> list[str]:
    return [f"pw:acct:{username}", f"pw:ip:{source_address or '-'}"]


def mfa_keys(user_id: str, source_address: str | None) -> list[str]:
    return [f"mfa:acct:{user_id}", f"mfa:ip:{source_address or '-'}"]


def build_limiter(*, backend: str, redis_url: str | None) -> AttemptLimiter:
    """The configured limiter with the default policy: ``memory`` (one process) or ``redis`` (shared)."""
    if backend == "memory":
        return MemoryLimiter()
    if backend == "redis":
        if not redis_url:
            raise ConfigurationError("CLAIMVAULT_REDIS_URL must be set when the throttle backend is redis.")
        return RedisLimiter.from_url(redis_url)
    raise ConfigurationError("CLAIMVAULT_THROTTLE_BACKEND must be memory or redis.")
