"""The throttle policy (free failures, doubling backoff, cap, one lockout per crossing, decay, clearing) on both
limiters, the in-memory limiter's thread safety and bound, and Redis key naming, expiry and failure mode."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from claimvault.errors import ConfigurationError
from claimvault.security.throttle import (
    REDIS_PREFIX,
    KeyState,
    MemoryLimiter,
    RedisLimiter,
    Throttled,
    ThrottlePolicy,
    ThrottleUnavailable,
    build_limiter,
    mfa_keys,
    password_keys,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
ACCT, IP = password_keys("alice", "192.0.2.7")


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0, socket_timeout=2.0)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}; the Redis limiter tests need it (CI runs them)")
    return client


@pytest.fixture
def redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """A Redis client and a key prefix of this test's own; its keys are deleted afterwards."""
    client = _redis_client()
    prefix = f"{REDIS_PREFIX}test-{uuid.uuid4().hex}:"
    try:
        yield client, prefix
    finally:
        names = list(client.scan_iter(match=f"{prefix}*"))
        if names:
            client.delete(*names)
        client.close()


Factory = Callable[..., Any]


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Factory:
    """Builds a limiter of the parametrized kind with the given policy and clock."""
    if request.param == "memory":
        return lambda policy=None, clock=None: MemoryLimiter(policy=policy, clock=clock or FakeClock())
    client, prefix = request.getfixturevalue("redis_prefix")
    return lambda policy=None, clock=None: RedisLimiter(
        client, policy=policy, clock=clock or FakeClock(), prefix=prefix
    )


def fail(limiter: Any, keys: list[str], times: int) -> list[bool]:
    return [limiter.failed(keys) for _ in range(times)]


def retry_after(limiter: Any, keys: list[str]) -> int | None:
    try:
        limiter.check(keys)
    except Throttled as exc:
        return exc.retry_after
    return None


# The shared policy ------------------------------------------------------------------------------------------


def test_policy_backoff_table() -> None:
    policy = ThrottlePolicy()
    assert [policy.backoff(n) for n in range(0, 6)] == [0.0] * 6  # the first five failures are free
    assert [policy.backoff(n) for n in range(6, 11)] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert policy.backoff(14) == 512.0
    assert policy.backoff(15) == 900.0  # 1024 s capped at 15 minutes
    assert policy.backoff(10_000) == 900.0


def test_policy_lockout_and_decay_are_pure() -> None:
    policy = ThrottlePolicy(lockout_threshold=3, decay_seconds=3600)
    state: KeyState | None = None
    crossings = []
    for t in range(5):
        state, crossed = policy.record_failure(state, float(t))
        crossings.append(crossed)
    assert crossings == [False, False, True, False, False]
    assert state == KeyState(5, 4.0)
    assert policy.current_failures(state, 4.0 + 3599) == 5
    assert policy.current_failures(state, 4.0 + 3600) == 0
    assert policy.record_failure(state, 4.0 + 3600) == (KeyState(1, 3604.0), False)


@pytest.mark.parametrize(
    "kwargs",
    [{"free_failures": -1}, {"lockout_threshold": 0}, {"base_delay": 0}, {"max_delay": 0.5}, {"decay_seconds": 60}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        ThrottlePolicy(**kwargs)  # type: ignore[arg-type]


# Both limiters ----------------------------------------------------------------------------------------------


def test_first_failures_are_free(make_limiter: Factory) -> None:
    limiter = make_limiter()
    assert fail(limiter, [ACCT, IP], 5) == [False] * 5
    assert retry_after(limiter, [ACCT, IP]) is None
    assert limiter.failures(ACCT) == 5


def test_backoff_doubles_and_expires(make_limiter: Factory) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock=clock)
    fail(limiter, [ACCT], 6)
    assert retry_after(limiter, [ACCT]) == 2
    clock.advance(1.5)
    assert retry_after(limiter, [ACCT]) == 1  # rounded up, never 0
    clock.advance(0.5)
    assert retry_after(limiter, [ACCT]) is None
    limiter.failed([ACCT])
    assert retry_after(limiter, [ACCT]) == 4
    clock.advance(4)
    limiter.failed([ACCT])
    assert retry_after(limiter, [ACCT]) == 8


def test_backoff_is_capped(make_limiter: Factory) -> None:
    limiter = make_limiter()
    fail(limiter, [ACCT], 40)
    assert retry_after(limiter, [ACCT]) == 900


def test_custom_policy(make_limiter: Factory) -> None:
    clock = FakeClock()
    limiter = make_limiter(policy=ThrottlePolicy(free_failures=1, base_delay=10, max_delay=30), clock=clock)
    limiter.failed([ACCT])
    assert retry_after(limiter, [ACCT]) is None
    limiter.failed([ACCT])
    assert retry_after(limiter, [ACCT]) == 20
    fail(limiter, [ACCT], 3)
    assert retry_after(limiter, [ACCT]) == 30


def test_lockout_is_reported_once_per_crossing(make_limiter: Factory) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock=clock)
    results = fail(limiter, [ACCT, IP], 25)
    assert results.index(True) == 9  # the tenth failure
    assert results.count(True) == 1
    clock.advance(3600)  # quiet for the decay window: counting starts over, and a new lockout is reported
    again = fail(limiter, [ACCT, IP], 12)
    assert again.index(True) == 9
    assert again.count(True) == 1


