"""Lambda entry point of the Audit consumer: ``consumers.audit.handler.handler``."""

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from consumers.audit.records import audit_record
from consumers.audit.writer import AuditWriter
from consumers.function import ConsumerFunction, make_handler
from consumers.settings import ConsumerSettings, TableName
from contracts.events import ORDER_CREATED_CONTRACT, OrderCreated
from contracts.uses import declared_reads
from runtime.aws import AwsClients
from runtime.config import load_settings
from runtime.logs import make_logger
from runtime.snapstart import prepare_at_init

SERVICE = "audit-consumer"
logger = make_logger(service=SERVICE, component="audit")
metrics = Metrics(namespace="OrderPipeline", service=SERVICE)


class AuditSettings(ConsumerSettings):
    audit_table_name: TableName = Field(alias="AUDIT_TABLE_NAME")


class AuditFunction(ConsumerFunction):
    reads = declared_reads(Path(__file__).parent, ORDER_CREATED_CONTRACT)

    def __init__(self, settings: AuditSettings, clients: AwsClients | None = None):
        super().__init__(settings, logger, clients)
        self._table = settings.audit_table_name
        self._writer: AuditWriter | None = None

    def after_restore(self) -> None:
        self._writer = None
        super().after_restore()

    async def writer(self) -> AuditWriter:
        if self._writer is None:
            self._writer = AuditWriter(await self.clients.dynamodb(), self._table, self.retry)
        return self._writer

    async def process(
        self, event: OrderCreated, ids: dict[str, str], published_at: datetime | None
    ) -> None:
        writer = await self.writer()
        try:
            created = await writer.write(audit_record(event, datetime.now(UTC), published_at))
        except Exception:
            logger.exception("audit record not written; the message will be retried", extra=ids)
            raise
        if created:
            metrics.add_metric(name="AuditRecordsCreated", unit=MetricUnit.Count, value=1)
            logger.info("audit record written", extra=ids)
        else:
            logger.info("audit record already present: redelivered event", extra=ids)


@cache
def function_from_environment() -> AuditFunction:
    settings = load_settings(AuditSettings)
    logger.setLevel(settings.log_level)
    return AuditFunction(settings)


handler = make_handler(logger, metrics, function_from_environment)
prepare_at_init(function_from_environment)
