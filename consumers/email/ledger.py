"""``SentEmailLedger``: which order confirmations went out, so a redelivery sends nothing.

Records live in the idempotency table under ``email#<orderId>``. A send is claimed first
(SENDING, with a lease as long as the queue's visibility timeout), then marked SENT.
A redelivery finds SENT and skips; a concurrent duplicate finds a live SENDING claim and fails
its record, to be retried after the first has finished. The remaining window: the function
dies after the SMTP server accepted the mail and before SENT is written; the lease then runs
out and the redelivery sends a second copy, with the same Message-ID.
"""

from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from runtime.aws import error_code
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

RECORD_TTL_SECONDS = 14 * 86_400  # as long as the email DLQ keeps a message


class Claim(Enum):
    SEND = "send"
    ALREADY_SENT = "already sent"
    IN_FLIGHT = "in flight"


def ledger_key(order_id: str) -> dict[str, dict[str, str]]:
    return {"IdempotencyKey": {"S": f"email#{order_id}"}}


class SentEmailLedger:
    def __init__(
        self, client: "DynamoDBClient", table_name: str, retry: RetryPolicy, lease_seconds: float
    ):
        self._client = client
        self._table = table_name
        self._retry = retry
        self._lease = lease_seconds

    async def claim(self, order_id: str, now: float) -> Claim:
        try:
            await self._retry.call(
                "dynamodb.PutItem",
                lambda: self._client.put_item(
                    TableName=self._table,
                    Item={
                        **ledger_key(order_id),
                        "Status": {"S": "SENDING"},
                        "LockedUntil": {"N": f"{now + self._lease:.3f}"},
                        "ExpiresAt": {"N": str(int(now) + RECORD_TTL_SECONDS)},
                    },
                    ConditionExpression="attribute_not_exists(IdempotencyKey) OR (#s = :sending AND LockedUntil < :now)",
                    ExpressionAttributeNames={"#s": "Status"},
                    ExpressionAttributeValues={
                        ":sending": {"S": "SENDING"},
                        ":now": {"N": f"{now:.3f}"},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = cast(dict[str, Any], exc.response.get("Item") or {})
            status = existing.get("Status", {}).get("S")
            return Claim.ALREADY_SENT if status == "SENT" else Claim.IN_FLIGHT
        return Claim.SEND

    async def mark_sent(self, order_id: str, message_id: str, now: float) -> None:
        """Replace the claim with the SENT record, whole: one PutItem, which leaves the same
        item an UpdateItem of the claim would, at a third of the emulator's cost (moto
        validates an update expression in ten passes over its syntax tree)."""
        await self._retry.call(
            "dynamodb.PutItem",
            lambda: self._client.put_item(
                TableName=self._table,
                Item={
                    **ledger_key(order_id),
                    "Status": {"S": "SENT"},
                    "SentAt": {"N": f"{now:.3f}"},
                    "MessageId": {"S": message_id},
                    "ExpiresAt": {"N": str(int(now) + RECORD_TTL_SECONDS)},
                },
            ),
        )

    async def release(self, order_id: str) -> None:
        """The send failed: drop the claim so the retry may send."""
        await self._retry.call(
            "dynamodb.DeleteItem",
            lambda: self._client.delete_item(
                TableName=self._table,
                Key=ledger_key(order_id),
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "Status"},
                ExpressionAttributeValues={":sending": {"S": "SENDING"}},
            ),
        )
