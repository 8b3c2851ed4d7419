"""The emulator with and without a backlog: SNS publish and SQS receive+delete rates with no
messages waiting and with 10,000 waiting, in one run (target: the backlog rates >= 0.8x).

For each depth a fresh topic with its two subscribed queues is filled to that depth, then:
publish ``--calls`` messages (each fans out to both queues), and receive + delete ``--calls``
messages from one queue in batches of 10; ``--concurrency`` calls in flight, through aioboto3
as the pipeline calls it. With ``--stock``, moto's own server (``python -m moto.server``) is
measured the same way at the depths given by ``--stock-depths`` (it slows with depth, so
10,000 takes too long to fill there).

    python -m tests.benchmarks.emulator [--depth 10000] [--calls 1000] [--stock]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiobotocore.config import AioConfig

from contracts.sample_data import sample
from local.aws.emulator import MotoProcess
from local.aws.provision import Provisioned, provision
from local.aws.resources import ResourceNames
from runtime.aws import DEFAULT_CONFIG, AwsClients
from tests.support.moto_server import free_port
from tests.support.polling import eventually

EVENT = json.dumps(sample("order_created.v1.valid.json"))


async def in_flight(count: int, concurrency: int, call: Callable[[], Awaitable[int]]) -> float:
    """Run ``call`` until it has done ``count`` units, ``concurrency`` at a time; units/s.
    A worker whose call did nothing (the last messages are with the others) stops."""
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while done < count:
            got = await call()
            done += got
            if got == 0:
                return

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def measure(
    endpoint: str, depth: int, calls: int, concurrency: int, run: int
) -> tuple[float, float]:
    clients = AwsClients(
        endpoint_url=endpoint, config=DEFAULT_CONFIG.merge(AioConfig(read_timeout=120))
    )
    try:
        stack: Provisioned = await provision(clients, ResourceNames(f"bench{run}"))
        sns, sqs = await clients.sns(), await clients.sqs()

        async def publish() -> int:
            await sns.publish(TopicArn=stack.topic_arn, Message=EVENT)
            return 1

        await in_flight(depth, concurrency, publish)  # the backlog
        publish_rate = await in_flight(calls, concurrency, publish)

        async def receive_and_delete() -> int:
            got = (
                await sqs.receive_message(
                    QueueUrl=stack.email.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                )
            ).get("Messages", [])
            if got:
                await sqs.delete_message_batch(
                    QueueUrl=stack.email.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )
            return len(got)

        drain_rate = await in_flight(calls, concurrency, receive_and_delete)
        return publish_rate, drain_rate
    finally:
        await clients.close()


class StockMoto:
    """moto's own server, as ``orders up`` ran it before ``local.aws.server``."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import urllib.request

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1):  # noqa: S310
                    return True
            except OSError:
                return False

        if not eventually(answers, within=30):
            raise SystemExit("moto.server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def rates(endpoint: str, depths: list[int], args: argparse.Namespace) -> dict[int, Any]:
    return {
        depth: asyncio.run(measure(endpoint, depth, args.calls, args.concurrency, run))
        for run, depth in enumerate(depths)
    }


def report(name: str, results: dict[int, tuple[float, float]]) -> None:
    for depth, (publish, drain) in results.items():
        print(
            f"  {name:10s} {depth:6d} waiting: publish {publish:7.1f}/s   "
            f"receive+delete {drain:7.1f} messages/s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--depth", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--stock", action="store_true", help="also measure moto's own server")
    parser.add_argument("--stock-depths", type=int, nargs="+", default=[0, 1000])
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    emulator = MotoProcess("127.0.0.1", free_port())
    emulator.start()
    try:
        ours = rates(emulator.url, [0, args.depth], args)
    finally:
        emulator.stop()
    print(
        f"emulator rates, {args.calls} calls each, {args.concurrency} in flight "
        "(publish fans out to two queues)"
    )
    report("emulator", ours)
    if args.stock:
        stock = StockMoto()
        try:
            report("moto.server", rates(stock.url, args.stock_depths, args))
        finally:
            stock.stop()
    (publish0, drain0), (publish_n, drain_n) = ours[0], ours[args.depth]
    ok = publish_n >= 0.8 * publish0 and drain_n >= 0.8 * drain0
    print(
        f"  with {args.depth} waiting: publish {publish_n / publish0:.2f}x, "
        f"receive+delete {drain_n / drain0:.2f}x the rates with none (target >= 0.8x)"
    )
    print("  PASS" if ok else "  FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
