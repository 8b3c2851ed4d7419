"""Lambda entry point of the order publisher: ``api.publisher_function.handler``.

The Orders table's stream is the outbox. Lambda's event-source mapping hands this function
batches of its records (filtered to ``INSERT``); each order becomes ``OrderCreated`` on the
OrderEvents topic, ten to a ``PublishBatch`` request. Partial batch failures name the failed
records' sequence numbers (Powertools' batch processor for DynamoDB streams): the mapping
retries from the lowest one, so a published record may be published again, which the consumers
deduplicate, and an unpublished one is never skipped. A record that can never become an event
goes to the poison queue and is reported done, so it never blocks its shard.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from pydantic import BaseModel, ConfigDict, Field

from api.config import LogLevel, TopicArn
from api.outbox import NotAnOrder, event_from_record, is_insert, lag_ms, sequence_number
from api.poison_queue import PoisonQueue
from api.publisher import EventPublisher
from contracts.events import OrderCreated
from runtime.aws import AwsClients
from runtime.config import QueueUrl, load_settings
from runtime.logs import make_logger
from runtime.loop import LoopRunner
from runtime.retry import RetryPolicy, deadline_after
from runtime.snapstart import prepare_at_init

SERVICE = "order-publisher"
logger = make_logger(service=SERVICE, component="publisher")
metrics = Metrics(namespace="OrderPipeline", service=SERVICE)
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# Retries (tenacity, per request) start only while they can end inside this: well inside the
# function's 30 s timeout, whatever SNS or SQS is doing.
RELAY_BUDGET_SECONDS = 20.0


class PublisherSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    order_topic_arn: TopicArn = Field(alias="ORDER_TOPIC_ARN")
    poison_queue_url: QueueUrl = Field(alias="POISON_QUEUE_URL")
    log_level: LogLevel = Field(default="INFO", alias="LOG_LEVEL")


class PublishFailed(Exception):
    """The record's event was not published this time; the mapping sends the record again."""


class OrderPublisherFunction:
    """One Lambda container of the publisher: settings, loop and clients, each made once."""

    aws_services = ("sns", "sqs")

    def __init__(
        self,
        settings: PublisherSettings,
        clients: AwsClients | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings = settings
        self._clients = clients or AwsClients()
        self._runner = LoopRunner()
        self._retry = RetryPolicy()
        self._clock = clock
        self._publisher: EventPublisher | None = None
        self._poison: PoisonQueue | None = None

    async def _parts(self) -> tuple[EventPublisher, PoisonQueue]:
        if self._publisher is None or self._poison is None:
            settings = self.settings
            self._publisher = EventPublisher(
                await self._clients.sns(), settings.order_topic_arn, self._retry
            )
            self._poison = PoisonQueue(
                await self._clients.sqs(), settings.poison_queue_url, self._retry, logger
            )
        return self._publisher, self._poison

    async def relay(self, records: list[dict[str, Any]]) -> dict[str, str]:
        """Publish the batch's orders; returns why, by sequence number, for each record that
        must be sent again."""
        publisher, poison = await self._parts()
        failures: dict[str, str] = {}
        orders: list[tuple[dict[str, Any], str, OrderCreated]] = []
        for record in records:
            position = sequence_number(record)
            if not is_insert(record):
                continue  # the mapping's filter passes only INSERTs; anything else is no order
            try:
                orders.append((record, position, event_from_record(record)))
            except NotAnOrder as bad:
                failures |= await self._to_poison(poison, record, position, bad.reason)
        outcomes = await publisher.publish([event for _, _, event in orders])
        now = self._clock()
        lags = []
        for (record, position, event), outcome in zip(orders, outcomes, strict=True):
            if outcome is None:
                lags.append(lag_ms(event, now))
            elif outcome.permanent:
                failures |= await self._to_poison(poison, record, position, outcome.reason)
            else:
                failures[position] = outcome.reason
        if lags:
            metrics.add_metric(name="OrdersPublished", unit=MetricUnit.Count, value=len(lags))
            metrics.add_metric(name="PublishLag", unit=MetricUnit.Milliseconds, value=max(lags))
        logger.info(
            "stream batch relayed",
            extra={
                "records": len(records),
                "published": len(lags),
                "failed": len(failures),
                "publishLagMsMax": round(max(lags), 1) if lags else None,
            },
        )
        return failures

    async def _to_poison(
        self, poison: PoisonQueue, record: dict[str, Any], position: str, reason: str
    ) -> dict[str, str]:
        try:
            await poison.send(record, position, reason)
        except Exception as exc:  # the record stays in the stream and is tried again
            logger.exception("poison queue unavailable", extra={"sequenceNumber": position})
            return {position: f"poison queue: {type(exc).__name__}: {exc}"}
        metrics.add_metric(name="OutboxPoisonRecords", unit=MetricUnit.Count, value=1)
        return {}

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records: list[dict[str, Any]] = event.get("Records") or []
        with deadline_after(RELAY_BUDGET_SECONDS):
            failures = self._runner.run(self.relay(records))

        def check(record: DynamoDBRecord) -> None:
            reason = failures.get(str(record.dynamodb.sequence_number if record.dynamodb else ""))
            if reason is not None:
                raise PublishFailed(reason)

        processor = BatchProcessor(
            event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
        )
        with processor(records=records, handler=check, lambda_context=context):
            processor.process()
        return cast(dict[str, Any], processor.response())

    def before_snapshot(self) -> None:
        """SnapStart: botocore's models loaded, no client, connection or loop kept."""
        self._runner.run(self._clients.warm(self.aws_services))
        self._runner.close()

    def after_restore(self) -> None:
        self._publisher = self._poison = None
        self._runner.renew()

    def at_init(self) -> None:
        self._runner.run(self._clients.open(self.aws_services))

    def close(self) -> None:
        self._runner.run(self._clients.close())
        self._runner.close()


def make_handler(function: Callable[[], OrderPublisherFunction]) -> Handler:
    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return function()(event, context)

    return cast(Handler, handler)


@cache
def function_from_environment() -> OrderPublisherFunction:
    settings = load_settings(PublisherSettings)
    logger.setLevel(settings.log_level)
    return OrderPublisherFunction(settings)


handler = make_handler(function_from_environment)
prepare_at_init(function_from_environment)
