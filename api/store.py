"""``OrderStore``: the Orders table (PK ``OrderId``), written conditionally, never overwritten.

The table's stream (``NEW_IMAGE``) is the outbox: every item put here becomes an
``OrderCreated`` event (``api.outbox``), so one conditional ``PutItem`` stores the order and
queues its event atomically.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from api.order_items import order_from_item, order_item
from contracts.order import Order
from runtime.aws import error_code
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


REQUEST_HASH = "RequestHash"


class OrderAlreadyExists(Exception):
    """A different order already holds this ``OrderId``."""


class KeyConflict(Exception):
    """The ``Idempotency-Key`` behind this ``OrderId`` was first used with another body."""


@dataclass(frozen=True)
class Stored:
    """The order under its id; ``created`` is false when it was there before (a replay)."""

    order: Order
    created: bool


class OrderStore:
    def __init__(self, client: "DynamoDBClient", table_name: str, retry: RetryPolicy):
        self._client = client
        self._table = table_name
        self._retry = retry

    async def put_new(self, order: Order, request_hash: str | None = None) -> Stored:
        """Store ``order`` unless its id is taken, in one call whatever the outcome.

        Finding the very same order already there (a retried attempt whose first try did land)
        is success. With ``request_hash`` (the id came from an Idempotency-Key), an order stored
        under the same hash is the first answer's (a replay); under another hash, ``KeyConflict``.
        """
        item = order_item(order)
        if request_hash is not None:
            item[REQUEST_HASH] = {"S": request_hash}
        try:
            await self._retry.call(
                "dynamodb.PutItem",
                lambda: self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(OrderId)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = cast(dict[str, Any] | None, exc.response.get("Item"))
        else:
            return Stored(order, created=True)
        if existing is None:  # AWS returns it with ALL_OLD; read it where an emulator did not
            existing = await self._read(order.order_id)
            if existing is None:
                raise OrderAlreadyExists(order.order_id) from None
        stored = order_from_item(existing)
        # Compared as orders, not as items: DynamoDB normalises numbers ("0.30" → "0.3").
        if stored == order:
            return Stored(order, created=True)
        if request_hash is None:
            raise OrderAlreadyExists(order.order_id)
        if existing.get(REQUEST_HASH, {}).get("S") != request_hash:
            raise KeyConflict(order.order_id)
        return Stored(stored, created=False)

    async def get(self, order_id: str) -> Order | None:
        item = await self._read(order_id)
        return None if item is None else order_from_item(item)

    async def _read(self, order_id: str) -> dict[str, Any] | None:
        response = await self._retry.call(
            "dynamodb.GetItem",
            lambda: self._client.get_item(
                TableName=self._table, Key={"OrderId": {"S": order_id}}, ConsistentRead=True
            ),
        )
        item = response.get("Item")
        return None if item is None else dict(item)
