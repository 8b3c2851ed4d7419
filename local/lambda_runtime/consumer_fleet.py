"""The event side of ``orders up``, in a process of its own: the SMTP sink; the outbox's
stream reader, which feeds the order publisher from the Orders table's stream; and the pollers
that feed the Email and Audit functions from their queues; one container process
(``local.lambda_runtime.container``) per poller.

At a lower priority (``nice`` +10, which its containers inherit), because the consumers must not
starve ingest: on AWS the API and the consumers scale apart and SQS is the buffer between them.
Here, when the machine is busy, the API is served first, the queues hold the backlog, and the
consumers drain it when there is room. In one process with the API they shared its GIL, and a
backlog slowed every answer the API gave.

    python -m local.lambda_runtime.consumer_fleet CONFIG_JSON     (started by ``ConsumerProcess``)
"""

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from local.aws.provision import Provisioned, QueueEndpoints
from local.child_process import ChildProcess, announce_ready, hold_lifeline
from local.lambda_runtime import client_costs
from local.lambda_runtime.container import (
    APP_ID_VARIABLE,
    ContainerTemplate,
    FunctionFailed,
    LambdaContainer,
    start_all,
)
from local.lambda_runtime.event_source import SqsEventSource
from local.lambda_runtime.pollers import QueuePoller
from local.lambda_runtime.stream_source import PositionFile, StreamEventSource, StreamPoller
from local.mail.smtp_sink import SmtpSink
from runtime.aws import AwsClients, long_poll_config
from runtime.functions import AUDIT_CONSUMER, EMAIL_CONSUMER, ORDER_PUBLISHER, LambdaFunction

NICENESS = 10
# Lambda's default batch size for a DynamoDB stream mapping (cfn/functions.yaml sets the same).
STREAM_BATCH_SIZE = 100


class FleetConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    endpoint_url: str
    provisioned: Provisioned
    host: str = "127.0.0.1"
    outbox: Path = Path("var/outbox")
    stream_position: Path = Path("var/stream-position.json")
    smtp_port: int = 0  # of the embedded sink; 0: any free port
    external_smtp: tuple[str, int] | None = None
    email_from: str = "orders@shop.example.com"
    log_level: str = "INFO"
    log_dir: Path = Path("var/logs")
    batch_size: int = 10
    batch_window: float = 0.0
    pollers_per_queue: int = 2
    long_poll_seconds: int = 20


