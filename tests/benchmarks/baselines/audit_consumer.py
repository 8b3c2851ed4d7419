"""The Audit consumer's baseline: plain sync boto3 and Powertools' batch processor, writing one
audit record per event (a conditional put, as the project's)."""

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger(service="baseline-audit")
metrics = Metrics(namespace="OrderPipeline", service="baseline-audit")
processor = BatchProcessor(event_type=EventType.SQS)
table = boto3.resource("dynamodb").Table(os.environ["AUDIT_TABLE_NAME"])


def record_handler(record: SQSRecord) -> None:
    event = json.loads(record.body)
    table.put_item(
        Item={
            "AuditId": f"{event['orderId']}#{event['eventType']}",
            "Timestamp": event["createdAt"],
            "OrderId": event["orderId"],
            "EventType": event["eventType"],
            "RecordedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "OrderDetails": {
                "customerId": event.get("customerId"),
                "customerName": event["customerName"],
                "customerEmail": event["customerEmail"],
                "itemCount": len(event["items"]),
                "totalAmount": event["totalAmount"],
            },
        },
        ConditionExpression="attribute_not_exists(AuditId)",
    )
    metrics.add_metric(name="AuditRecordsCreated", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
