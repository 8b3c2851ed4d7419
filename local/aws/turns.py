"""Turns inside the emulator: one request at a time, the API's first.

The emulator runs moto one request at a time (``local.aws.server``): on its event loop's
thread, or, for an SQS long poll that may block, on a thread of its own. ``Turns`` decides who
goes next among them. A *foreground* request (the API's port) goes before a waiting
*background* one (the consumers' port), unless the oldest background one has waited
``AGE_SECONDS``: the consumers slow down under ingest load but never wait past their timeouts.
The turn is handed straight to the next waiter on release, so a thread that releases and asks
again at once cannot jump the queue.

A request that blocks (a long poll waiting for messages) gives its turn away while it waits:
``suspended()``.
"""

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

AGE_SECONDS = 0.5


@dataclass
class _Waiter:
    foreground: bool
    since: float = field(default_factory=time.monotonic)
    given: threading.Event = field(default_factory=threading.Event)


class Turns:
    def __init__(self, age_seconds: float = AGE_SECONDS):
        self._age = age_seconds
        self._lock = threading.Lock()
        self._held = False
        self._foreground: deque[_Waiter] = deque()
        self._background: deque[_Waiter] = deque()
        self._mine = threading.local()

    @property
    def waiting(self) -> tuple[int, int]:
        """(foreground, background) waiters, for tests and diagnostics."""
        return len(self._foreground), len(self._background)

    def acquire(self, foreground: bool) -> None:
        with self._lock:
            if not self._held:  # nobody holds it, so nobody waits: take it
                self._held = True
                waiter = None
            else:
                waiter = _Waiter(foreground)
                (self._foreground if foreground else self._background).append(waiter)
        if waiter is not None:
            waiter.given.wait()
        self._mine.foreground = foreground

    def release(self) -> None:
        with self._lock:
            aged = self._background and time.monotonic() - self._background[0].since >= self._age
            if self._foreground and not aged:
                self._foreground.popleft().given.set()
            elif self._background:
                self._background.popleft().given.set()
            else:
                self._held = False

    @contextmanager
    def turn(self, foreground: bool) -> Iterator[None]:
        self.acquire(foreground)
        try:
            yield
        finally:
            self._mine.foreground = None
            self.release()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Give the current thread's turn away while it blocks, then wait for one again.
        Outside a turn (a caller that took none) it does nothing."""
        foreground = getattr(self._mine, "foreground", None)
        if foreground is None:
            yield
            return
        self.release()
        try:
            yield
        finally:
            self.acquire(foreground)
