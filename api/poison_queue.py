"""``PoisonQueue``: where stream records go that can never become an event.

Retrying such a record cannot help and would hold up its shard (a stream is read in order), so
its whole record is sent to the OrderOutboxPoisonDLQ with the reason, logged, and the record is
then reported done. A person reads the queue, fixes the item and runs ``orders republish``.
"""

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

MAX_REASON = 1024
MAX_BODY_CHARS = 200_000  # SQS takes 256 KiB a message; an item may be 400 KB


def poison_body(record: dict[str, Any]) -> str:
    """The record as JSON; one too large for SQS is cut, its keys kept whole to find the item."""
    body = json.dumps(record, default=str)
    if len(body) <= MAX_BODY_CHARS:
        return body
    keys = (record.get("dynamodb") or {}).get("Keys")
    return json.dumps({"truncated": True, "keys": keys, "record": body[: MAX_BODY_CHARS // 2]})


class PoisonQueue:
    def __init__(self, client: "SQSClient", queue_url: str, retry: RetryPolicy, logger: Logger):
        self._client = client
        self._url = queue_url
        self._retry = retry
        self._logger = logger

    async def send(self, record: dict[str, Any], sequence_number: str, reason: str) -> None:
        body = poison_body(record)
        self._logger.error(
            "stream record is not an order: sent to the poison queue",
            extra={"sequenceNumber": sequence_number, "reason": reason, "rawRecord": body[:4096]},
        )
        await self._retry.call(
            "sqs.SendMessage",
            lambda: self._client.send_message(
                QueueUrl=self._url,
                MessageBody=body,
                MessageAttributes={
                    "deadLetterReason": {"DataType": "String", "StringValue": reason[:MAX_REASON]},
                    "sequenceNumber": {"DataType": "String", "StringValue": sequence_number or "?"},
                },
            ),
        )
