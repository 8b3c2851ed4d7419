"""What ``orders status``, ``orders submit`` and ``orders dlq`` do, against a running stack."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

import aiohttp

from consumers.audit.writer import ORDER_ID_INDEX
from consumers.dead_letters import DeadLetterQueue
from consumers.email.ledger import ledger_key
from contracts.sample_data import sample
from local.aws.resources import ResourceNames
from local.commands.progress import StepProgress
from runtime.aws import AwsClients
from runtime.logs import mask_emails
from runtime.retry import RetryPolicy


@dataclass(frozen=True)
class Target:
    api: str
    aws: str
    names: ResourceNames
    api_key: str | None = None  # sent as x-api-key when the API requires one

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key} if self.api_key else {}


class Steps:
    """Where an order is in the pipeline, read from the stores each step writes.

    Read-only queries of this tool; the functions themselves never read these back, so their
    roles need no Query or GetItem on these tables.
    """

    def __init__(self, clients: AwsClients, names: ResourceNames):
        self._clients = clients
        self._names = names
        self._retry = RetryPolicy()

    async def audit_records(self, order_id: str) -> list[dict[str, Any]]:
        """Every audit item of an order, through the OrderIdIndex GSI."""
        client = await self._clients.dynamodb()
        response = await self._retry.call(
            "dynamodb.Query",
            lambda: client.query(
                TableName=self._names.audit_table,
                IndexName=ORDER_ID_INDEX,
                KeyConditionExpression="OrderId = :order_id",
                ExpressionAttributeValues={":order_id": {"S": order_id}},
            ),
        )
        return [dict(item) for item in response.get("Items", [])]

    async def emailed(self, order_id: str) -> bool:
        client = await self._clients.dynamodb()
        response = await self._retry.call(
            "dynamodb.GetItem",
            lambda: client.get_item(
                TableName=self._names.idempotency_table,
                Key=ledger_key(order_id),
                ConsistentRead=True,
            ),
        )
        return response.get("Item", {}).get("Status", {}).get("S") == "SENT"


async def status(target: Target, order_id: str, out: TextIO) -> int:
    async with (
        aiohttp.ClientSession(headers=target.headers) as http,
        http.get(f"{target.api}/order/{order_id}") as response,
    ):
        body = await response.json(content_type=None)
    if response.status != 200:
        print(
            f"order     {order_id}: {response.status} {body.get('error') or body.get('message')}",
            file=out,
        )
        return 1
    print(
        f"order     {order_id}  stored  total {body['totalAmount']}  created {body['createdAt']}",
        file=out,
    )
    clients = AwsClients(endpoint_url=target.aws)
    try:
        steps = Steps(clients, target.names)
        records = await steps.audit_records(order_id)
        print(f"audit     {len(records)} record(s)", file=out)
        for record in records:
            print(f"          {record['AuditId']['S']} at {record['Timestamp']['S']}", file=out)
        print(
            f"email     {'sent' if await steps.emailed(order_id) else 'not sent (yet)'}", file=out
        )
    finally:
        await clients.close()
    return 0


async def _url_and_arn(sqs: Any, queue_name: str) -> tuple[str, str]:
    url = (await sqs.get_queue_url(QueueName=queue_name))["QueueUrl"]
    attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attributes["Attributes"]["QueueArn"]


async def dlq(target: Target, action: str, queue: str, out: TextIO) -> int:
    clients = AwsClients(endpoint_url=target.aws)
    try:
        sqs = await clients.sqs()
        spec = target.names.email_queue if queue == "email" else target.names.audit_queue
        dlq_url, dlq_arn = await _url_and_arn(sqs, spec.dlq_name)
        source_url, source_arn = await _url_and_arn(sqs, spec.name)
        dead = DeadLetterQueue(sqs, dlq_url, dlq_arn, source_url, source_arn)
        if action == "list":
            letters = await dead.list()
            print(f"{spec.dlq_name}: {len(letters)} message(s)", file=out)
            for letter in letters:
                reason = letter.attributes.get("deadLetterReason", "failed 3 receives")
                print(f"  {letter.message_id}  receives={letter.receive_count}  {reason}", file=out)
                print(f"    {mask_emails(letter.body)[:300]}", file=out)
            return 0
        result = await dead.redrive()
        print(
            f"{spec.dlq_name}: moved {result.moved} message(s) to {spec.name} ({result.method})",
            file=out,
        )
        return 0
    finally:
        await clients.close()


async def submit(target: Target, count: int, rate: float, out: TextIO, within: float = 60.0) -> int:
    """Send ``count`` sample orders at ``rate`` per second, then count how many reached each
    step (bounded polling, ``within`` seconds at most)."""
    template = sample("order_request.spec_example.json")
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    started = time.monotonic()
    with StepProgress("submitting", count, out) as progress:
        async with aiohttp.ClientSession(headers=target.headers) as http:

            async def one(n: int) -> None:
                body = template | {"customerId": f"CUST-LOAD-{n}"}
                try:
                    async with http.post(f"{target.api}/order", json=body) as response:
                        statuses[response.status] += 1
                        if response.status == 200:
                            accepted.append((await response.json())["orderId"])
                except aiohttp.ClientError:
                    statuses[0] += 1
                progress.advance()

            tasks = []
            for n in range(count):
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                tasks.append(asyncio.create_task(one(n)))
            await asyncio.gather(*tasks)
    for status_code, seen in sorted(statuses.items()):
        print(f"  HTTP {status_code or 'connection error'}: {seen}", file=out)
    clients = AwsClients(endpoint_url=target.aws)
    try:
        steps = Steps(clients, target.names)
        emailed: set[str] = set()
        audited: set[str] = set()
        deadline, pause = time.monotonic() + within, 0.2
        while time.monotonic() < deadline and (
            len(emailed) < len(accepted) or len(audited) < len(accepted)
        ):
            for order_id in accepted:
                if order_id not in emailed and await steps.emailed(order_id):
                    emailed.add(order_id)
                if order_id not in audited and await steps.audit_records(order_id):
                    audited.add(order_id)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
    finally:
        await clients.close()
    print(
        f"submitted {count}  accepted {len(accepted)}  emailed {len(emailed)}  audited {len(audited)}",
        file=out,
    )
    return 0 if len(emailed) == len(audited) == len(accepted) else 1
