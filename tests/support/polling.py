"""Waiting for an outcome in tests: bounded polling with backoff, never a fixed sleep."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], within: float = 20.0, max_pause: float = 0.5) -> T:
    """``probe()`` until it returns something truthy or ``within`` seconds pass; its last answer."""
    deadline, pause = time.monotonic() + within, 0.05
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(pause)
        pause = min(pause * 2, max_pause)