def test_lockout_of_either_key_is_reported(make_limiter: Factory) -> None:
    limiter = make_limiter()
    fail(limiter, [IP], 9)
    assert limiter.failed([ACCT, IP]) is True  # the address crosses; the account is at 1
    assert limiter.failures(ACCT) == 1


def test_failures_decay_after_a_quiet_window(make_limiter: Factory) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock=clock)
    fail(limiter, [ACCT], 4)
    clock.advance(3000)
    fail(limiter, [ACCT], 3)  # the window runs from the latest failure
    clock.advance(3000)
    assert limiter.failures(ACCT) == 7
    assert retry_after(limiter, [ACCT]) is None  # the 4 s backoff is long over
    clock.advance(600)
    assert limiter.failures(ACCT) == 0
    assert fail(limiter, [ACCT], 5) == [False] * 5
    assert retry_after(limiter, [ACCT]) is None  # five free failures again


def test_either_key_in_backoff_refuses(make_limiter: Factory) -> None:
    limiter = make_limiter()
    fail(limiter, [ACCT], 6)
    fail(limiter, ["pw:ip:198.51.100.1"], 8)
    assert retry_after(limiter, [ACCT, "pw:ip:203.0.113.9"]) == 2
    assert retry_after(limiter, ["pw:acct:bob", "pw:ip:198.51.100.1"]) == 8
    assert retry_after(limiter, [ACCT, "pw:ip:198.51.100.1"]) == 8  # the longest wait wins
    assert retry_after(limiter, ["pw:acct:bob", "pw:ip:203.0.113.9"]) is None


def test_success_clears_only_the_given_keys(make_limiter: Factory) -> None:
    limiter = make_limiter()
    fail(limiter, [ACCT, IP], 6)
    limiter.succeeded([ACCT])
    assert limiter.failures(ACCT) == 0
    assert limiter.failures(IP) == 6
    assert retry_after(limiter, [ACCT]) is None
    assert retry_after(limiter, [ACCT, IP]) == 2  # the address stays in backoff
    limiter.succeeded([])


def test_password_and_mfa_keys_are_separate(make_limiter: Factory) -> None:
    limiter = make_limiter()
    pw = password_keys("alice", "192.0.2.7")
    mfa = mfa_keys("alice", "192.0.2.7")
    assert not set(pw) & set(mfa)
    fail(limiter, pw, 6)
    assert retry_after(limiter, mfa) is None
    assert password_keys("alice", None)[1] == "pw:ip:-"


def test_concurrent_failures_are_all_counted(make_limiter: Factory) -> None:
    limiter = make_limiter()
    threads, per_thread = 4, 30
    crossings: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        results = fail(limiter, [ACCT, IP], per_thread)
        with lock:
            crossings.extend(results)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert limiter.failures(ACCT) == limiter.failures(IP) == threads * per_thread
    assert crossings.count(True) == 1


# In memory --------------------------------------------------------------------------------------------------


