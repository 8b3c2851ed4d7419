"""``LocalStack``: the whole pipeline on one machine, composed from the real handlers."""

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from api.config import ApiSettings
from api.handler import OrderApiFunction, make_handler
from api.observability import logger as api_logger
from local.emulator import MotoProcess
from local.http_front import ApiGatewayFront, Handler
from local.provision import Provisioned, provision
from local.resources import ResourceNames
from local.throttle import TokenBucket
from runtime.aws import AwsClients

DEMO_ORDER = (
    Path(__file__).resolve().parents[1]
    / "contracts"
    / "samples"
    / "order_request.spec_example.json"
)


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


@dataclass
class LocalStack:
    options: StackOptions
    console: TextIO = field(default_factory=lambda: sys.stdout)
    endpoint_url: str = ""
    provisioned: Provisioned | None = None
    _moto: MotoProcess | None = None
    _functions: list[OrderApiFunction] = field(default_factory=list)
    _front: ApiGatewayFront | None = None
    _log: TextIO | None = None

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
        api_logger.registered_handler.setStream(self._log)  # type: ignore[attr-defined]
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
            handlers.append(make_handler(lambda f=function: f))  # type: ignore[misc]
        self._front = ApiGatewayFront(handlers, TokenBucket(opts.rate, opts.burst))
        await self._front.start(opts.host, opts.port)
        self.say(f"ready: api={self.api_url} aws={self.endpoint_url} outbox={opts.outbox}")

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
        clients = AwsClients(endpoint_url=self.endpoint_url)
        try:
            sqs = await clients.sqs()
            for label, queue in (
                ("email", self.provisioned.email),
                ("audit", self.provisioned.audit),
            ):
                attributes = await sqs.get_queue_attributes(
                    QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"]
                )
                waiting = attributes["Attributes"]["ApproximateNumberOfMessages"]
                self.say(f"demo: published   OrderCreated on the {label} queue ({waiting} waiting)")
        finally:
            await clients.close()
        return stored

    async def stop(self) -> None:
        if self._front is not None:
            await self._front.stop()
        for function in self._functions:
            await asyncio.to_thread(function.close)
        if self._moto is not None:
            await asyncio.to_thread(self._moto.stop)
        if self._log is not None:
            sys.stdout = sys.__stdout__
            self._log.close()
