"""One event loop per Lambda container.

Lambda calls a sync handler; the async core runs on a loop created once and kept, so aioboto3
clients (and their connection pools) created on it stay usable across warm invocations.
``asyncio.run`` per invocation would close the loop and break every cached client with
"Event loop is closed".
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopRunner:
    """Runs coroutines to completion on a loop that outlives each call."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def renew(self) -> None:
        """A new loop in place of the old one, closed first (after a SnapStart restore: a loop
        and its selector must not be shared by the containers restored from one snapshot)."""
        self.close()
        self._loop = asyncio.new_event_loop()
