"""``AuditWriter``: the AuditLogs table (PK ``AuditId``, SK ``Timestamp``, GSI ``OrderIdIndex``)."""

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from contracts.audit import AuditRecord
from contracts.types import format_money, format_timestamp
from runtime.aws import error_code
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ORDER_ID_INDEX = "OrderIdIndex"


def audit_item(record: AuditRecord) -> dict[str, Any]:
    details = record.order_details
    customer_id = {"NULL": True} if details.customer_id is None else {"S": details.customer_id}
    published = (
        {}
        if record.published_at is None
        else {"PublishedAt": {"S": format_timestamp(record.published_at)}}
    )
    return {
        **published,
        "AuditId": {"S": record.audit_id},
        "Timestamp": {"S": format_timestamp(record.timestamp)},
        "OrderId": {"S": record.order_id},
        "EventType": {"S": record.event_type},
        "RecordedAt": {"S": format_timestamp(record.recorded_at)},
        "OrderDetails": {
            "M": {
                "customerId": customer_id,
                "customerName": {"S": details.customer_name},
                "customerEmail": {"S": details.customer_email},
                "itemCount": {"N": str(details.item_count)},
                "totalAmount": {"N": format_money(details.total_amount)},
            }
        },
    }


class AuditWriter:
    def __init__(self, client: "DynamoDBClient", table_name: str, retry: RetryPolicy):
        self._client = client
        self._table = table_name
        self._retry = retry

    async def write(self, record: AuditRecord) -> bool:
        """Write the record; False when it was already there (a redelivered event)."""
        try:
            await self._retry.call(
                "dynamodb.PutItem",
                lambda: self._client.put_item(
                    TableName=self._table,
                    Item=audit_item(record),
                    ConditionExpression="attribute_not_exists(AuditId)",
                ),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
