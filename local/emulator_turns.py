"""One request at a time inside the emulator, the API's first.

moto is not written for concurrent requests: its backends are plain dicts and lists, and a
conditional write checks and then writes in two steps. The emulator therefore runs one request
at a time. Who goes next matters too: the API and the consumers share this one emulator (on AWS
they scale apart), and with the consumers draining a backlog an API call waited behind theirs
(measured: a 3.4 ms PutItem took 8.5 ms at the median and 56 ms at p95 while the consumers
drained a backlog; moto's threads passing the GIL among themselves added most of it). So a
*foreground* request (the API's port) always goes before a waiting *background* one (the
consumers' port); a background request that has waited ``AGE_SECONDS`` is served as foreground,
so the consumers slow down under load but never wait past their timeouts.

A request that blocks (an SQS long poll) gives up its turn while it waits: ``suspended()``.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

AGE_SECONDS = 0.5


class Turns:
    def __init__(self, age_seconds: float = AGE_SECONDS):
        self._age = age_seconds
        self._lock = threading.Lock()
        self._foreground = threading.Condition(self._lock)
        self._background = threading.Condition(self._lock)
        self._held = False
        self._waiting_foreground = 0
        self._waiting_background = 0
        self._mine = threading.local()

    def acquire(self, foreground: bool) -> None:
        with self._lock:
            if not foreground and not self._held and not self._waiting_foreground:
                self._held = True  # nobody ahead: no need to queue
            elif not foreground and self._wait_background():
                pass
            else:
                self._waiting_foreground += 1
                try:
                    while self._held:
                        self._foreground.wait()
                finally:
                    self._waiting_foreground -= 1
                self._held = True
        self._mine.foreground = foreground

    def _wait_background(self) -> bool:
        """Wait as background, up to the age limit; True if the turn was taken."""
        deadline = time.monotonic() + self._age
        self._waiting_background += 1
        try:
            while self._held or self._waiting_foreground:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False  # aged: queue as foreground
                self._background.wait(remaining)
        finally:
            self._waiting_background -= 1
        self._held = True
        return True

    def release(self) -> None:
        with self._lock:
            self._held = False
            if self._waiting_foreground:
                self._foreground.notify()
            elif self._waiting_background:
                self._background.notify()

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
        """Give up the current thread's turn while it blocks, then take one again. Outside a
        turn (a caller that took none) it does nothing."""
        foreground = getattr(self._mine, "foreground", None)
        if foreground is None:
            yield
            return
        self.release()
        try:
            yield
        finally:
            self.acquire(foreground)