class ConsumerFleet:
    """One consumer container per poller slot, as Lambda runs one batch per container."""

    def __init__(self, config: FleetConfig, say: Callable[[str], None] = print):
        self.config = config
        self._say = say
        self._smtp: SmtpSink | None = None
        self._containers: list[LambdaContainer] = []
        self._templates: dict[str, ContainerTemplate] = {}  # one per function: containers fork
        self._pollers: list[QueuePoller] = []
        self._stream_poller: StreamPoller | None = None
        self._poll_clients: AwsClients | None = None
        self._stream_clients: AwsClients | None = None

    def _container(self, function: LambdaFunction, settings: dict[str, str]) -> LambdaContainer:
        """A container configured as Lambda would configure the function."""
        config = self.config
        environment = {
            **os.environ,
            **settings,
            "AWS_ENDPOINT_URL": config.endpoint_url,
            "LOG_LEVEL": config.log_level,
        }
        template = self._templates.get(function.name)
        if template is None:
            template = self._templates[function.name] = ContainerTemplate(
                function.entry, function.name, function.timeout_seconds, environment, config.log_dir
            )
        container = LambdaContainer(template)
        self._containers.append(container)
        return container

    async def start(self) -> str:
        """Start everything; returns where email goes (``outbox=…`` or ``smtp=…``)."""
        config = self.config
        if config.external_smtp is None:
            self._smtp = SmtpSink(config.outbox, host=config.host, port=config.smtp_port).start()
            smtp, mail = (self._smtp.host, self._smtp.port), f"outbox={config.outbox}"
        else:
            smtp = config.external_smtp
            mail = f"smtp={smtp[0]}:{smtp[1]}"
        provisioned = config.provisioned
        names = provisioned.names
        email = {
            "EMAIL_FROM": config.email_from,
            "SMTP_HOST": smtp[0],
            "SMTP_PORT": str(smtp[1]),
            "IDEMPOTENCY_TABLE_NAME": names.idempotency_table,
            "DEAD_LETTER_QUEUE_URL": provisioned.email.dlq_url,
        }
        audit = {
            "AUDIT_TABLE_NAME": names.audit_table,
            "DEAD_LETTER_QUEUE_URL": provisioned.audit.dlq_url,
        }
        publisher = {
            "ORDER_TOPIC_ARN": provisioned.topic_arn,
            "POISON_QUEUE_URL": provisioned.outbox_poison_url,
        }
        self._poll_clients = AwsClients(
            endpoint_url=config.endpoint_url, config=long_poll_config(config.long_poll_seconds)
        )
        sqs = await self._poll_clients.sqs()
        for _ in range(config.pollers_per_queue):
            self._pollers += [
                self._poller(sqs, provisioned.email, self._container(EMAIL_CONSUMER, email)),
                self._poller(sqs, provisioned.audit, self._container(AUDIT_CONSUMER, audit)),
            ]
        publisher_container = self._container(ORDER_PUBLISHER, publisher)
        await start_all(self._containers)
        self._stream_clients = AwsClients(endpoint_url=config.endpoint_url)
        self._stream_poller = StreamPoller(
            StreamEventSource(
                client=await self._stream_clients.dynamodbstreams(),
                stream_arn=provisioned.orders_stream_arn,
                invoke=publisher_container.invoke,
                function_name=publisher_container.function_name,
                function_timeout=publisher_container.timeout,
                position_file=PositionFile(config.stream_position),
                batch_size=STREAM_BATCH_SIZE,
            ),
            on_error=lambda error: self._say(f"outbox {ORDER_PUBLISHER.name}: {error}"),
        )
        self._stream_poller.start()
        for poller in self._pollers:
            poller.start()
        return mail

    def _poller(self, sqs: Any, queue: QueueEndpoints, container: LambdaContainer) -> QueuePoller:
        config = self.config
        source = SqsEventSource(
            client=sqs,
            queue_url=queue.url,
            queue_arn=queue.arn,
            invoke=container.invoke,
            function_name=container.function_name,
            function_timeout=container.timeout,
            batch_size=config.batch_size,
        )
        name = container.function_name
        return QueuePoller(
            source,
            on_error=lambda error: self._say(f"poller {name}: {error}"),
            concurrency=1,
            wait_seconds=config.long_poll_seconds,
            window_seconds=config.batch_window,
        )

    async def stop(self) -> None:
        """Prompt and lossless: long polls are cancelled, received but unhandled messages made
        visible again, batches in a function allowed to finish."""
        # The outbox first: once it stops publishing, nothing new reaches the queues.
        if self._stream_poller is not None:
            await self._stream_poller.stop()
        await asyncio.gather(*(poller.stop() for poller in self._pollers))
        await asyncio.gather(*(container.stop() for container in self._containers))
        await asyncio.gather(*(template.stop() for template in self._templates.values()))
        for clients in (self._poll_clients, self._stream_clients):
            if clients is not None:
                await clients.close()
        if self._smtp is not None:
            self._smtp.stop()


def _console(line: str) -> None:
    print(line, file=sys.__stdout__, flush=True)


async def _serve(config: FleetConfig) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    fleet = ConsumerFleet(config, say=_console)
    try:
        announce_ready(await fleet.start())
        await stopping.wait()
    finally:
        await fleet.stop()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m local.lambda_runtime.consumer_fleet CONFIG_JSON", file=sys.stderr)
        return 2
    config = FleetConfig.model_validate_json(args[0])
    client_costs.install()
    # Its AWS calls are those Lambda's event source mappings make (the emulator's usage meter
    # tells callers apart by this id); each container names itself (``container.main``).
    os.environ[APP_ID_VARIABLE] = "event-source-mapping"
    with contextlib.suppress(OSError):  # a platform without nice still runs, unprioritised
        os.nice(NICENESS)
    hold_lifeline()
    try:
        asyncio.run(_serve(config))
    except FunctionFailed as exc:
        print(f"consumers: {exc}", file=sys.stderr)
        return 1
    return 0


class ConsumerProcess:
    """``orders up``'s handle on the consumer process."""

    def __init__(self, config: FleetConfig):
        self._child = ChildProcess(
            "the consumers",
            [sys.executable, "-m", "local.lambda_runtime.consumer_fleet", config.model_dump_json()],
            config.log_dir / "consumers.log",
        )

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def start(self, on_line: Callable[[str], None]) -> str:
        """Start it and wait until its pollers run; returns where email goes."""
        return self._child.start(within=60.0, on_line=on_line)

    def stop(self) -> None:
        self._child.stop(timeout=20.0)


if __name__ == "__main__":
    sys.exit(main())
