"""The Order API's baseline: plain sync boto3 and Powertools, doing the same AWS call (one
conditional put of the order; its stream publishes the event)."""

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="baseline-api")
metrics = Metrics(namespace="OrderPipeline", service="baseline-api")
table = boto3.resource("dynamodb").Table(os.environ["ORDER_TABLE_NAME"])


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.loads(event["body"], parse_float=Decimal)
    order_id = str(uuid.uuid4())
    created_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    total = sum(Decimal(i["quantity"]) * i["price"] for i in body["items"])
    item = {"OrderId": order_id, "CreatedAt": created_at, "TotalAmount": total, **body}
    table.put_item(Item=item, ConditionExpression="attribute_not_exists(OrderId)")
    metrics.add_metric(name="OrdersProcessed", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": json.dumps({"orderId": order_id})}
