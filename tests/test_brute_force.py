"""Acceptance for brute-force protection: 10,000 wrong passwords against one account, first from one loopback
address and then from 249 (real source addresses 127.0.0.x), are refused before any hashing while other users
keep logging in; unknown usernames cost exactly the same Argon2 work as known ones; Argon2 concurrency is
capped with an immediate 429."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from claimvault.accounts.login import check_password
from claimvault.accounts.models import SecurityEvent
from claimvault.accounts.services import create_user
from claimvault.config import Settings
from claimvault.errors import AuthenticationRequired
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.hash_guard import HashGuard
from claimvault.security.throttle import MemoryLimiter
from claimvault.storage.database import Database
from claimvault.web.app import create_app
from claimvault.web.server import BackgroundServer
from tests.conftest import CHEAP_ARGON2, PASSWORD, World

LOGIN = "/api/v1/auth/login"
ATTEMPTS = 10_000


class StepClock:
    """The limiter's clock, advanced by the test: the attack is replayed over simulated minutes, exactly."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Http:
    """A minimal HTTP/1.1 keep-alive client on a socket bound to a chosen loopback source address."""

    def __init__(self, port: int, source: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.source = source
        self._buf = b""

    def login(self, username: str, password: str) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"username": username, "password": password}).encode()
        head = (
            f"POST {LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self._buf:
            self._recv()
        raw_head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self._buf) < length:
            self._recv()
        payload, self._buf = self._buf[:length], self._buf[length:]
        return status, json.loads(payload)

    def _recv(self) -> None:
        # Acknowledge at once: the test server's accepted sockets keep Nagle on, and uvicorn writes the head and
        # the body separately, so a delayed ACK would add ~40 ms to every response.
        if hasattr(socket, "TCP_QUICKACK"):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buf += chunk

    def close(self) -> None:
        self.sock.close()


