"""Lambda's SQS event-source mapping, for one machine.

Receives a batch (long polling), hands the function a real-shaped SQS event, then deletes only
the records the function did not list in ``batchItemFailures``; the listed ones stay on the queue
and come back after the visibility timeout, so the queue's redrive policy moves them to the
dead-letter queue after its maxReceiveCount, exactly as on AWS. A function that fails (raises,
times out, dies) fails the whole batch, as Lambda does.
"""

import asyncio
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from local.lambda_runtime.container import Invoke
from runtime.lambda_context import LocalLambdaContext

MAX_WAIT_SECONDS = 20  # SQS's longest long poll

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef


def _message_attributes(message: "MessageTypeDef") -> dict[str, Any]:
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }


def sqs_event(messages: list["MessageTypeDef"], queue_arn: str) -> dict[str, Any]:
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": _message_attributes(message),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


@dataclass
class BatchOutcome:
    received: int = 0
    failed: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class SqsEventSource:
    client: "SQSClient"
    queue_url: str
    queue_arn: str
    invoke: Invoke
    function_name: str
    function_timeout: float
    batch_size: int = 10

    async def receive(
        self, wait_seconds: int = 0, window_seconds: float = 0.0
    ) -> list["MessageTypeDef"]:
        """Up to a batch of messages: one long poll, then, within the batching window, more
        long polls until the batch is full.

        Within the window each poll waits for the window's rest, rounded up to SQS's whole
        seconds (so a batch may start up to a second after its window), and returns as soon as
        a message arrives: about one receive per message at low traffic, as Lambda's pollers
        make. Polling again every few milliseconds instead made six receives per message at
        5 orders/s, each one billed on AWS. Cancelled (the poller stopping), it makes the
        messages it holds visible again."""
        messages = await self._receive(wait_seconds, self.batch_size)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window_seconds
        try:
            while messages and len(messages) < self.batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait = min(MAX_WAIT_SECONDS, math.ceil(remaining))
                try:
                    messages += await self._receive(wait, self.batch_size - len(messages))
                except (BotoCoreError, ClientError):
                    break  # the batch so far is delivered; the next poll meets the error
        except asyncio.CancelledError:
            await asyncio.shield(self.release(messages))
            raise
        return messages

    async def _receive(self, wait_seconds: int, count: int) -> list["MessageTypeDef"]:
        response = await self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    async def release(self, messages: list["MessageTypeDef"]) -> None:
        """Received but not handled (the poller is stopping): visible again at once."""
        for message in messages:
            await self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    async def poll_once(self, wait_seconds: int = 0) -> BatchOutcome:
        return await self.deliver(await self.receive(wait_seconds))

    async def deliver(self, messages: list["MessageTypeDef"]) -> BatchOutcome:
        """Invoke the function with the batch; delete what it did not report as failed."""
        if not messages:
            return BatchOutcome()
        outcome = BatchOutcome(received=len(messages))
        context = LocalLambdaContext(self.function_name, timeout_seconds=self.function_timeout)
        try:
            result = await self.invoke(sqs_event(messages, self.queue_arn), context)
            outcome.failed = [
                item["itemIdentifier"] for item in result.get("batchItemFailures", [])
            ]
        except Exception as exc:  # the whole invocation failed: every record stays on the queue
            outcome.error = f"{type(exc).__name__}: {exc}"
            outcome.failed = [message["MessageId"] for message in messages]
        done = [m for m in messages if m["MessageId"] not in set(outcome.failed)]
        if done:
            await self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        return outcome
