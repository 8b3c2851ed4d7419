"""``SentEmailLedger``: which order confirmations went out, so a redelivery sends nothing.

Records live in the idempotency table under ``email#<orderId>``. A send is claimed first
(SENDING, with a lease as long as the function's timeout), then marked SENT: the marks of a
batch's confirmations are written together once the batch's records are done.
A redelivery finds SENT and skips; a concurrent duplicate finds a live SENDING claim and fails
its record, to be retried after the first has finished. The remaining window: the function
dies after the SMTP server accepted the mail and before SENT is written; the lease then runs
out and the redelivery sends a second copy, with the same Message-ID. Since the marks are
written per batch, that window holds every email the batch sent so far (one batch's worth, 10
at most by default), where a mark per email held only the one being sent: the price of one
request a batch instead of one an email.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from runtime.aws import error_code
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import WriteRequestTypeDef

RECORD_TTL_SECONDS = 14 * 86_400  # as long as the email DLQ keeps a message
BATCH_WRITE_LIMIT = 25  # items in one BatchWriteItem (DynamoDB's limit)


@dataclass(frozen=True)
class SentMark:
    """A confirmation that went out: its order, its Message-ID, when (epoch seconds)."""

    order_id: str
    message_id: str
    sent_at: float


class UnprocessedWrites(ClientError):
    """BatchWriteItem left items unwritten: DynamoDB does so when the table's throughput is
    exceeded, so it carries that error's code and is retried as throttling is."""

    def __init__(self, left: int, of: int):
        super().__init__(
            {
                "Error": {
                    "Code": "ProvisionedThroughputExceededException",
                    "Message": f"{left} of {of} items left unprocessed",
                }
            },
            "BatchWriteItem",
        )


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

    async def mark_sent(self, marks: Sequence[SentMark]) -> None:
        """Replace the claims with SENT records, whole, up to 25 in one BatchWriteItem.

        A put leaves the same item an UpdateItem of the claim would (and BatchWriteItem has no
        conditions: none is needed, the claim is ours). One request for a batch's confirmations,
        where a PutItem each cost a round trip apiece on both ends. Items DynamoDB leaves
        unprocessed are sent again, with the retry policy's backoff; raises if some are still
        unwritten when it gives up."""
        puts = {
            mark.order_id: {
                "PutRequest": {
                    "Item": {
                        **ledger_key(mark.order_id),
                        "Status": {"S": "SENT"},
                        "SentAt": {"N": f"{mark.sent_at:.3f}"},
                        "MessageId": {"S": mark.message_id},
                        "ExpiresAt": {"N": str(int(mark.sent_at) + RECORD_TTL_SECONDS)},
                    }
                }
            }
            for mark in marks  # one put per order: a batch may not name a key twice
        }
        requests = list(puts.values())
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            await self._write_all(requests[start : start + BATCH_WRITE_LIMIT])

    async def _write_all(self, requests: list[dict[str, Any]]) -> None:
        pending = requests

        async def attempt() -> None:
            nonlocal pending
            response = await self._client.batch_write_item(
                RequestItems={self._table: cast("list[WriteRequestTypeDef]", pending)}
            )
            left = cast(dict[str, Any], response.get("UnprocessedItems") or {})
            pending = left.get(self._table) or []
            if pending:
                raise UnprocessedWrites(len(pending), len(requests))

        await self._retry.call("dynamodb.BatchWriteItem", attempt)

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
