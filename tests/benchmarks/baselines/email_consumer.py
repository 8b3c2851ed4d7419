"""The Email consumer's baseline: plain sync boto3 and Powertools' batch processor; per event,
claim the order in DynamoDB, send the confirmation through SES, mark it sent (the project's
three calls)."""

import json
import os
import time
from email.message import EmailMessage
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

logger = Logger(service="baseline-email")
metrics = Metrics(namespace="OrderPipeline", service="baseline-email")
processor = BatchProcessor(event_type=EventType.SQS)
ledger = boto3.resource("dynamodb").Table(os.environ["IDEMPOTENCY_TABLE_NAME"])
ses = boto3.client("sesv2")
SENDER = os.environ["EMAIL_FROM"]


def record_handler(record: SQSRecord) -> None:
    event = json.loads(record.body)
    key = f"email#{event['orderId']}"
    ledger.put_item(
        Item={"IdempotencyKey": key, "Status": "SENDING", "LockedUntil": int(time.time()) + 60},
        ConditionExpression="attribute_not_exists(IdempotencyKey)",
    )
    message = EmailMessage()
    message["Subject"] = f"Order {event['orderId']} confirmed"
    message["From"] = SENDER
    message["To"] = event["customerEmail"]
    lines = [f"{i['quantity']} x {i['productName']}: {i['subtotal']}" for i in event["items"]]
    message.set_content(
        f"Hello {event['customerName']},\n\n"
        + "\n".join(lines)
        + f"\n\nTotal: {event['totalAmount']}"
    )
    ses.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [event["customerEmail"]]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )
    ledger.put_item(Item={"IdempotencyKey": key, "Status": "SENT"})
    metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
