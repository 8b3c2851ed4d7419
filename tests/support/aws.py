"""Provisioned stacks and sync boto3 views on moto, for arranging and asserting in tests."""

import asyncio
import atexit
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import aioboto3
import aiobotocore.session
import boto3
import botocore.loaders
from aiobotocore.config import AioConfig

from local.aws.provision import PROVISIONING_CONFIG, Provisioned, provision
from local.aws.resources import ResourceNames
from runtime.aws import AwsClients

# Service models parsed once per test process: a new session parses them again (~80 ms for two
# clients, for each of a few hundred tests). Sessions stay apart; only the loaded files are shared.
_MODELS = botocore.loaders.create_loader()


def aws_clients(endpoint_url: str, config: AioConfig | None = None) -> AwsClients:
    """``AwsClients`` of a session of their own that reads the service models parsed already."""
    core = aiobotocore.session.get_session()
    core.register_component("data_loader", _MODELS)
    return AwsClients(
        session=aioboto3.Session(botocore_session=core), config=config, endpoint_url=endpoint_url
    )


class Provisioner:
    """Provisions stacks on one endpoint with clients made once, on a loop of its own thread.

    Most integration tests provision a fresh stack; building the three aioboto3 clients again
    for each took about a third of the time."""

    _by_endpoint: ClassVar[dict[str, "Provisioner"]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, endpoint_url: str):
        self._loop = asyncio.new_event_loop()
        self._clients = aws_clients(endpoint_url, PROVISIONING_CONFIG)
        threading.Thread(target=self._loop.run_forever, name="provisioner", daemon=True).start()

    @classmethod
    def on(cls, endpoint_url: str) -> "Provisioner":
        with cls._lock:
            found = cls._by_endpoint.get(endpoint_url)
            if found is None:
                found = cls._by_endpoint[endpoint_url] = cls(endpoint_url)
                atexit.register(found.close)
            return found

    def provision(self, names: ResourceNames) -> Provisioned:
        return asyncio.run_coroutine_threadsafe(
            provision(self._clients, names), self._loop
        ).result()

    def close(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._clients.close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)


def new_stack(endpoint_url: str, prefix: str = "t") -> Provisioned:
    """A full set of SPEC §7 resources under a name prefix of its own."""
    return Provisioner.on(endpoint_url).provision(ResourceNames(f"{prefix}{uuid.uuid4().hex[:10]}"))


@dataclass
class Boto:
    """Plain boto3 clients on the emulator, for the test's own reads and writes."""

    endpoint_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1")

    def receive_all(
        self, queue_url: str, expect: int | None = None, within: float = 5.0
    ) -> list[dict[str, Any]]:
        """Every message now on the queue (deleting them), polling with backoff until ``expect``
        messages arrived or ``within`` seconds passed; never a fixed sleep."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        pause = 0.02
        while True:
            got = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            for message in got:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            messages.extend(got)
            if got:
                continue
            if expect is None or len(messages) >= expect or time.monotonic() > deadline:
                return messages
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def scan(self, table: str) -> list[dict[str, Any]]:
        return list(self.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"])

    def wait_for_items(self, table: str, count: int, within: float = 15.0) -> list[dict[str, Any]]:
        """The table's items once it holds ``count`` (polling with backoff), else fail."""
        deadline = time.monotonic() + within
        pause = 0.02
        while True:
            items = self.scan(table)
            if len(items) >= count:
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"{table} holds {len(items)} items, not {count}")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
