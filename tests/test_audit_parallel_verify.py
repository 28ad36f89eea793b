"""The audit tamper suite again, with verification forced onto the range-parallel path (ranges of 4 positions):
every tampering must still be detected, and an untouched log must verify through the ranges themselves (not only
through the serial fallback)."""

from __future__ import annotations

from typing import Any

import pytest

from claimvault.security.audit import verify
from tests import test_audit_log as base
from tests.test_audit_log import Log, log  # noqa: F401 - the fixture the re-used tests take

SMALL_RANGE_BITS = 2


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "PARALLEL_MIN", 1)
    monkeypatch.setattr(verify, "RANGE_BITS", SMALL_RANGE_BITS)


for _name in dir(base):
    if _name.startswith("test_") and "log" in base.__dict__[_name].__code__.co_varnames:
        globals()[_name] = base.__dict__[_name]


def test_an_untouched_log_verifies_through_the_ranges(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    used: list[Any] = []
    real = verify._verify_in_ranges

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        used.append(result)
        return result

    monkeypatch.setattr(verify, "_verify_in_ranges", spy)
    base.test_untouched_log_verifies_with_checkpoints(log)
    if not verify._can_split(log.runtime.db):
        pytest.skip("this backend's test database cannot be read from worker processes")
    assert used and all(r is not None for r in used)
