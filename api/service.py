"""``OrderService``: a validated request becomes a stored order, in one conditional write.

The order item is the outbox: its stream record is published as ``OrderCreated`` by the order
publisher (``api.publisher_function``), so the request path publishes nothing and a 200 means
"stored; its event follows", whatever SNS is doing. A failed write stores nothing and so
publishes nothing. Everything, retries included, runs inside one time budget.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from api.idempotency import order_id_for_key, request_hash
from api.store import KeyConflict, OrderStore
from contracts.api import ACCEPTED_MESSAGE, OrderAccepted
from contracts.order import Order, OrderRequest, build_order
from runtime.retry import deadline_after


def utc_now_ms() -> datetime:
    """Now, to the millisecond: the precision ``createdAt`` is stored with."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_order_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Accepted:
    """200: ``body`` is the JSON of the response (the first one's, for a replay)."""

    order_id: str
    body: str
    replayed: bool


@dataclass(frozen=True)
class KeyReused:
    """422: the key was first used with another body."""


CreateOutcome = Accepted | KeyReused


class OrderService:
    def __init__(
        self,
        store: OrderStore,
        budget_seconds: float,
        clock: Callable[[], datetime] = utc_now_ms,
        new_id: Callable[[], str] = new_order_id,
    ):
        self._store = store
        self._budget = budget_seconds
        self._clock = clock
        self._new_id = new_id

    async def create(
        self, request: OrderRequest, key: str | None, caller: str = ""
    ) -> CreateOutcome:
        """Store the order; with a key, a repeat of the same body answers as the first did."""
        fingerprint = None if key is None else request_hash(request.model_dump_json())
        order_id = self._new_id() if key is None else order_id_for_key(key, caller)
        order = build_order(request, order_id, self._clock())
        with deadline_after(self._budget):
            async with asyncio.timeout(self._budget):
                try:
                    stored = await self._store.put_new(order, fingerprint)
                except KeyConflict:
                    return KeyReused()
        response = OrderAccepted.model_construct(
            order_id=stored.order.order_id,
            message=ACCEPTED_MESSAGE,
            created_at=stored.order.created_at,
        )
        return Accepted(
            order_id=stored.order.order_id,
            body=response.model_dump_json(by_alias=True),
            replayed=not stored.created,
        )

    async def get(self, order_id: str) -> Order | None:
        with deadline_after(self._budget):
            async with asyncio.timeout(self._budget):
                return await self._store.get(order_id)
