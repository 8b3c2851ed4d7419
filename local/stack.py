"""``LocalStack``: the whole pipeline on one machine, composed from the real handlers."""

import asyncio
import fcntl
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from api.config import ApiSettings
from local.aws.emulator import MotoProcess, StateKeeping
from local.aws.provision import PROVISIONING_CONFIG, Provisioned, provision
from local.aws.resources import ResourceNames
from local.aws.state_file import StateFile
from local.commands.operations import Steps
from local.gateway.access_log import ACCESS_LOG_FILE, AccessLog
from local.gateway.front import ApiGatewayFront
from local.gateway.proxy_event import proxy_event
from local.gateway.throttle import TokenBucket
from local.lambda_runtime.consumer_fleet import ConsumerProcess, FleetConfig
from local.lambda_runtime.container import LambdaContainer, start_all
from runtime.aws import AwsClients
from runtime.config import load_settings
from runtime.functions import ORDER_API

WARM_UP_ORDER_ID = "00000000-0000-4000-8000-000000000000"  # never an order: a 404
DEMO_ORDER = (
    Path(__file__).resolve().parents[1]
    / "contracts"
    / "samples"
    / "order_request.spec_example.json"
)


T = TypeVar("T")
STATE_FILE = "aws.state"  # in the state folder: the emulator's (local.aws.state_file)
STREAM_POSITION_FILE = "stream-position.json"
LOCK_FILE = "lock"


class StateUnavailable(RuntimeError):
    pass


class EndpointUnusable(RuntimeError):
    """The AWS endpoint refused provisioning, or the settings to reach it are missing."""


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


