"""``Idempotency-Key`` support: a retried request returns the first response, never a second order.

Why not Powertools' idempotency utility: it wraps sync functions only (it fails on ``async def``),
and this API's core is async. The same protocol is done here with conditional writes through
aioboto3 to a small table of its own (PK ``IdempotencyKey``, TTL attribute ``ExpiresAt``):

1. ``claim`` puts an IN_PROGRESS record, unless a live one exists. The record reserves the order
   id and timestamp the request will use.
2. The caller stores and publishes the order, then ``complete`` saves the response; on failure
   ``release`` marks the record FAILED.
3. A repeat finds the record: different body → ``KeyReused`` (422); COMPLETED → ``Replay`` of the
   first response; IN_PROGRESS with a live lock → ``InProgress`` (409); FAILED or a lock that ran
   out → the repeat takes the record over and *resumes* with the reserved order id, so an order
   stored by a failed first attempt is published, not stored twice.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from contracts.api import OrderAccepted
from contracts.types import format_timestamp
from runtime.aws import error_code
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class Proceed:
    order_id: str
    created_at: datetime
    resumed: bool


@dataclass(frozen=True)
class Replay:
    body: str


@dataclass(frozen=True)
class KeyReused:
    pass


@dataclass(frozen=True)
class InProgress:
    pass


Claim = Proceed | Replay | KeyReused | InProgress


def _is_conditional_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


class IdempotencyStore:
    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        retry: RetryPolicy,
        ttl_seconds: int,
        lock_seconds: float,
    ):
        self._client = client
        self._table = table_name
        self._retry = retry
        self._ttl = ttl_seconds
        self._lock = lock_seconds

    async def claim(self, key: str, request_hash: str, order_id: str, now: datetime) -> Claim:
        epoch = now.timestamp()
        item = {
            "IdempotencyKey": {"S": key},
            "Status": {"S": IN_PROGRESS},
            "RequestHash": {"S": request_hash},
            "OrderId": {"S": order_id},
            "CreatedAt": {"S": format_timestamp(now)},
            "LockedUntil": {"N": f"{epoch + self._lock:.3f}"},
            "ExpiresAt": {"N": str(int(epoch) + self._ttl)},
        }
        try:
            await self._retry.call(
                "dynamodb.PutItem",
                lambda: self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(IdempotencyKey) OR ExpiresAt < :now",
                    ExpressionAttributeValues={":now": {"N": str(int(epoch))}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            )
            return Proceed(order_id=order_id, created_at=now, resumed=False)
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = cast(dict[str, Any] | None, exc.response.get("Item"))
        if existing is None:
            existing = await self._read(key)
            if existing is None:  # expired and deleted between our two calls: a peer owns it now
                return InProgress()
        return await self._settle(key, request_hash, existing, epoch)

    async def _settle(
        self, key: str, request_hash: str, existing: dict[str, Any], epoch: float
    ) -> Claim:
        if existing["RequestHash"]["S"] != request_hash:
            return KeyReused()
        status = existing["Status"]["S"]
        if status == COMPLETED:
            return Replay(body=existing["ResponseBody"]["S"])
        locked_until = existing["LockedUntil"]["N"]
        if status == IN_PROGRESS and float(locked_until) > epoch:
            return InProgress()
        try:  # FAILED, or IN_PROGRESS whose owner died: take it over, unless a peer just did
            await self._retry.call(
                "dynamodb.UpdateItem",
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key={"IdempotencyKey": {"S": key}},
                    UpdateExpression="SET #s = :in_progress, LockedUntil = :locked_until",
                    ConditionExpression="#s = :status AND LockedUntil = :previous_lock",
                    ExpressionAttributeNames={"#s": "Status"},
                    ExpressionAttributeValues={
                        ":in_progress": {"S": IN_PROGRESS},
                        ":locked_until": {"N": f"{epoch + self._lock:.3f}"},
                        ":status": {"S": status},
                        ":previous_lock": {"N": locked_until},
                    },
                ),
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return InProgress()
            raise
        return Proceed(
            order_id=existing["OrderId"]["S"],
            created_at=datetime.fromisoformat(existing["CreatedAt"]["S"]),
            resumed=True,
        )

    async def _read(self, key: str) -> dict[str, Any] | None:
        response = await self._retry.call(
            "dynamodb.GetItem",
            lambda: self._client.get_item(
                TableName=self._table, Key={"IdempotencyKey": {"S": key}}, ConsistentRead=True
            ),
        )
        item = response.get("Item")
        return None if item is None else dict(item)

    async def complete(self, key: str, order_id: str, response: OrderAccepted) -> None:
        await self._finish(
            key,
            order_id,
            "SET #s = :status, ResponseBody = :body",
            {":status": {"S": COMPLETED}, ":body": {"S": response.model_dump_json(by_alias=True)}},
        )

    async def release(self, key: str, order_id: str) -> None:
        await self._finish(key, order_id, "SET #s = :status", {":status": {"S": FAILED}})

    async def _finish(self, key: str, order_id: str, update: str, values: dict[str, Any]) -> None:
        await self._retry.call(
            "dynamodb.UpdateItem",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"IdempotencyKey": {"S": key}},
                UpdateExpression=update,
                ConditionExpression="#s = :in_progress AND OrderId = :order_id",
                ExpressionAttributeNames={"#s": "Status"},
                ExpressionAttributeValues={
                    **values,
                    ":in_progress": {"S": IN_PROGRESS},
                    ":order_id": {"S": order_id},
                },
            ),
        )


def request_hash(canonical_request: str) -> str:
    """Fingerprint of a validated request: equal requests, however formatted, hash alike."""
    return hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()


def is_valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None
