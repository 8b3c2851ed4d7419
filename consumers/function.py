"""What both consumer functions share: one container's loop and clients, the batch processor,
poison handling, and the Powertools-decorated Lambda entry."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from consumers.batch import LoopBoundBatchProcessor
from consumers.poison import DeadLetterForwarder, PoisonMessage, parse_event
from consumers.settings import ConsumerSettings
from contracts.events import OrderCreated
from runtime.aws import AwsClients
from runtime.loop import LoopRunner
from runtime.retry import RetryPolicy

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class ConsumerFunction(ABC):
    """One Lambda container of a consumer: settings, loop and clients, each made once."""

    # The OrderCreated schemaVersions this consumer reads (contracts.events): the contract gate
    # refuses a producer version that some consumer does not declare.
    reads: ClassVar[frozenset[int]]

    def __init__(
        self, settings: ConsumerSettings, logger: Logger, clients: AwsClients | None = None
    ):
        self.settings = settings
        self.logger = logger
        self.clients = clients or AwsClients()
        self.retry = RetryPolicy()
        self._runner = LoopRunner()
        self._dead_letters: DeadLetterForwarder | None = None

    def aws_services(self) -> tuple[str, ...]:
        """The AWS services this consumer calls (SQS: the dead-letter queue for poison)."""
        return ("dynamodb", "sqs")

    def before_snapshot(self) -> None:
        """SnapStart: botocore's models loaded, no client, connection or loop kept."""
        self._runner.run(self.clients.warm(self.aws_services()))
        self._runner.close()

    def after_restore(self) -> None:
        self._dead_letters = None
        self._runner.renew()

    def at_init(self) -> None:
        self._runner.run(self.clients.open(self.aws_services()))

    @abstractmethod
    async def process(
        self, event: OrderCreated, ids: dict[str, str], published_at: datetime | None
    ) -> None:
        """Do this consumer's work for one event; raise to have the record retried.
        ``published_at``: when SNS delivered it to the queue (the message's SentTimestamp)."""

    async def after_batch(self) -> None:
        """Work done once a batch's records are, before the batch's answer (default: none).
        It cannot fail a record: it must handle its own errors."""
        return None

    async def handle_record(self, record: SQSRecord) -> None:
        try:
            event = parse_event(record.body, self.reads)
        except PoisonMessage as poison:
            if self._dead_letters is None:
                self._dead_letters = DeadLetterForwarder(
                    await self.clients.sqs(),
                    self.settings.dead_letter_queue_url,
                    self.retry,
                    self.logger,
                )
            attributes = record.raw_event.get("messageAttributes") or {}
            await self._dead_letters.forward(
                record.message_id, record.body, attributes, poison.reason
            )
            return
        # Ids go on each log line rather than through append_keys: the records of a batch run
        # concurrently, and appended keys are shared by all of them.
        await self.process(
            event,
            {"messageId": record.message_id, "orderId": event.order_id},
            _sent_at(record),
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        processor = LoopBoundBatchProcessor(
            self._runner, self.settings.max_concurrency, after_records=self.after_batch
        )
        with processor(
            records=event.get("Records") or [], handler=self.handle_record, lambda_context=context
        ):
            processor.async_process()
        return cast(dict[str, Any], processor.response())

    def close(self) -> None:
        self._runner.run(self.clients.close())
        self._runner.close()


def _sent_at(record: SQSRecord) -> datetime | None:
    raw = (record.raw_event.get("attributes") or {}).get("SentTimestamp")
    try:
        return datetime.fromtimestamp(int(str(raw)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def make_handler(
    logger: Logger, metrics: Metrics, function: Callable[[], ConsumerFunction]
) -> Handler:
    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return function()(event, context)

    return cast(Handler, handler)