LOOPBACK = "127.0.0.1"  # the emulator and the SMTP sink listen here, whatever --host says
WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of "every interface", to tell them apart


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class StackOptions:
    host: str = "127.0.0.1"  # where the front (the API) listens: the only door from outside
    api_key: str | None = None  # required as x-api-key on every request, as the stage can
    port: int = 8000
    aws_port: int = 4566
    outbox: Path = Path("var/outbox")
    # The emulator's saved state (``local.aws.state_file``) and the outbox's stream position
    # (``local.lambda_runtime.stream_source``), kept across restarts.
    state: Path = Path("var/state")
    fresh: bool = False  # set the saved state aside and start empty
    save_every: float = 5.0
    log_dir: Path = Path("var/logs")
    env_name: str = "dev"
    rate: float = 100.0
    burst: int = 200
    containers: int = 4
    # How long a request may wait for a free API container before it is refused with a 429.
    max_wait: float = 0.1
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
    _containers: list[LambdaContainer] = field(default_factory=list)
    _front: ApiGatewayFront | None = None
    _consumers: ConsumerProcess | None = None
    _state_lock: TextIO | None = None

    @property
    def stream_position(self) -> Path:
        return self.options.state / STREAM_POSITION_FILE

    @property
    def api_url(self) -> str:
        """Where this machine reaches the API (loopback when it listens on every interface)."""
        host = self.options.host
        return f"http://{LOOPBACK if host in WILDCARDS else host}:{self.options.port}"

    @property
    def _api_headers(self) -> dict[str, str]:
        return {"x-api-key": self.options.api_key} if self.options.api_key else {}

    def say(self, line: str) -> None:
        print(line, file=self.console, flush=True)

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
            self._hold_state()
            # Loopback only: the emulator answers anyone with no credentials (every table,
            # queue and message, and moto's /moto-api/reset).
            self._moto = MotoProcess(
                LOOPBACK,
                opts.aws_port,
                opts.log_dir / "emulator.log",
                keeping=StateKeeping(
                    opts.state / STATE_FILE, opts.save_every, self.stream_position
                ),
            )
            await asyncio.to_thread(self._moto.start, on_line=self.say)
            self.endpoint_url = self._moto.url
        clients = AwsClients(endpoint_url=self.endpoint_url, config=PROVISIONING_CONFIG)
        try:
            self.provisioned = await provision(clients, ResourceNames(opts.env_name))
        except (BotoCoreError, ClientError) as exc:
            yours = (
                " (AWS_ENDPOINT_URL is set: its region and credentials are your AWS settings, "
                "e.g. AWS_DEFAULT_REGION)"
                if external and isinstance(exc, NoRegionError | NoCredentialsError)
                else ""
            )
            raise EndpointUnusable(
                f"could not provision on {self.endpoint_url}: {exc}{yours}"
            ) from None
        finally:
            await clients.close()
        names = self.provisioned.names
        environment = {
            **os.environ,
            "ORDER_TABLE_NAME": names.orders_table,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }
        load_settings(ApiSettings, environment)  # a bad variable is named before anything runs
        self._containers = LambdaContainer.group(
            opts.containers,
            ORDER_API.entry,
            ORDER_API.name,
            ORDER_API.timeout_seconds,
            environment,
            opts.log_dir,
        )
        await start_all(self._containers)
        self._front = ApiGatewayFront(
            [container.invoke for container in self._containers],
            TokenBucket(opts.rate, opts.burst),
            function_timeout=ORDER_API.timeout_seconds,
            max_wait=opts.max_wait,
            access_log=AccessLog(opts.log_dir / ACCESS_LOG_FILE),
            api_key=opts.api_key,
        )
        await self._front.warm(proxy_event("GET", f"/order/{WARM_UP_ORDER_ID}"))
        await self._front.start(opts.host, opts.port)
        self._consumers = ConsumerProcess(
            FleetConfig(
                endpoint_url=self._moto.background_url if self._moto else self.endpoint_url,
                provisioned=self.provisioned,
                host=LOOPBACK,  # the SMTP sink: the emails are customers' data
                outbox=opts.outbox,
                stream_position=self.stream_position,
                smtp_port=opts.smtp_port,
                external_smtp=opts.external_smtp,
                email_from=os.environ.get("EMAIL_FROM", "orders@shop.example.com"),
                log_level=os.environ.get("LOG_LEVEL", "INFO"),
                log_dir=opts.log_dir,
                batch_size=opts.batch_size,
                batch_window=opts.batch_window,
                pollers_per_queue=opts.pollers_per_queue,
                long_poll_seconds=opts.long_poll_seconds,
            )
        )
        mail = await asyncio.to_thread(self._consumers.start, self.say)
        if not is_loopback(opts.host):
            guard = (
                "every request needs its x-api-key"
                if opts.api_key
                else "anyone there can send and read orders (--api-key KEY requires x-api-key)"
            )
            self.say(
                f"exposed: the API listens on {opts.host or '*'}:{opts.port}, reachable from "
                f"other machines; {guard}. The emulator and the SMTP sink stay on {LOOPBACK}."
            )
        self.say(f"ready: api={self.api_url} aws={self.endpoint_url} {mail}")

    def _hold_state(self) -> None:
        """Take the state folder for this run (one ``orders up`` at a time), and with
        ``--fresh`` set its saved state aside."""
        folder = self.options.state
        if folder.exists() and not folder.is_dir():
            raise StateUnavailable(f"--state {folder} is a file, not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._state_lock = (folder / LOCK_FILE).open("a+")
        except OSError as exc:
            raise StateUnavailable(
                f"--state {folder} cannot be used: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(self._state_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._state_lock.close()
            self._state_lock = None
            raise StateUnavailable(
                f"{folder} is in use by another orders up; stop it, or give this one "
                "--state DIR of its own"
            ) from None
        if self.options.fresh:
            aside = StateFile(folder / STATE_FILE).set_aside()
            StateFile(self.stream_position).set_aside()  # it points into the state set aside
            if aside is not None:
                self.say(f"fresh: starting empty; the saved state is kept as {aside}")

    async def demo(self) -> bool:
        """Submit one sample order and follow it through each step that exists."""
        if self.provisioned is None:
            raise RuntimeError("demo() needs a started stack")
        body = DEMO_ORDER.read_text(encoding="utf-8")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.api_url}/order",
                data=body,
                headers={"Content-Type": "application/json", **self._api_headers},
            ) as response:
                accepted: dict[str, Any] = await response.json()
                if response.status != 200:
                    self.say(f"demo: submitted -> {response.status} {json.dumps(accepted)}")
                    return False
            order_id = accepted["orderId"]
            self.say(f"demo: submitted   order {order_id}")
            async with http.get(
                f"{self.api_url}/order/{order_id}", headers=self._api_headers
            ) as response:
                stored = response.status == 200
            self.say(f"demo: stored      {'yes' if stored else 'NO'} (GET /order/{order_id})")
        topic = self.provisioned.topic_arn.rsplit(":", 1)[-1]
        clients = AwsClients(endpoint_url=self.endpoint_url)
        try:
            record = await self._wait_for(lambda: self._audit_record(clients, order_id))
            published = (record or {}).get("PublishedAt", {}).get("S")
            lag = (
                f" ({_seconds_between(accepted['createdAt'], published):.2f} s after it was stored)"
                if published
                else ""
            )
            self.say(
                f"demo: published   OrderCreated to {topic}{lag}"
                if record
                else "demo: published   NO (no event within 30 s)"
            )
            email = await self._wait_for(lambda: self._email_file(order_id))
            self.say(f"demo: emailed     {email or 'NO (not within 30 s)'}")
            audit = record["AuditId"]["S"] if record else None
            self.say(
                f"demo: audited     {('AuditId ' + audit) if audit else 'NO (not within 30 s)'}"
            )
        finally:
            await clients.close()
        return stored and email is not None and audit is not None

    async def _wait_for(
        self, probe: Callable[[], Awaitable[T | None]], within: float = 30.0
    ) -> T | None:
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

    async def _audit_record(self, clients: AwsClients, order_id: str) -> dict[str, Any] | None:
        if self.provisioned is None:
            return None
        items = await Steps(clients, self.provisioned.names).audit_records(order_id)
        return items[0] if items else None

    async def stop(self) -> None:
        """In order: the API stops taking requests, the consumers hand back what they hold,
        then the emulator goes."""
        if self._front is not None:
            await self._front.stop()
        if self._consumers is not None:
            await asyncio.to_thread(self._consumers.stop)
        await asyncio.gather(*(container.stop() for container in self._containers))
        if self._containers:
            await self._containers[0].template.stop()
        if self._moto is not None:
            await asyncio.to_thread(self._moto.stop)
        if self._state_lock is not None:
            self._state_lock.close()  # and with it the lock
            self._state_lock = None
