"""Bounds the Argon2 work the server does under attack: at most N password checks run at once; callers
beyond that are refused at once (HTTP 429) instead of queueing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TooBusy(Exception):
    """Every password-check slot is taken; try again shortly."""


class HashGuard:
    def __init__(self, max_concurrent: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, max_concurrent))

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise TooBusy
        try:
            yield
        finally:
            self._slots.release()
