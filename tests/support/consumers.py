"""Both consumers on a provisioned stack, fed by the real messages of their queues."""

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from consumers.audit.handler import AuditFunction, AuditSettings
from consumers.audit.handler import logger as audit_logger
from consumers.audit.handler import metrics as audit_metrics
from consumers.dead_letters import DeadLetterQueue
from consumers.email.handler import EmailFunction, EmailSettings
from consumers.email.handler import logger as email_logger
from consumers.email.handler import metrics as email_metrics
from consumers.function import make_handler
from local.aws.provision import Provisioned, QueueEndpoints
from local.lambda_runtime.container import in_thread
from local.lambda_runtime.event_source import BatchOutcome, SqsEventSource
from local.mail.smtp_sink import SmtpSink
from runtime.loop import LoopRunner
from tests.support.aws import aws_clients

Which = Literal["email", "audit"]
T = TypeVar("T")


def email_settings(stack: Provisioned, smtp: SmtpSink, **overrides: Any) -> EmailSettings:
    return EmailSettings.model_validate(
        {
            "EMAIL_FROM": "orders@shop.example.com",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_TIMEOUT_SECONDS": "3",
            "IDEMPOTENCY_TABLE_NAME": stack.names.idempotency_table,
            "DEAD_LETTER_QUEUE_URL": stack.email.dlq_url,
            **overrides,
        }
    )


def audit_settings(stack: Provisioned, **overrides: Any) -> AuditSettings:
    return AuditSettings.model_validate(
        {
            "AUDIT_TABLE_NAME": stack.names.audit_table,
            "DEAD_LETTER_QUEUE_URL": stack.audit.dlq_url,
            **overrides,
        }
    )


class Consumers:
    """One container of each consumer (AWS traffic through ``endpoint_url``, e.g. the fault
    proxy) and an event source per queue that polls moto directly."""

    def __init__(
        self,
        stack: Provisioned,
        smtp: SmtpSink,
        endpoint_url: str,
        moto_url: str,
        email_overrides: dict[str, Any] | None = None,
        audit_overrides: dict[str, Any] | None = None,
    ):
        self.stack = stack
        self.email = EmailFunction(
            email_settings(stack, smtp, **(email_overrides or {})),
            aws_clients(endpoint_url),
        )
        self.audit = AuditFunction(
            audit_settings(stack, **(audit_overrides or {})), aws_clients(endpoint_url)
        )
        self.handlers = {
            "email": make_handler(email_logger, email_metrics, lambda: self.email),
            "audit": make_handler(audit_logger, audit_metrics, lambda: self.audit),
        }
        self._runner = LoopRunner()
        self._poll_clients = aws_clients(moto_url)

    def poll(self, which: Which, batch_size: int = 10) -> BatchOutcome:
        queue = self.stack.email if which == "email" else self.stack.audit
        timeout = 60.0 if which == "email" else 30.0

        async def once() -> BatchOutcome:
            source = SqsEventSource(
                client=await self._poll_clients.sqs(),
                queue_url=queue.url,
                queue_arn=queue.arn,
                invoke=in_thread(self.handlers[which]),
                function_name=f"{which}-consumer",
                function_timeout=timeout,
                batch_size=batch_size,
            )
            return await source.poll_once()

        return self._runner.run(once())

    def drain(self, which: Which, batch_size: int = 10, max_polls: int = 50) -> list[BatchOutcome]:
        """Poll until a receive comes back empty."""
        outcomes = []
        for _ in range(max_polls):
            outcome = self.poll(which, batch_size)
            if outcome.received == 0:
                break
            outcomes.append(outcome)
        return outcomes

    def close(self) -> None:
        self._runner.run(self._poll_clients.close())
        self._runner.close()
        self.email.close()
        self.audit.close()


def on_dead_letters(
    endpoint_url: str, queue: QueueEndpoints, operation: Callable[[DeadLetterQueue], Awaitable[T]]
) -> T:
    """Run ``operation`` on the dead-letter queue of ``queue`` (its own loop and clients)."""
    runner, clients = LoopRunner(), aws_clients(endpoint_url)

    async def run() -> T:
        dlq = DeadLetterQueue(
            await clients.sqs(), queue.dlq_url, queue.dlq_arn, queue.url, queue.arn
        )
        return await operation(dlq)

    try:
        return runner.run(run())
    finally:
        runner.run(clients.close())
        runner.close()
