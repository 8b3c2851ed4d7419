"""``LocalStack``: the whole pipeline on one machine, composed from the real handlers."""

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp

from api.config import ApiSettings
from api.handler import OrderApiFunction, make_handler
from api.observability import logger as api_logger
from consumers.audit.handler import AuditFunction, AuditSettings
from consumers.audit.handler import logger as audit_logger
from consumers.audit.handler import metrics as audit_metrics
from consumers.email.handler import EmailFunction, EmailSettings
from consumers.email.handler import logger as email_logger
from consumers.email.handler import metrics as email_metrics
from consumers.function import ConsumerFunction
from consumers.function import make_handler as make_consumer_handler
from local.emulator import MotoProcess
from local.event_source import SqsEventSource
from local.http_front import ApiGatewayFront, Handler
from local.operations import Steps
from local.pollers import QueuePoller
from local.provision import Provisioned, QueueEndpoints, provision
from local.resources import ResourceNames
from local.smtp_sink import SmtpSink
from local.throttle import TokenBucket
from runtime.aws import AwsClients, long_poll_config

DEMO_ORDER = (
    Path(__file__).resolve().parents[1]
    / "contracts"
    / "samples"
    / "order_request.spec_example.json"
)


F = TypeVar("F")


def _container(function: F) -> Callable[[], F]:
    """The "current container" callable a Lambda entry point wants, fixed to one container."""
    return lambda: function


@dataclass(frozen=True)
class StackOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    aws_port: int = 4566
    outbox: Path = Path("var/outbox")
    log_dir: Path = Path("var/logs")
    env_name: str = "dev"
    rate: float = 100.0
    burst: int = 200
    containers: int = 4
    smtp_port: int = 0  # 0: any free port
    # An SMTP server of your own (host, port) instead of the embedded sink and its outbox.
    external_smtp: tuple[str, int] | None = None
    batch_size: int = 10
    batch_window: float = 0.0
    pollers_per_queue: int = 2
    long_poll_seconds: int = 20


