"""Pollers that drive the consumers from their queues, as Lambda's event-source mapping does:
long polling, a batch size and batching window, several batches in flight per queue.

Stopping is prompt and loses nothing: a long poll in progress is cancelled; messages that
arrived with it but were not handed to the function are made visible again at once; batches
already in a function are allowed to finish.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from local.lambda_runtime.event_source import BatchOutcome, SqsEventSource


@dataclass
class PollerStats:
    """Counts only, and the last error: a poller runs for days, nothing here grows."""

    batches: int = 0
    records: int = 0
    failed: int = 0  # records left on the queue (reported by the function, or a failed batch)
    failed_invocations: int = 0  # the function raised, timed out or died: the whole batch
    receive_errors: int = 0
    last_error: str | None = None


class QueuePoller:
    def __init__(
        self,
        source: SqsEventSource,
        concurrency: int = 2,
        wait_seconds: int = 20,
        window_seconds: float = 0.0,
        on_batch: Callable[[BatchOutcome], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ):
        self.source = source
        self.stats = PollerStats()
        self._concurrency = concurrency
        self._wait = wait_seconds
        self._window = window_seconds
        self._on_batch = on_batch
        self._on_error = on_error
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._concurrency)]

    async def _run(self) -> None:
        while not self._stopping.is_set():
            receive = asyncio.create_task(self.source.receive(self._wait, self._window))
            stop = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if receive not in done:
                receive.cancel()
                messages = []
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    messages = await receive  # it may have completed as it was cancelled
                await self.source.release(messages)
                return
            try:
                messages = receive.result()
            except Exception as exc:  # the emulator went away, a network blip: try again shortly
                self.stats.receive_errors += 1
                self._report(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
                continue
            if messages:
                outcome = await self.source.deliver(messages)
                self.stats.batches += 1
                self.stats.records += outcome.received
                self.stats.failed += len(outcome.failed)
                if outcome.error is not None:
                    self.stats.failed_invocations += 1
                    self._report(
                        f"invocation {self.stats.failed_invocations} failed, its "
                        f"{outcome.received} messages come back after the visibility timeout: "
                        f"{outcome.error}"
                    )
                if self._on_batch is not None:
                    self._on_batch(outcome)

    def _report(self, error: str) -> None:
        self.stats.last_error = error
        if self._on_error is not None:
            self._on_error(error)

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
