"""``OrderStore``: the Orders table (PK ``OrderId``), written conditionally, never overwritten."""

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from contracts.order import Order
from contracts.types import format_timestamp
from runtime.aws import error_code
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

_deserializer = TypeDeserializer()


class OrderAlreadyExists(Exception):
    """A different order already holds this ``OrderId``."""


def _string(value: str | None) -> dict[str, Any]:
    return {"NULL": True} if value is None else {"S": value}


def _number(value: int | Decimal) -> dict[str, str]:
    return {"N": str(value)}


def order_item(order: Order) -> dict[str, Any]:
    """The order as a DynamoDB item: table-style attribute names, money as Number.

    Written out for this one known shape rather than through boto3's generic TypeSerializer,
    which costs a third of the handler's own time per request."""
    return {
        "OrderId": {"S": order.order_id},
        "CustomerId": _string(order.customer_id),
        "CustomerName": {"S": order.customer_name},
        "CustomerEmail": {"S": order.customer_email},
        "Items": {
            "L": [
                {
                    "M": {
                        "ProductId": {"S": line.product_id},
                        "ProductName": _string(line.product_name),
                        "Quantity": _number(line.quantity),
                        "Price": _number(line.price),
                        "Subtotal": _number(line.subtotal),
                    }
                }
                for line in order.items
            ]
        },
        "TotalAmount": _number(order.total_amount),
        "CreatedAt": {"S": format_timestamp(order.created_at)},
    }


def order_from_item(item: dict[str, Any]) -> Order:
    doc = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return Order(
        order_id=doc["OrderId"],
        customer_id=doc.get("CustomerId"),
        customer_name=doc["CustomerName"],
        customer_email=doc["CustomerEmail"],
        items=[
            {
                "product_id": line["ProductId"],
                "product_name": line.get("ProductName"),
                "quantity": int(line["Quantity"]),
                "price": Decimal(line["Price"]),
                "subtotal": Decimal(line["Subtotal"]),
            }
            for line in doc["Items"]
        ],
        total_amount=Decimal(doc["TotalAmount"]),
        created_at=doc["CreatedAt"],
    )


class OrderStore:
    def __init__(self, client: "DynamoDBClient", table_name: str, retry: RetryPolicy):
        self._client = client
        self._table = table_name
        self._retry = retry

    async def put_new(self, order: Order) -> None:
        """Store ``order`` unless its id is taken. Finding the very same order already there
        (a retried attempt whose first try did land, or a resumed Idempotency-Key) is success."""
        item = order_item(order)
        try:
            await self._retry.call(
                "dynamodb.PutItem",
                lambda: self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(OrderId)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = cast(dict[str, Any] | None, exc.response.get("Item"))
            # Compared as orders, not as items: DynamoDB normalises numbers ("0.30" → "0.3").
            if existing is None or order_from_item(existing) != order:
                raise OrderAlreadyExists(order.order_id) from None

    async def get(self, order_id: str) -> Order | None:
        response = await self._retry.call(
            "dynamodb.GetItem",
            lambda: self._client.get_item(
                TableName=self._table, Key={"OrderId": {"S": order_id}}, ConsistentRead=True
            ),
        )
        item = response.get("Item")
        return None if item is None else order_from_item(dict(item))
