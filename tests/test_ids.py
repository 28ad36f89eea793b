"""UUIDv7 identifiers: version and variant bits, time order within one process, and uniqueness under threads
(request threads and the audit sequencer generate ids at the same time)."""

from __future__ import annotations

import threading

from claimvault.ids import uuid7


def test_version_variant_and_order() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert ids == sorted(ids)  # monotonic within the process, even inside one millisecond
    assert len(set(ids)) == len(ids)


def test_unique_and_monotonic_per_thread_under_concurrency() -> None:
    per_thread: list[list[object]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def work(bucket: list[object]) -> None:
        start.wait()
        bucket.extend(uuid7() for _ in range(5_000))

    threads = [threading.Thread(target=work, args=(b,)) for b in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for bucket in per_thread for i in bucket]
    assert len(set(everything)) == len(everything) == 40_000
    for bucket in per_thread:
        assert bucket == sorted(bucket)  # type: ignore[type-var]
