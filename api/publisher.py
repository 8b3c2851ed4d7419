"""``EventPublisher``: puts ``OrderCreated`` events on the OrderEvents topic, ten to a request.

The message is the event JSON itself (the subscriptions use raw delivery, so every SQS body is
exactly this text); ``eventType`` and ``schemaVersion`` ride along as message attributes so
subscribers could filter without parsing. ``PublishBatch`` takes up to 10 entries and 256 KiB
a request, and answers per entry: one entry can fail while the others are published.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.events import OrderCreated
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024


@dataclass(frozen=True)
class EntryFailed:
    """SNS refused one entry. ``permanent`` (SNS's ``SenderFault``): resending cannot help."""

    reason: str
    permanent: bool


def message_attributes(event: OrderCreated) -> dict[str, Any]:
    return {
        "eventType": {"DataType": "String", "StringValue": event.event_type},
        "schemaVersion": {"DataType": "Number", "StringValue": str(event.schema_version)},
    }


def _chunks(messages: Sequence[str]) -> list[list[int]]:
    """Indexes of ``messages`` in PublishBatch-sized groups (entries and bytes)."""
    groups: list[list[int]] = []
    size = 0
    for index, message in enumerate(messages):
        length = len(message.encode("utf-8")) + 200  # the attributes, generously
        if not groups or len(groups[-1]) == MAX_ENTRIES or size + length > MAX_REQUEST_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += length
    return groups


class EventPublisher:
    def __init__(self, client: "SNSClient", topic_arn: str, retry: RetryPolicy):
        self._client = client
        self._topic_arn = topic_arn
        self._retry = retry

    async def publish(self, events: Sequence[OrderCreated]) -> list[EntryFailed | None]:
        """Publish ``events``; for each, ``None`` when SNS accepted it, else why not.

        The requests go out together. One that fails as a whole (after bounded retries of
        transient errors) fails its entries as transient: the caller sends them again.
        """
        messages = [event.model_dump_json(by_alias=True) for event in events]
        outcome: list[EntryFailed | None] = [None] * len(events)

        async def send(group: list[int]) -> None:
            entries: list[Any] = [
                {
                    "Id": str(index),
                    "Message": messages[index],
                    "MessageAttributes": message_attributes(events[index]),
                }
                for index in group
            ]
            try:
                response = await self._retry.call(
                    "sns.PublishBatch",
                    lambda: self._client.publish_batch(
                        TopicArn=self._topic_arn, PublishBatchRequestEntries=entries
                    ),
                )
            except Exception as exc:
                for index in group:
                    outcome[index] = EntryFailed(f"{type(exc).__name__}: {exc}", permanent=False)
                return
            for failed in response.get("Failed", []):
                outcome[int(failed["Id"])] = EntryFailed(
                    reason=f"{failed.get('Code', '?')}: {failed.get('Message', '')}",
                    permanent=bool(failed.get("SenderFault")),
                )

        await asyncio.gather(*(send(group) for group in _chunks(messages)))
        return outcome
