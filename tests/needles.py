"""Helpers for "this value does not appear" checks that use short needles.

A four-digit needle such as an SSN's last four can occur by chance inside a random UUID or
request id (about one time in two thousand per id). Checks strip those ids first, so they fail
only when the value itself leaks.
"""

from __future__ import annotations

import re

_HEX_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)


def without_ids(text: str) -> str:
    """``text`` with every UUID and 32-hex request id replaced by ``<id>``."""
    return _HEX_ID.sub("<id>", text)
