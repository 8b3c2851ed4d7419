"""``orders republish``: publish stored orders again, all or those created since a time.

The backfill of the outbox, for orders written before the Orders table had its stream, or
whose stream records aged out (24 h) while the publisher could not publish them. It reads the
table (a paginated scan), turns each item into its ``OrderCreated`` exactly as the publisher
does, and publishes ten to a ``PublishBatch``. The consumers deduplicate, so publishing an order
that was already published is harmless. Works against ``orders up`` and against AWS alike.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from api.outbox import NotAnOrder, event_from_record
from api.publisher import MAX_ENTRIES, EventPublisher
from contracts.events import OrderCreated
from contracts.types import format_timestamp
from local.aws.resources import ResourceNames
from runtime.aws import AwsClients
from runtime.retry import RetryPolicy

PAGE_SIZE = 100


class RepublishFailed(Exception):
    """Said in one line: what could not be done."""


@dataclass
class Republished:
    published: int = 0
    failed: int = 0  # SNS refused them: run the command again
    not_orders: int = 0  # items that can never become an event: fix them, then run again


async def topic_arn(clients: AwsClients, names: ResourceNames) -> str:
    sns = await clients.sns()
    suffix = f":{names.topic}"
    async for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].endswith(suffix):
                return topic["TopicArn"]
    raise RepublishFailed(f"no topic named {names.topic} at this endpoint")


async def _items(clients: AwsClients, table: str, since: datetime | None) -> AsyncIterator[Any]:
    dynamodb = await clients.dynamodb()
    query: dict[str, Any] = {"TableName": table, "ConsistentRead": True, "Limit": PAGE_SIZE}
    if since is not None:
        query |= {
            "FilterExpression": "CreatedAt >= :since",
            "ExpressionAttributeValues": {":since": {"S": format_timestamp(since)}},
        }
    async for page in dynamodb.get_paginator("scan").paginate(**query):
        for item in page.get("Items", []):
            yield item


async def republish(
    clients: AwsClients, names: ResourceNames, since: datetime | None, out: TextIO
) -> Republished:
    publisher = EventPublisher(await clients.sns(), await topic_arn(clients, names), RetryPolicy())
    result = Republished()
    pending: list[OrderCreated] = []

    async def flush() -> None:
        outcomes = await publisher.publish(pending)
        for event, outcome in zip(pending, outcomes, strict=True):
            if outcome is None:
                result.published += 1
            else:
                result.failed += 1
                print(f"not published: order {event.order_id}: {outcome.reason}", file=out)
        pending.clear()

    async for item in _items(clients, names.orders_table, since):
        try:
            pending.append(event_from_record({"dynamodb": {"NewImage": item}}))
        except NotAnOrder as bad:
            result.not_orders += 1
            key = item.get("OrderId", {}).get("S", "?")
            print(f"skipped: item {key!r} is {bad.reason}", file=out)
        if len(pending) >= MAX_ENTRIES:
            await flush()
    if pending:
        await flush()
    return result
