"""Poison messages: bodies that are not a valid ``OrderCreated`` event.

Retrying them cannot help, so they go straight to the dead-letter queue (sent there, then the
record reports success and SQS deletes it from the source queue) instead of burning three
receives first. Their raw body is logged, with email addresses masked by the log formatter.
"""

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from contracts.events import ORDER_CREATED_MODELS, OrderCreated
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageAttributeValueTypeDef

MAX_LOGGED_BODY = 4096


class PoisonMessage(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_event(body: str, reads: frozenset[int]) -> OrderCreated:
    """The event in an SQS body, read by the model of its ``schemaVersion`` if it is one of
    ``reads``; otherwise ``PoisonMessage`` saying why there is none."""
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise PoisonMessage(f"not a valid OrderCreated event: not JSON ({exc})") from None
    version = envelope.get("schemaVersion") if isinstance(envelope, dict) else None
    # An int, not a bool (True == 1), a list or anything else a hostile body may hold.
    model = ORDER_CREATED_MODELS.get(version) if type(version) is int and version in reads else None
    if model is None:
        raise PoisonMessage(
            f"not a valid OrderCreated event: schemaVersion {version!r} is not one this "
            f"consumer reads ({', '.join(map(str, sorted(reads)))})"
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[:5]
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in first)
        raise PoisonMessage(f"not a valid OrderCreated event: {reason}") from None


class DeadLetterForwarder:
    def __init__(self, client: "SQSClient", dlq_url: str, retry: RetryPolicy, logger: Logger):
        self._client = client
        self._dlq_url = dlq_url
        self._retry = retry
        self._logger = logger

    async def forward(
        self, message_id: str, body: str, attributes: dict[str, Any], reason: str
    ) -> None:
        self._logger.error(
            "poison message moved to the dead-letter queue",
            extra={
                "messageId": message_id,
                "reason": reason,
                "rawBody": body[:MAX_LOGGED_BODY],
                "bodyTruncated": len(body) > MAX_LOGGED_BODY,
            },
        )
        # SQS allows 10 attributes a message; two are ours.
        forwarded: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": value["dataType"], "StringValue": value["stringValue"]}
            for name, value in list(attributes.items())[:8]
            if value.get("stringValue") is not None
        }
        forwarded["deadLetterReason"] = {"DataType": "String", "StringValue": reason[:1024]}
        forwarded["sourceMessageId"] = {"DataType": "String", "StringValue": message_id}
        await self._retry.call(
            "sqs.SendMessage",
            lambda: self._client.send_message(
                QueueUrl=self._dlq_url, MessageBody=body, MessageAttributes=forwarded
            ),
        )