@dataclass
class LocalStack:
    options: StackOptions
    console: TextIO = field(default_factory=lambda: sys.stdout)
    endpoint_url: str = ""
    provisioned: Provisioned | None = None
    _moto: MotoProcess | None = None
    _functions: list[OrderApiFunction | ConsumerFunction] = field(default_factory=list)
    _front: ApiGatewayFront | None = None
    _log: TextIO | None = None
    _smtp: SmtpSink | None = None
    _pollers: list[QueuePoller] = field(default_factory=list)
    _poll_clients: AwsClients | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    def say(self, line: str) -> None:
        print(line, file=self.console, flush=True)

    def _route_function_output(self) -> Path:
        """Handler logs and EMF metrics go to a file, as they would go to CloudWatch; the
        console keeps the stack's own lines."""
        self.options.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.options.log_dir / "functions.log"
        self._log = path.open("a", encoding="utf-8", buffering=1)
        for logger in (api_logger, email_logger, audit_logger):
            logger.registered_handler.setStream(self._log)  # type: ignore[attr-defined]
        sys.stdout = self._log
        return path

    async def start(self) -> None:
        opts = self.options
        opts.outbox.mkdir(parents=True, exist_ok=True)
        external = os.environ.get("AWS_ENDPOINT_URL")
        if external:
            self.endpoint_url = external
        else:
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
            self._moto = MotoProcess(opts.host, opts.aws_port)
            await asyncio.to_thread(self._moto.start)
            self.endpoint_url = self._moto.url
        clients = AwsClients(endpoint_url=self.endpoint_url)
        try:
            self.provisioned = await provision(clients, ResourceNames(opts.env_name))
        finally:
            await clients.close()
        names = self.provisioned.names
        settings = ApiSettings.model_validate(
            {
                "ORDER_TABLE_NAME": names.orders_table,
                "ORDER_TOPIC_ARN": self.provisioned.topic_arn,
                "IDEMPOTENCY_TABLE_NAME": names.idempotency_table,
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            }
        )
        self._route_function_output()
        handlers: list[Handler] = []
        for _ in range(opts.containers):
            function = OrderApiFunction(
                settings, clients=AwsClients(endpoint_url=self.endpoint_url)
            )
            self._functions.append(function)
            handlers.append(make_handler(_container(function)))
        self._front = ApiGatewayFront(handlers, TokenBucket(opts.rate, opts.burst))
        await self._front.start(opts.host, opts.port)
        if opts.external_smtp is None:
            self._smtp = SmtpSink(opts.outbox, host=opts.host, port=opts.smtp_port).start()
            smtp, mail = (self._smtp.host, self._smtp.port), f"outbox={opts.outbox}"
        else:
            smtp = opts.external_smtp
            mail = f"smtp={smtp[0]}:{smtp[1]}"
        await self._start_consumers(self.provisioned, smtp)
        self.say(f"ready: api={self.api_url} aws={self.endpoint_url} {mail}")

    async def _start_consumers(self, provisioned: Provisioned, smtp: tuple[str, int]) -> None:
        """One consumer container per poller slot, as Lambda runs one batch per container."""
        names = provisioned.names
        self._poll_clients = AwsClients(
            endpoint_url=self.endpoint_url, config=long_poll_config(self.options.long_poll_seconds)
        )
        sqs = await self._poll_clients.sqs()
        email_settings = EmailSettings.model_validate(
            {
                "EMAIL_FROM": os.environ.get("EMAIL_FROM", "orders@shop.example.com"),
                "SMTP_HOST": smtp[0],
                "SMTP_PORT": str(smtp[1]),
                "IDEMPOTENCY_TABLE_NAME": names.idempotency_table,
                "DEAD_LETTER_QUEUE_URL": provisioned.email.dlq_url,
            }
        )
        audit_settings = AuditSettings.model_validate(
            {
                "AUDIT_TABLE_NAME": names.audit_table,
                "DEAD_LETTER_QUEUE_URL": provisioned.audit.dlq_url,
            }
        )
        opts = self.options
        for _ in range(opts.pollers_per_queue):
            email = EmailFunction(email_settings, AwsClients(endpoint_url=self.endpoint_url))
            audit = AuditFunction(audit_settings, AwsClients(endpoint_url=self.endpoint_url))
            self._functions += [email, audit]
            email_entry = make_consumer_handler(email_logger, email_metrics, _container(email))
            audit_entry = make_consumer_handler(audit_logger, audit_metrics, _container(audit))
            self._pollers.append(
                self._poller(sqs, provisioned.email, email_entry, "email-consumer", 60.0)
            )
            self._pollers.append(
                self._poller(sqs, provisioned.audit, audit_entry, "audit-consumer", 30.0)
            )
        for poller in self._pollers:
            poller.start()

    def _poller(
        self, sqs: Any, queue: QueueEndpoints, entry: Handler, name: str, timeout: float
    ) -> QueuePoller:
        opts = self.options
        source = SqsEventSource(
            client=sqs,
            queue_url=queue.url,
            queue_arn=queue.arn,
            handler=entry,
            function_name=name,
            function_timeout=timeout,
            batch_size=opts.batch_size,
            executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix=name),
        )
        return QueuePoller(
            source,
            on_error=lambda error: self.say(f"poller {name}: {error}"),
            concurrency=1,
            wait_seconds=opts.long_poll_seconds,
            window_seconds=opts.batch_window,
        )

    async def demo(self) -> bool:
        """Submit one sample order and follow it through each step that exists."""
        if self.provisioned is None:
            raise RuntimeError("demo() needs a started stack")
        body = DEMO_ORDER.read_text(encoding="utf-8")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.api_url}/order", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                accepted: dict[str, Any] = await response.json()
                if response.status != 200:
                    self.say(f"demo: submitted -> {response.status} {json.dumps(accepted)}")
                    return False
            order_id = accepted["orderId"]
            self.say(f"demo: submitted   order {order_id}")
            async with http.get(f"{self.api_url}/order/{order_id}") as response:
                stored = response.status == 200
            self.say(f"demo: stored      {'yes' if stored else 'NO'} (GET /order/{order_id})")
        self.say(
            f"demo: published   OrderCreated to {self.provisioned.topic_arn.rsplit(':', 1)[-1]}"
        )
        clients = AwsClients(endpoint_url=self.endpoint_url)
        try:
            email = await self._wait_for(lambda: self._email_file(order_id))
            self.say(f"demo: emailed     {email or 'NO (not within 30 s)'}")
            audit = await self._wait_for(lambda: self._audit_id(clients, order_id))
            self.say(
                f"demo: audited     {('AuditId ' + audit) if audit else 'NO (not within 30 s)'}"
            )
        finally:
            await clients.close()
        return stored and email is not None and audit is not None

    async def _wait_for(
        self, probe: Callable[[], Awaitable[str | None]], within: float = 30.0
    ) -> str | None:
        """Poll ``probe`` with backoff until it finds something or ``within`` seconds pass."""
        deadline = asyncio.get_running_loop().time() + within
        pause = 0.05
        while True:
            found = await probe()
            if found is not None or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _email_file(self, order_id: str) -> str | None:
        subject = f"Subject: Order Confirmation - Order #{order_id}".encode()
        for path in self.options.outbox.glob("*.eml"):
            if subject in path.read_bytes():
                return str(path)
        return None

    async def _audit_id(self, clients: AwsClients, order_id: str) -> str | None:
        if self.provisioned is None:
            return None
        items = await Steps(clients, self.provisioned.names).audit_records(order_id)
        return items[0]["AuditId"]["S"] if items else None

    async def stop(self) -> None:
        if self._front is not None:
            await self._front.stop()
        await asyncio.gather(*(poller.stop() for poller in self._pollers))
        for poller in self._pollers:
            if poller.source.executor is not None:
                poller.source.executor.shutdown(wait=True)
        if self._poll_clients is not None:
            await self._poll_clients.close()
        if self._smtp is not None:
            self._smtp.stop()
        for function in self._functions:
            await asyncio.to_thread(function.close)
        if self._moto is not None:
            await asyncio.to_thread(self._moto.stop)
        if self._log is not None:
            sys.stdout = sys.__stdout__
            self._log.close()