def test_memory_limiter_is_thread_safe_under_load() -> None:
    limiter = MemoryLimiter(clock=FakeClock())
    threads, per_thread = 8, 2000
    locked = [0] * threads
    start = threading.Barrier(threads)

    def worker(i: int) -> None:
        start.wait()
        for j in range(per_thread):
            if limiter.failed([ACCT, f"pw:ip:10.0.{i}.{j % 50}"]):
                locked[i] += 1
            if j % 7 == 0:
                limiter.failures(ACCT)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert limiter.failures(ACCT) == threads * per_thread
    assert all(limiter.failures(f"pw:ip:10.0.{i}.{k}") == per_thread // 50 for i in range(threads) for k in range(50))
    # one crossing for each of the 400 addresses (40 failures each) and one for the account, which may
    # coincide with an address's crossing in the same call
    assert sum(locked) in (threads * 50, threads * 50 + 1)


def test_memory_limiter_is_bounded() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock, max_keys=100)
    fail(limiter, [ACCT], 6)
    for i in range(99):
        limiter.failed([f"pw:ip:10.0.0.{i}"])
    assert len(limiter) == 100
    limiter.failed(["pw:ip:10.0.1.1"])
    assert len(limiter) == 100
    assert limiter.failures(ACCT) == 0  # the key whose latest failure is oldest went first
    clock.advance(3600)
    limiter.failed(["pw:ip:10.9.9.9"])
    assert len(limiter) == 1  # decayed keys are purged


def test_memory_limiter_refreshes_order_on_failure() -> None:
    limiter = MemoryLimiter(clock=FakeClock(), max_keys=3)
    limiter.failed(["a"])
    limiter.failed(["b"])
    limiter.failed(["a"])
    limiter.failed(["c"])
    limiter.failed(["d"])
    assert limiter.failures("b") == 0
    assert limiter.failures("a") == 2


# Redis ------------------------------------------------------------------------------------------------------


def test_redis_keys_are_prefixed_hashed_and_expire(redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    limiter = RedisLimiter(client, prefix=prefix)
    secretish = "pw:acct:my password typed as a username"
    limiter.failed([secretish, IP])
    names = sorted(n.decode() for n in client.scan_iter(match=f"{prefix}*"))
    assert len(names) == 2
    assert all(n.startswith(prefix) for n in names)
    assert {n[len(prefix) :].rsplit(":", 1)[0] for n in names} == {"pw:acct", "pw:ip"}
    assert not any("password" in n or "192.0.2.7" in n for n in names)
    for name in names:
        assert 3500 < client.ttl(name) <= 3600
    limiter.succeeded([secretish])
    assert client.exists(limiter.redis_key(secretish)) == 0
    assert client.exists(limiter.redis_key(IP)) == 1


def test_redis_expiry_follows_the_decay_window(redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    limiter = RedisLimiter(client, prefix=prefix, policy=ThrottlePolicy(max_delay=60, decay_seconds=120))
    limiter.failed([ACCT])
    assert 0 < client.ttl(limiter.redis_key(ACCT)) <= 120
    client.expire(limiter.redis_key(ACCT), 500)
    limiter.failed([ACCT])  # each failure renews the expiry
    assert client.ttl(limiter.redis_key(ACCT)) <= 120


def test_redis_limiters_share_state(redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    one, two = RedisLimiter(client, prefix=prefix), RedisLimiter(client, prefix=prefix)
    fail(one, [ACCT], 3)
    fail(two, [ACCT], 3)
    assert retry_after(one, [ACCT]) == 2


def test_redis_prefix_must_be_ours() -> None:
    with pytest.raises(ConfigurationError):
        RedisLimiter(object(), prefix="other:")


def test_unreachable_redis_fails_closed_without_details() -> None:
    limiter = RedisLimiter.from_url("redis://:hunter2@127.0.0.1:1/0")
    for call in (limiter.check, limiter.failed, limiter.succeeded):
        with pytest.raises(ThrottleUnavailable) as info:
            call([ACCT])
        assert info.value.status_code == 503
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
        assert "hunter2" not in str(info.value) and "127.0.0.1" not in str(info.value)


# Wiring -----------------------------------------------------------------------------------------------------


def test_build_limiter() -> None:
    assert isinstance(build_limiter(backend="memory", redis_url=None), MemoryLimiter)
    limiter = build_limiter(backend="redis", redis_url=REDIS_URL)
    assert isinstance(limiter, RedisLimiter)
    assert limiter.prefix == REDIS_PREFIX
    with pytest.raises(ConfigurationError):
        build_limiter(backend="redis", redis_url=None)
    with pytest.raises(ConfigurationError):
        build_limiter(backend="carrier-pigeon", redis_url=None)
