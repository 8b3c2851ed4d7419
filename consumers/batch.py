"""SQS batches with partial batch responses, on the container's own event loop.

Powertools' ``AsyncBatchProcessor`` does the record bookkeeping and builds
``batchItemFailures``. Its ``async_process`` runs ``asyncio.run()`` per batch unless
``LAMBDA_TASK_ROOT`` is set, which would close the loop the cached aioboto3 clients live on
(locally and in tests, where that variable is absent). ``LoopBoundBatchProcessor`` runs the
same per-record processing on the container's ``LoopRunner`` instead, bounds how many
records of a batch are in flight at once, and then runs the function's work for the whole
batch (``after_records``), before the batch is answered.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType

from runtime.loop import LoopRunner


class LoopBoundBatchProcessor(AsyncBatchProcessor):
    def __init__(
        self,
        runner: LoopRunner,
        max_concurrency: int,
        after_records: Callable[[], Awaitable[None]] | None = None,
    ):
        # Every record reported, even when all fail: the caller (Lambda's event-source
        # mapping, or the local poller) then retries exactly the listed ones.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._runner = runner
        self._max_concurrency = max_concurrency
        self._after_records = after_records

    def async_process(self) -> list[tuple[Any, ...]]:
        async def process_all() -> list[tuple[Any, ...]]:
            slots = asyncio.Semaphore(self._max_concurrency)

            async def one(record: dict[str, Any]) -> tuple[Any, ...]:
                async with slots:
                    outcome: tuple[Any, ...] = await self._async_process_record(record)
                    return outcome

            outcomes = list(await asyncio.gather(*(one(record) for record in self.records)))
            if self._after_records is not None:
                await self._after_records()
            return outcomes

        return self._runner.run(process_all())
