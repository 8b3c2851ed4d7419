"""``EventPublisher``: puts ``OrderCreated`` on the OrderEvents topic.

The message is the event JSON itself (the subscriptions use raw delivery, so every SQS body is
exactly this text); ``eventType`` and ``schemaVersion`` ride along as message attributes so
subscribers could filter without parsing.
"""

from typing import TYPE_CHECKING

from contracts.events import OrderCreated
from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient


class EventPublisher:
    def __init__(self, client: "SNSClient", topic_arn: str, retry: RetryPolicy):
        self._client = client
        self._topic_arn = topic_arn
        self._retry = retry

    async def publish(self, event: OrderCreated) -> str:
        """Publish and return SNS's message id."""
        response = await self._retry.call(
            "sns.Publish",
            lambda: self._client.publish(
                TopicArn=self._topic_arn,
                Message=event.model_dump_json(by_alias=True),
                MessageAttributes={
                    "eventType": {"DataType": "String", "StringValue": event.event_type},
                    "schemaVersion": {
                        "DataType": "Number",
                        "StringValue": str(event.schema_version),
                    },
                },
            ),
        )
        return response["MessageId"]
