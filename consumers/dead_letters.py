"""Dead-letter queue operations: list the messages of a DLQ, and redrive them to their source.

Redrive uses SQS ``StartMessageMoveTask`` where the endpoint has it (AWS). Elsewhere (moto,
some emulators) it moves messages itself: receive from the DLQ, send to the source queue, and
delete from the DLQ only once the send is confirmed, so nothing is lost. If the process stops
between send and delete, that message is sent again on the next redrive; both consumers
recognise a redelivered event, so it is not processed twice.
"""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from runtime.aws import error_code

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

LIST_VISIBILITY_SECONDS = 10
MOVE_VISIBILITY_SECONDS = 60


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    receive_count: int
    attributes: dict[str, str]


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    method: str  # "StartMessageMoveTask" or "receive-send-delete"


def _forwardable(message: "MessageTypeDef") -> dict[str, "MessageAttributeValueTypeDef"]:
    return {
        name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value and name not in ("deadLetterReason", "sourceMessageId")
    }


class DeadLetterQueue:
    def __init__(
        self, client: "SQSClient", dlq_url: str, dlq_arn: str, source_url: str, source_arn: str
    ):
        self._client = client
        self.dlq_url = dlq_url
        self.dlq_arn = dlq_arn
        self.source_url = source_url
        self.source_arn = source_arn
        self.fallback_reason: str | None = None

    async def _receive(self, visibility: int) -> list["MessageTypeDef"]:
        response = await self._client.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=visibility,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    async def depth(self) -> int:
        attributes = await self._client.get_queue_attributes(
            QueueUrl=self.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        values = attributes["Attributes"]
        return int(values["ApproximateNumberOfMessages"]) + int(
            values["ApproximateNumberOfMessagesNotVisible"]
        )

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        """Up to ``limit`` dead letters. They are received briefly to be read, then made visible
        again at once; nothing is deleted."""
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        try:
            while len(seen) < limit:
                batch = await self._receive(LIST_VISIBILITY_SECONDS)
                if not batch:
                    break
                for message in batch:
                    handles.append(message["ReceiptHandle"])
                    attributes: dict[str, str] = {
                        str(k): v for k, v in message.get("Attributes", {}).items()
                    }
                    reason = message.get("MessageAttributes", {}).get("deadLetterReason")
                    if reason is not None and "StringValue" in reason:
                        attributes["deadLetterReason"] = reason["StringValue"]
                    seen[message["MessageId"]] = DeadLetter(
                        message_id=message["MessageId"],
                        body=message["Body"],
                        receive_count=int(attributes.get("ApproximateReceiveCount", "0")),
                        attributes=attributes,
                    )
        finally:
            for handle in handles:
                await self._client.change_message_visibility(
                    QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
        return list(seen.values())[:limit]

    async def redrive(self) -> RedriveResult:
        """Move every dead letter back to the source queue. With StartMessageMoveTask the move
        runs on in AWS after this returns, and ``moved`` counts what was queued at the start."""
        cutoff_ms = int(time.time() * 1000)
        depth = await self.depth()
        try:
            await self._client.start_message_move_task(
                SourceArn=self.dlq_arn, DestinationArn=self.source_arn
            )
            return RedriveResult(moved=depth, method="StartMessageMoveTask")
        except ClientError as exc:
            # Not offered by this endpoint (moto answers 500): the manual move is correct
            # everywhere, so any refusal falls back to it.
            self.fallback_reason = f"StartMessageMoveTask unavailable ({error_code(exc)})"
        return RedriveResult(
            moved=await self._move_one_by_one(cutoff_ms), method="receive-send-delete"
        )

    async def _move_one_by_one(self, cutoff_ms: int) -> int:
        """Move the messages that were dead letters when the redrive began. Messages that
        arrived later (a poison message sent straight back by its consumer, say) are left for
        the next redrive, so a redrive always ends."""
        moved = 0
        while batch := await self._receive(MOVE_VISIBILITY_SECONDS):
            earlier = [
                m
                for m in batch
                if int(m.get("Attributes", {}).get("SentTimestamp", "0")) <= cutoff_ms
            ]
            for message in batch:
                if message not in earlier:
                    await self._client.change_message_visibility(
                        QueueUrl=self.dlq_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
            for message in earlier:
                await self._client.send_message(
                    QueueUrl=self.source_url,
                    MessageBody=message["Body"],
                    MessageAttributes=_forwardable(message),
                )
                # Only after the send is confirmed: a failure above leaves it in the DLQ.
                await self._client.delete_message(
                    QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                )
                moved += 1
            if not earlier:
                break
        return moved
