"""The outbox: DynamoDB stream records of the Orders table as ``OrderCreated`` events.

Pure functions, no AWS: the order publisher (``api.publisher_function``) and its tests use them.
Only ``INSERT`` records are orders being created; an item that cannot be read as an order (a
hand-edited item, schema drift) can never become an event, however often it is retried, so it
is reported as ``NotAnOrder`` for the poison queue instead of blocking the shard.
"""

from datetime import datetime
from typing import Any

from api.order_items import order_from_item
from contracts.events import OrderCreated

INSERT = "INSERT"
MAX_REASON = 1000


class NotAnOrder(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sequence_number(record: dict[str, Any]) -> str:
    """The record's position in its shard: what partial batch failures name."""
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def is_insert(record: dict[str, Any]) -> bool:
    return record.get("eventName") == INSERT


def event_from_record(record: dict[str, Any]) -> OrderCreated:
    """The ``OrderCreated`` event of an ``INSERT`` record's new image (``NEW_IMAGE`` stream).

    Equal to ``OrderCreated.from_order`` of the stored order: the same JSON the API published
    before the outbox existed. Raises ``NotAnOrder`` saying why there is none.
    """
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not isinstance(image, dict) or not image:
        raise NotAnOrder("the stream record has no NewImage (the stream must be NEW_IMAGE)")
    try:
        order = order_from_item(image)
    except KeyError as exc:
        raise NotAnOrder(f"not an order item: attribute {exc.args[0]} is missing") from None
    except Exception as exc:  # a wrong type anywhere in a hand-made item; the reason says which
        reason = f"not an order item: {type(exc).__name__}: {exc}"
        raise NotAnOrder(reason[:MAX_REASON]) from None
    return OrderCreated.from_order(order)


def lag_ms(event: OrderCreated, now: datetime) -> float:
    """From the order's creation (stored with it, to the millisecond) to ``now``."""
    return max(0.0, (now - event.created_at).total_seconds() * 1000)