def count_verify(runtime: Runtime) -> Counter[str]:
    """Wrap ``runtime.passwords.verify``; the counter tallies Argon2 verifications by the password tried."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    original = runtime.passwords.verify

    def verify(stored_hash: str | None, password: str) -> tuple[bool, bool]:
        with lock:
            calls[password.split("-")[0]] += 1
        return original(stored_hash, password)

    runtime.passwords.verify = verify  # type: ignore[method-assign]
    return calls


class Bystander(threading.Thread):
    """Another user logging in from its own address whenever the attacker hands it a token."""

    def __init__(self, port: int, username: str) -> None:
        super().__init__(daemon=True)
        self.http = Http(port, "127.0.0.251")
        self.username = username
        self.tokens: queue.Queue[bool] = queue.Queue()
        self.results: list[tuple[int, float]] = []

    def run(self) -> None:
        while self.tokens.get():
            start = time.perf_counter()
            status, _ = self.http.login(self.username, PASSWORD)
            self.results.append((status, time.perf_counter() - start))
        self.http.close()


def attack(
    conns: list[Http], username: str, clock: StepClock, bystander: Bystander, start: int
) -> tuple[Counter[int], Counter[str]]:
    """ATTEMPTS wrong passwords, round-robin over ``conns``; the clock moves 1 s every 100 attempts and the
    bystander logs in every 500."""
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    for i in range(ATTEMPTS):
        if i % 100 == 0 and (start or i):
            clock.now += 1.0
        if i % 500 == 250:
            bystander.tokens.put(True)
        status, body = conns[i % len(conns)].login(username, f"wrong-{start + i}")
        statuses[status] += 1
        codes[body["error"]["code"]] += 1
    return statuses, codes


def test_ten_thousand_wrong_passwords_are_throttled(runtime: Runtime, world: World, db: Database, backend: Any) -> None:
    if backend.name == "postgresql":
        pytest.skip("HTTP load test runs on SQLite only: the throttle is database-independent")
    assert isinstance(runtime.limiter, MemoryLimiter)  # what build_runtime wires by default
    clock = StepClock()
    runtime.limiter = MemoryLimiter(clock=clock)  # the same limiter with a clock the test moves
    hashes = count_verify(runtime)
    victim = world.member("acme", "biller")
    other = world.member("acme", "biller")
    app = create_app(settings=runtime.settings, runtime=runtime)

    with BackgroundServer(app, ssl_context=None) as server:
        bystander = Bystander(server.port, other.username)
        bystander.start()
        began = time.perf_counter()

        # 1. One address, 10,000 attempts over 100 simulated seconds. The account and the address are both
        # allowed 5 free failures, then one after each backoff: t=0 (6th: 2 s), t=2 (4 s), t=6 (8 s),
        # t=14 (16 s), t=30 (32 s; the 10th failure: lockout), t=62 (64 s). 11 hashed attempts in all.
        one = Http(server.port, "127.0.0.1")
        statuses, codes = attack([one], victim.username, clock, bystander, 0)
        assert statuses == {401: 11, 429: ATTEMPTS - 11}
        assert codes == {"invalid_credentials": 11, "too_many_attempts": ATTEMPTS - 11}
        assert hashes["wrong"] == 11
        # The right password is refused too while the account is in backoff, from any address.
        assert one.login(victim.username, PASSWORD)[0] == 429
        fresh = Http(server.port, "127.0.0.252")
        assert fresh.login(victim.username, PASSWORD)[0] == 429
        fresh.close()
        one.close()
        phase_one = time.perf_counter() - began

        # 2. 249 addresses, 10,000 attempts round-robin over 100 more simulated seconds. The per-account key
        # refuses them all before hashing except the one its backoff allows: t=126 (128 s, until t=254).
        many = [Http(server.port, f"127.0.0.{n}") for n in range(2, 251)]
        statuses, codes = attack(many, victim.username, clock, bystander, ATTEMPTS)
        assert statuses == {401: 1, 429: ATTEMPTS - 1}
        assert hashes["wrong"] == 12
        assert hashes["wrong"] <= 60
        assert many[-1].login(victim.username, PASSWORD)[0] == 429
        for conn in many:
            conn.close()
        elapsed = time.perf_counter() - began

        # 3. Password spraying from one address over many usernames: the address key stops it.
        sprayer = Http(server.port, "127.0.0.253")
        spray = Counter(sprayer.login(f"nobody{i}", f"spray-{i}")[0] for i in range(300))
        assert spray == {401: 6, 429: 294}
        assert hashes["spray"] == 6
        sprayer.close()

        # The bystander was answered throughout, concurrently with the attack, and is still answered after.
        bystander.tokens.put(False)
        bystander.join(timeout=30)
        assert [s for s, _ in bystander.results] == [200] * 40
        assert max(t for _, t in bystander.results) < 5.0
        after = Http(server.port, "127.0.0.251")
        assert after.login(other.username, PASSWORD)[0] == 200
        after.close()
        # Once the backoff is over, the owner gets in with the right password (and the account key clears).
        clock.now += 3600
        owner = Http(server.port, "127.0.0.252")
        assert owner.login(victim.username, PASSWORD)[0] == 200
        owner.close()

    assert hashes[PASSWORD.split("-")[0]] == 40 + 1 + 1
    with db.session(tenant_id=None) as s:
        locked = s.scalar(
            select(func.count())
            .select_from(SecurityEvent)
            .where(SecurityEvent.user_id == victim.user_id, SecurityEvent.kind == "login.locked")
        )
        failures = s.scalars(
            select(SecurityEvent.source_address).where(
                SecurityEvent.user_id == victim.user_id, SecurityEvent.outcome == "failure"
            )
        ).all()
    assert locked == 1  # one event for the lockout, not one per refused attempt
    # The server saw the real source addresses: 11 failures from 127.0.0.1, then attempt 2600 of phase 2,
    # made on connection 2600 % 249 = 110, i.e. from 127.0.0.112.
    assert Counter(failures) == {"127.0.0.1": 11, "127.0.0.112": 1}
    print(f"\n20,000 attack requests over HTTP: phase 1 {phase_one:.1f} s, both phases {elapsed:.1f} s")


# Unknown users cost the same -------------------------------------------------------------------------------


def test_unknown_user_does_the_same_hash_work_as_a_known_user(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = create_user(db=runtime.db, passwords=runtime.passwords, username="known.user", password=PASSWORD)
    assert known.username == "known.user"
    seen: list[str] = []
    real_verify = PasswordHasher.verify

    def recording(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        seen.append(hash if isinstance(hash, str) else hash.decode())
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", recording)
    outcomes = []
    for username in ("known.user", "unknown.user"):
        seen.clear()
        with pytest.raises(AuthenticationRequired) as info:
            check_password(
                db=runtime.db,
                passwords=runtime.passwords,
                limiter=MemoryLimiter(),
                hash_guard=HashGuard(1),
                username=username,
                password="not the password at all",
                source_address="192.0.2.1",
            )
        assert len(seen) == 1  # exactly one Argon2 verification
        outcomes.append((type(info.value), info.value.status_code, info.value.code, info.value.message, seen[0]))
    (known_type, *known_reply, known_hash), (unknown_type, *unknown_reply, unknown_hash) = outcomes
    assert known_type is unknown_type is AuthenticationRequired
    assert known_reply == unknown_reply == [401, "invalid_credentials", "Invalid username or password."]
    # Both are real Argon2id hashes with the same cost: the unknown user's is the dummy, not the known one's.
    assert known_hash.startswith("$argon2id$") and unknown_hash.startswith("$argon2id$")
    assert known_hash != unknown_hash
    assert extract_parameters(known_hash) == extract_parameters(unknown_hash)


# Argon2 concurrency cap -----------------------------------------------------------------------------------


def test_password_checks_beyond_the_cap_are_refused_at_once(backend: Any, settings: Settings, tmp_path: Path) -> None:
    capped = Settings(var_dir=settings.var_dir, max_concurrent_password_checks=1, **CHEAP_ARGON2)  # type: ignore[arg-type]
    # Two requests at once need two connections: on PostgreSQL a committed-mode database, not the shared one.
    with backend.database(tmp_path, committed=True) as db:
        runtime = build_runtime(capped, db=db, key_provider=LocalKeyring.create(capped.resolved_keyring_path))
        first = create_user(db=db, passwords=runtime.passwords, username="first.user", password=PASSWORD)
        create_user(db=db, passwords=runtime.passwords, username="second.user", password=PASSWORD)
        first_hash = first.password_hash
        entered, release = threading.Event(), threading.Event()
        original: Callable[[str | None, str], tuple[bool, bool]] = runtime.passwords.verify

        def blocking_verify(stored_hash: str | None, password: str) -> tuple[bool, bool]:
            if stored_hash == first_hash:
                entered.set()
                release.wait(timeout=30)
            return original(stored_hash, password)

        runtime.passwords.verify = blocking_verify  # type: ignore[method-assign]
        app = create_app(settings=runtime.settings, runtime=runtime)
        results: dict[str, tuple[int, str | None]] = {}

        def log_in(username: str) -> None:
            with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
                r = c.post(LOGIN, json={"username": username, "password": PASSWORD})
                results[username] = (r.status_code, r.json().get("error", {}).get("code"))

        holder = threading.Thread(target=log_in, args=("first.user",), daemon=True)
        second = threading.Thread(target=log_in, args=("second.user",), daemon=True)
        holder.start()
        try:
            assert entered.wait(timeout=30)  # the first login now holds the only slot
            started = time.perf_counter()
            second.start()
            second.join(timeout=5)
            waited = time.perf_counter() - started
            assert not second.is_alive(), "the second login waited instead of being refused at once"
        finally:
            release.set()
            holder.join(timeout=30)
            second.join(timeout=30)
        assert results == {"second.user": (429, "too_many_attempts"), "first.user": (200, None)}
        assert waited < 5.0
        # The slot is free again, and the refusal was not counted as a failed password.
        with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
            assert c.post(LOGIN, json={"username": "second.user", "password": PASSWORD}).status_code == 200
