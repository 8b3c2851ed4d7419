"""Provisioned stacks and sync boto3 views on moto, for arranging and asserting in tests."""

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from local.aws.provision import PROVISIONING_CONFIG, Provisioned, provision
from local.aws.resources import ResourceNames
from runtime.aws import AwsClients


def new_stack(endpoint_url: str, prefix: str = "t") -> Provisioned:
    """A full set of SPEC §7 resources under a name prefix of its own."""

    async def run() -> Provisioned:
        clients = AwsClients(endpoint_url=endpoint_url, config=PROVISIONING_CONFIG)
        try:
            return await provision(clients, ResourceNames(f"{prefix}{uuid.uuid4().hex[:10]}"))
        finally:
            await clients.close()

    return asyncio.run(run())


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
