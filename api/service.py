"""``OrderService``: a validated request becomes a stored order and a published event.

The sequence is fixed by SPEC §3: write the order (conditional), then publish. A failed write
publishes nothing; a failed publish leaves the order stored and unpublished (the accepted gap of
SPEC §9), but a client retrying with the same ``Idempotency-Key`` resumes that very order and
publishes it. Everything, retries included, runs inside one time budget.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from api.idempotency import IdempotencyStore, InProgress, KeyReused, Proceed, Replay, request_hash
from api.observability import logger
from api.publisher import EventPublisher
from api.store import OrderStore
from contracts.api import ACCEPTED_MESSAGE, OrderAccepted
from contracts.events import OrderCreated
from contracts.order import Order, OrderRequest, build_order
from runtime.retry import deadline_after

CLEANUP_SECONDS = 3.0


def utc_now_ms() -> datetime:
    """Now, to the millisecond: the precision ``createdAt`` is stored with."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_order_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Accepted:
    """200: ``body`` is the JSON of the response (the stored first one, for a replay)."""

    order_id: str
    body: str
    replayed: bool


CreateOutcome = Accepted | KeyReused | InProgress


class OrderService:
    def __init__(
        self,
        store: OrderStore,
        publisher: EventPublisher,
        idempotency: IdempotencyStore,
        budget_seconds: float,
        clock: Callable[[], datetime] = utc_now_ms,
        new_id: Callable[[], str] = new_order_id,
    ):
        self._store = store
        self._publisher = publisher
        self._idempotency = idempotency
        self._budget = budget_seconds
        self._clock = clock
        self._new_id = new_id

    async def create(self, request: OrderRequest, key: str | None) -> CreateOutcome:
        reserved: Proceed | None = None
        try:
            with deadline_after(self._budget):
                async with asyncio.timeout(self._budget):
                    if key is None:
                        reserved = Proceed(self._new_id(), self._clock(), resumed=False)
                    else:
                        claim = await self._idempotency.claim(
                            key,
                            request_hash(request.model_dump_json()),
                            self._new_id(),
                            self._clock(),
                        )
                        if isinstance(claim, Replay):
                            return Accepted(order_id="", body=claim.body, replayed=True)
                        if not isinstance(claim, Proceed):
                            return claim
                        reserved = claim
                    order = build_order(request, reserved.order_id, reserved.created_at)
                    await self._store.put_new(order)
                    await self._publisher.publish(OrderCreated.from_order(order))
        except BaseException:
            if key is not None and reserved is not None:
                await self._release(key, reserved.order_id)
            raise
        response = OrderAccepted.model_construct(
            order_id=order.order_id, message=ACCEPTED_MESSAGE, created_at=order.created_at
        )
        if key is not None:
            await self._complete(key, order, response)
        if reserved.resumed:
            logger.info(
                "resumed an earlier attempt of this Idempotency-Key",
                extra={"orderId": order.order_id},
            )
        return Accepted(
            order_id=order.order_id, body=response.model_dump_json(by_alias=True), replayed=False
        )

    async def get(self, order_id: str) -> Order | None:
        with deadline_after(self._budget):
            async with asyncio.timeout(self._budget):
                return await self._store.get(order_id)

    async def _release(self, key: str, order_id: str) -> None:
        try:
            async with asyncio.timeout(CLEANUP_SECONDS):
                await self._idempotency.release(key, order_id)
        except Exception:
            # The lock runs out on its own; a retry then resumes this order.
            logger.warning(
                "could not release Idempotency-Key", exc_info=True, extra={"orderId": order_id}
            )

    async def _complete(self, key: str, order: Order, response: OrderAccepted) -> None:
        try:
            async with asyncio.timeout(CLEANUP_SECONDS):
                await self._idempotency.complete(key, order.order_id, response)
        except Exception:
            # The order is stored and published: answer 200. A retry after the lock runs out
            # resumes it and may publish it again, which the consumers deduplicate.
            logger.warning(
                "could not record Idempotency-Key response",
                exc_info=True,
                extra={"orderId": order.order_id},
            )
