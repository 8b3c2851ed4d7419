"""The pipeline's AWS resources with their SPEC §7 names and settings, for one environment.

``orders up`` and the tests provision these on the emulator; the CloudFormation templates declare
the same settings for AWS (a parity test keeps the two from drifting).
"""

import json
from dataclasses import dataclass

from runtime.functions import AUDIT_CONSUMER, EMAIL_CONSUMER

DAY = 86_400
QUEUE_RETENTION_SECONDS = 4 * DAY
DLQ_RETENTION_SECONDS = 14 * DAY
LONG_POLL_SECONDS = 20
MAX_RECEIVE_COUNT = 3
# A queue's visibility outlasts its consumer's timeout (runtime/functions.py) by a buffer, so a
# batch still in a function is never handed to a second one: 70 s for email, 40 s for audit.
VISIBILITY_BUFFER_SECONDS = 10
EMAIL_VISIBILITY_SECONDS = EMAIL_CONSUMER.timeout_seconds + VISIBILITY_BUFFER_SECONDS
AUDIT_VISIBILITY_SECONDS = AUDIT_CONSUMER.timeout_seconds + VISIBILITY_BUFFER_SECONDS
# The Orders table's stream is the outbox: the order publisher reads each new item's image.
ORDERS_STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


@dataclass(frozen=True)
class QueueSpec:
    name: str
    dlq_name: str
    visibility_seconds: int


@dataclass(frozen=True)
class ResourceNames:
    env: str

    @property
    def orders_table(self) -> str:
        return f"{self.env}-Orders"

    @property
    def audit_table(self) -> str:
        return f"{self.env}-AuditLogs"

    @property
    def idempotency_table(self) -> str:
        return f"{self.env}-Idempotency"

    @property
    def outbox_poison_queue(self) -> str:
        """Stream records that can never become an event (``api.poison_queue``)."""
        return f"{self.env}-OrderOutboxPoisonDLQ"

    @property
    def topic(self) -> str:
        return f"{self.env}-OrderEvents"

    @property
    def email_queue(self) -> QueueSpec:
        return QueueSpec(
            f"{self.env}-OrderEmailQueue", f"{self.env}-OrderEmailDLQ", EMAIL_VISIBILITY_SECONDS
        )

    @property
    def audit_queue(self) -> QueueSpec:
        return QueueSpec(
            f"{self.env}-OrderAuditQueue", f"{self.env}-OrderAuditDLQ", AUDIT_VISIBILITY_SECONDS
        )

    @property
    def queues(self) -> tuple[QueueSpec, QueueSpec]:
        return (self.email_queue, self.audit_queue)


def queue_attributes(spec: QueueSpec, dlq_arn: str) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(spec.visibility_seconds),
        "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_SECONDS),
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
        ),
    }


def dlq_attributes() -> dict[str, str]:
    return {
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
        "SqsManagedSseEnabled": "true",
    }


def topic_only_policy(queue_arn: str, topic_arn: str) -> str:
    """Queue policy letting only the topic send: without it SNS cannot deliver at all."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowOrderEventsTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )
