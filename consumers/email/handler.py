"""Lambda entry point of the Email consumer: ``consumers.email.handler.handler``."""

import time
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field, FilePath, model_validator

from consumers.email.ledger import Claim, SentEmailLedger, SentMark
from consumers.email.rendering import message_id, render
from consumers.email.transport import (
    EmailTransport,
    SesTransport,
    SmtpTransport,
    credentials_from_secret,
)
from consumers.function import ConsumerFunction, make_handler
from consumers.settings import ConsumerSettings, TableName
from contracts.email_address import EmailAddress
from contracts.events import ORDER_CREATED_CONTRACT, OrderCreated
from contracts.uses import declared_reads
from runtime.aws import AwsClients
from runtime.config import load_settings
from runtime.logs import make_logger
from runtime.snapstart import prepare_at_init

SERVICE = "email-consumer"
logger = make_logger(service=SERVICE, component="email")
metrics = Metrics(namespace="OrderPipeline", service=SERVICE)
# The function timeout: a claim of a delivery that died runs out before its message becomes
# visible again (the queue's visibility timeout is 70 s), so the retry can claim it.
LEASE_SECONDS = 60.0


class EmailSettings(ConsumerSettings):
    email_from: EmailAddress = Field(alias="EMAIL_FROM")
    email_transport: Literal["smtp", "ses"] = Field(default="smtp", alias="EMAIL_TRANSPORT")
    smtp_host: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None, alias="SMTP_HOST"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, alias="SMTP_PORT")
    smtp_starttls: bool = Field(default=False, alias="SMTP_STARTTLS")
    smtp_secret_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:")] | None = (
        Field(default=None, alias="SMTP_SECRET_ARN")
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=50, alias="SMTP_TIMEOUT_SECONDS")
    # CA certificates to trust for STARTTLS, for relays with a private CA (default: the system's).
    smtp_ca_bundle: FilePath | None = Field(default=None, alias="SMTP_CA_BUNDLE")
    idempotency_table_name: TableName = Field(alias="IDEMPOTENCY_TABLE_NAME")

    @model_validator(mode="after")
    def _smtp_needs_a_host(self) -> "EmailSettings":
        if self.email_transport == "smtp" and not self.smtp_host:
            raise ValueError("SMTP_HOST is required when EMAIL_TRANSPORT is smtp")
        return self


class EmailFunction(ConsumerFunction):
    reads = declared_reads(Path(__file__).parent, ORDER_CREATED_CONTRACT)

    def __init__(self, settings: EmailSettings, clients: AwsClients | None = None):
        super().__init__(settings, logger, clients)
        self.email = settings
        self._transport: EmailTransport | None = None
        self._ledger: SentEmailLedger | None = None
        self._sent: list[SentMark] = []  # this batch's confirmations, marked SENT after it

    def aws_services(self) -> tuple[str, ...]:
        ses = ("sesv2",) if self.email.email_transport == "ses" else ()
        return (*super().aws_services(), *ses)

    def after_restore(self) -> None:
        self._transport = None  # an SMTP transport's credentials are fetched again
        self._ledger = None
        super().after_restore()

    async def _ready(self) -> tuple[EmailTransport, SentEmailLedger]:
        if self._ledger is None:
            self._ledger = SentEmailLedger(
                await self.clients.dynamodb(),
                self.email.idempotency_table_name,
                self.retry,
                LEASE_SECONDS,
            )
        if self._transport is None:
            self._transport = await self._make_transport()
        return self._transport, self._ledger

    async def _make_transport(self) -> EmailTransport:
        settings = self.email
        if settings.email_transport == "ses":
            return SesTransport(await self.clients.sesv2(), self.retry)
        credentials = None
        if settings.smtp_secret_arn:
            credentials = await credentials_from_secret(
                await self.clients.secretsmanager(), settings.smtp_secret_arn
            )
        return SmtpTransport(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
            credentials=credentials,
            ca_bundle=str(settings.smtp_ca_bundle) if settings.smtp_ca_bundle else None,
        )

    async def process(
        self, event: OrderCreated, ids: dict[str, str], published_at: datetime | None
    ) -> None:
        transport, ledger = await self._ready()
        claim = await ledger.claim(event.order_id, time.time())
        if claim is Claim.ALREADY_SENT:
            logger.info("confirmation already sent: redelivered event", extra=ids)
            return
        if claim is Claim.IN_FLIGHT:
            raise RuntimeError(
                f"confirmation of order {event.order_id} is being sent by another delivery"
            )
        message = render(event, self.email.email_from)
        try:
            await transport.send(message)
        except Exception:
            metrics.add_metric(name="EmailsFailed", unit=MetricUnit.Count, value=1)
            logger.exception("confirmation not sent; the message will be retried", extra=ids)
            await ledger.release(event.order_id)
            raise
        metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=1)
        logger.info("confirmation sent", extra=ids)
        self._sent.append(
            SentMark(event.order_id, message_id(event, self.email.email_from), time.time())
        )

    async def after_batch(self) -> None:
        """Mark the batch's confirmations SENT, in one request. Should that fail, the emails
        went out all the same: their records succeed (failing them would only bring the
        messages back, to be sent again once the claims lapse); the claims lapse unmarked."""
        marks, self._sent = self._sent, []
        if not marks:
            return
        _, ledger = await self._ready()
        try:
            await ledger.mark_sent(marks)
        except Exception:
            metrics.add_metric(name="SentMarksNotWritten", unit=MetricUnit.Count, value=len(marks))
            logger.exception(
                "confirmations sent but not marked SENT: a redelivery of one after its claim "
                "lapses would send it again",
                extra={"orderIds": [mark.order_id for mark in marks]},
            )


@cache
def function_from_environment() -> EmailFunction:
    settings = load_settings(EmailSettings)
    logger.setLevel(settings.log_level)
    return EmailFunction(settings)


handler = make_handler(logger, metrics, function_from_environment)
prepare_at_init(function_from_environment)
