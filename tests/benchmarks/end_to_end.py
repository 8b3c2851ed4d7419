"""One-machine end-to-end figures of ``orders up``.

1. Throughput: N orders POSTed (16 at a time) until every one has its email in the outbox and
   its audit record: orders/s from the first POST to the last completion.
2. API latency at a steady 50 requests/s (open loop: sent on schedule, not after the previous
   answer): p50 and p95 of POST /order.
3. For scale, in the same run: the rate the emulator itself sustains for the same AWS calls an
   order causes (put order, publish, claim + mark the email, put the audit record, and a receive
   and a batch delete per 10 messages on each queue), 16 at a time through aioboto3, against an
   emulator process of its own (as ``orders up`` runs it), without any of our code.

    python -m tests.benchmarks.end_to_end [--orders N] [--latency-requests N]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from contracts.sample_data import sample, sample_text
from local.aws.emulator import MotoProcess
from local.aws.provision import provision
from local.aws.resources import ResourceNames
from runtime.aws import AwsClients
from tests.support.moto_server import free_port
from tests.support.stack_process import StackProcess, start_orders_up

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 16


def start_stack(workdir: Path, *extra: str) -> tuple[StackProcess, str, Path]:
    aws_port = free_port()
    outbox = workdir / "outbox"
    stack = start_orders_up(
        workdir,
        "--aws-port",
        str(aws_port),
        "--outbox",
        str(outbox),
        "--rate",
        "100000",
        "--burst",
        "100000",
        # 16 clients in flight against 4 containers: they wait their turn here, since what
        # this measures is throughput, not the front's shedding (tests.benchmarks.load_targets).
        "--max-wait",
        "5",
        *extra,
    )
    return stack, f"http://127.0.0.1:{aws_port}", outbox


async def throughput(api: str, aws: str, outbox: Path, orders: int) -> float:
    body = sample_text("order_request.spec_example.json")
    slots = asyncio.Semaphore(CONCURRENCY)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:

        async def post() -> None:
            async with (
                slots,
                http.post(
                    f"{api}/order", data=body, headers={"Content-Type": "application/json"}
                ) as r,
            ):
                if r.status != 200:
                    raise SystemExit(f"POST answered {r.status}")

        await asyncio.gather(*(post() for _ in range(orders)))
    clients = AwsClients(endpoint_url=aws)
    try:
        dynamodb = await clients.dynamodb()
        while True:
            audited = (await dynamodb.scan(TableName="dev-AuditLogs", Select="COUNT"))["Count"]
            emailed = len(await asyncio.to_thread(lambda: list(outbox.glob("*.eml"))))
            if audited >= orders and emailed >= orders:
                return orders / (time.perf_counter() - started)
            if time.perf_counter() - started > 600:
                raise SystemExit(
                    f"not done after 600 s: emailed {emailed}, audited {audited} of {orders}"
                )
            await asyncio.sleep(0.05)
    finally:
        await clients.close()


async def latency(api: str, requests: int, rate: float) -> list[float]:
    body = sample_text("order_request.spec_example.json")
    timings: list[float] = []
    async with aiohttp.ClientSession() as http:

        async def post(at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            sent = time.perf_counter()
            async with http.post(
                f"{api}/order", data=body, headers={"Content-Type": "application/json"}
            ) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"POST answered {r.status}")
            timings.append((time.perf_counter() - sent) * 1000)

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(post(start + n / rate) for n in range(requests)))
    return timings


async def emulator_alone(orders: int) -> float:
    moto = MotoProcess("127.0.0.1", free_port())
    moto.start()
    try:
        clients = AwsClients(endpoint_url=moto.url)
        stack = await provision(clients, ResourceNames("bench"))
        dynamodb, sns, sqs = await clients.dynamodb(), await clients.sns(), await clients.sqs()
        event = json.dumps(sample("order_created.v1.valid.json"))
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one_order() -> None:
            order_id = str(uuid.uuid4())
            async with slots:
                await dynamodb.put_item(
                    TableName=stack.names.orders_table,
                    Item={"OrderId": {"S": order_id}, "Body": {"S": event}},
                )
                await sns.publish(TopicArn=stack.topic_arn, Message=event)
                key = {"IdempotencyKey": {"S": f"email#{order_id}"}}
                await dynamodb.put_item(
                    TableName=stack.names.idempotency_table,
                    Item={**key, "Status": {"S": "SENDING"}},
                )
                await dynamodb.put_item(
                    TableName=stack.names.idempotency_table,
                    Item={**key, "Status": {"S": "SENT"}},
                )
                await dynamodb.put_item(
                    TableName=stack.names.audit_table,
                    Item={
                        "AuditId": {"S": order_id},
                        "Timestamp": {"S": "2026-11-25T00:00:00.000Z"},
                        "OrderId": {"S": order_id},
                    },
                )

        async def drain(url: str) -> None:
            got = (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)).get(
                "Messages", []
            )
            if got:
                await sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )

        started = time.perf_counter()
        for first in range(0, orders, 10):
            await asyncio.gather(*(one_order() for _ in range(min(10, orders - first))))
            await asyncio.gather(drain(stack.email.url), drain(stack.audit.url))
        rate = orders / (time.perf_counter() - started)
        await clients.close()
        return rate
    finally:
        moto.stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--latency-requests", type=int, default=500)
    parser.add_argument(
        "--latency-rate", type=float, default=50.0, help="requests/s for the latency run"
    )
    parser.add_argument("--pollers", type=int, default=2, help="orders up --pollers")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    workdir = Path(tempfile.mkdtemp(prefix="e2e-bench-"))
    stack, aws, outbox = start_stack(workdir, "--pollers", str(args.pollers))
    try:
        e2e = asyncio.run(throughput(stack.api, aws, outbox, args.orders))
        timings = asyncio.run(latency(stack.api, args.latency_requests, args.latency_rate))
    finally:
        stack.stop()
    alone = asyncio.run(emulator_alone(args.orders))
    p50, p95 = statistics.median(timings), percentile(timings, 0.95)
    share = e2e / alone
    print(
        f"end to end ({args.orders} orders, POST -> email + audit record, {CONCURRENCY} at a time): {e2e:.1f} orders/s"
    )
    print(f"the emulator alone, the same AWS calls per order:          {alone:.1f} orders/s")
    print(f"  end to end is {share:.0%} of the emulator's own rate (target >= 50%)")
    print(
        f"API latency at {args.latency_rate:g} requests/s ({len(timings)} requests): "
        f"p50 {p50:.1f} ms  p95 {p95:.1f} ms (target at 50/s: p95 <= 50 ms)"
    )
    # The latency target is stated at 50 requests/s: a run at another rate cannot pass it.
    ok = share >= 0.5 and p95 <= 50 and args.latency_rate == 50
    print("  PASS" if ok else "  FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
