"""The emulator's CPU per call with no backlog, action by action, on this tree or another.

Each action the pipeline makes is called ``--calls`` times, one at a time, the way the
pipeline calls it (aioboto3, the same items and messages), against a freshly provisioned
emulator; the emulator process's CPU time (user + system, psutil) over those calls, divided by
their number, is its cost per call. The median of ``--runs`` runs is reported, beside the
reference loop (SPEC §12) measured in the same run.

    python -m tests.benchmarks.emulator_calls [--calls 300] [--runs 3] [--tree PATH]
        [--against OLD_PATH]

With ``--tree``, the emulator runs from that checkout (e.g. a worktree of an older commit), so
old and new are measured by the same harness. With ``--against``, an emulator from that older
checkout runs beside this one, the rounds alternate between them (ABBA) and each action's
new/old ratio is the median of the rounds' ratios: the machine's speed drifts by a third within
minutes here, so old and new measured apart cannot tell a 10 % change.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from api.order_items import order_item
from contracts.order import Order
from contracts.sample_data import sample
from local.aws.emulator import MotoProcess
from local.aws.provision import Provisioned, provision
from local.aws.resources import ResourceNames
from runtime.aws import AwsClients
from tests.benchmarks.reference_loop import loop_ms
from tests.support.moto_server import free_port, use_local_credentials

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.dumps(sample("order_created.v1.valid.json"))
ORDER = Order.model_validate(
    {
        k: v
        for k, v in sample("order_created.v1.valid.json").items()
        if k not in ("eventType", "schemaVersion")
    }
)
ACTIONS = (
    "dynamodb.PutItem",
    "dynamodb.UpdateItem",
    "dynamodb.BatchWriteItem",
    "dynamodb.GetRecords",
    "sns.Publish",
    "sns.PublishBatch",
    "sqs.ReceiveMessage",
    "sqs.DeleteMessageBatch",
)


class Bench:
    """One provisioned emulator and the calls to time on it."""

    def __init__(self, clients: AwsClients, provisioned: Provisioned):
        self.clients = clients
        self.p = provisioned
        self.receipts: list[list[Any]] = []
        self.iterator = ""

    async def put_item(self) -> None:
        item = order_item(ORDER.model_copy(update={"order_id": str(uuid.uuid4())}))
        await (await self.clients.dynamodb()).put_item(
            TableName=self.p.names.orders_table,
            Item=item,
            ConditionExpression="attribute_not_exists(OrderId)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    async def update_item(self) -> None:
        await (await self.clients.dynamodb()).update_item(
            TableName=self.p.names.idempotency_table,
            Key={"IdempotencyKey": {"S": f"email#{uuid.uuid4()}"}},
            UpdateExpression="SET #s = :sent, SentAt = :now, MessageId = :id REMOVE LockedUntil",
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={
                ":sent": {"S": "SENT"},
                ":now": {"N": "1790000000.123"},
                ":id": {"S": "<bench@orders.local>"},
            },
        )

    async def batch_write(self) -> None:
        """Ten SENT marks, as the email consumer writes a batch's."""
        marks: list[Any] = [
            {
                "PutRequest": {
                    "Item": {
                        "IdempotencyKey": {"S": f"email#{uuid.uuid4()}"},
                        "Status": {"S": "SENT"},
                        "SentAt": {"N": "1790000000.123"},
                        "MessageId": {"S": "<bench@orders.local>"},
                        "ExpiresAt": {"N": "1791209600"},
                    }
                }
            }
            for _ in range(10)
        ]
        await (await self.clients.dynamodb()).batch_write_item(
            RequestItems={self.p.names.idempotency_table: marks}
        )

    async def get_records(self) -> None:
        streams = await self.clients.dynamodbstreams()
        if not self.iterator:
            shards = (await streams.describe_stream(StreamArn=self.p.orders_stream_arn))[
                "StreamDescription"
            ]["Shards"]
            self.iterator = (
                await streams.get_shard_iterator(
                    StreamArn=self.p.orders_stream_arn,
                    ShardId=shards[0]["ShardId"],
                    ShardIteratorType="LATEST",
                )
            )["ShardIterator"]
        answer = await streams.get_records(ShardIterator=self.iterator, Limit=100)
        self.iterator = answer["NextShardIterator"]

    async def publish(self) -> None:
        await (await self.clients.sns()).publish(
            TopicArn=self.p.topic_arn,
            Message=EVENT,
            MessageAttributes={"eventType": {"DataType": "String", "StringValue": "OrderCreated"}},
        )

    async def publish_batch(self) -> None:
        await (await self.clients.sns()).publish_batch(
            TopicArn=self.p.topic_arn,
            PublishBatchRequestEntries=[
                {
                    "Id": str(n),
                    "Message": EVENT,
                    "MessageAttributes": {
                        "eventType": {"DataType": "String", "StringValue": "OrderCreated"}
                    },
                }
                for n in range(10)
            ],
        )

    async def receive(self) -> None:
        answer = await (await self.clients.sqs()).receive_message(
            QueueUrl=self.p.email.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        assert messages, "the queue ran dry: publish more before receiving"
        self.receipts.append(
            [{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages]
        )

    async def delete_batch(self) -> None:
        await (await self.clients.sqs()).delete_message_batch(
            QueueUrl=self.p.email.url, Entries=self.receipts.pop()
        )


async def timed(pid: int, calls: int, call: Callable[[], Awaitable[None]]) -> float:
    """Emulator CPU-ms per call over ``calls`` sequential calls."""
    process = psutil.Process(pid)
    before = process.cpu_times()
    for _ in range(calls):
        await call()
    after = process.cpu_times()
    spent = (after.user - before.user) + (after.system - before.system)
    return float(spent * 1000 / calls)


async def provisioned(url: str) -> tuple[AwsClients, Bench]:
    clients = AwsClients(endpoint_url=url)
    names = ResourceNames(f"bench{uuid.uuid4().hex[:8]}")
    bench = Bench(clients, await provision(clients, names))
    await clients.warm(["dynamodb", "sns", "sqs"])
    await bench.put_item()  # the first call of each kind builds moto's handlers
    await bench.get_records()
    return clients, bench


async def one_round(pid: int, bench: Bench, calls: int) -> dict[str, float]:
    costs = {
        "dynamodb.PutItem": await timed(pid, calls, bench.put_item),
        "dynamodb.UpdateItem": await timed(pid, calls, bench.update_item),
        "dynamodb.BatchWriteItem": await timed(pid, max(calls // 10, 1), bench.batch_write),
        "dynamodb.GetRecords": await timed(pid, calls, bench.get_records),
        "sns.Publish": await timed(pid, calls, bench.publish),
        "sns.PublishBatch": await timed(pid, max(calls // 10, 1), bench.publish_batch),
    }
    # Every publish put one message on the email queue: receive them 10 at a time.
    receives = max(calls // 10, 1)
    costs["sqs.ReceiveMessage"] = await timed(pid, receives, bench.receive)
    costs["sqs.DeleteMessageBatch"] = await timed(pid, receives, bench.delete_batch)
    return costs


async def one_run(pid: int, url: str, calls: int) -> dict[str, float]:
    clients, bench = await provisioned(url)
    try:
        return await one_round(pid, bench, calls)
    finally:
        await clients.close()


async def alternated(
    emulators: list[MotoProcess], calls: int, rounds: int
) -> list[list[dict[str, float]]]:
    """Rounds on each emulator in turn, ABBA, so that the machine's drift in speed falls on
    both alike: ``[rounds of the first, rounds of the second]``."""
    set_up = [await provisioned(emulator.url) for emulator in emulators]
    runs: list[list[dict[str, float]]] = [[], []]
    try:
        for n in range(rounds):
            for which in (0, 1) if n % 2 == 0 else (1, 0):
                pid = emulators[which].pid
                assert pid is not None
                runs[which].append(await one_round(pid, set_up[which][1], calls))
    finally:
        for clients, _ in set_up:
            await clients.close()
    return runs


def started(tree: Path) -> MotoProcess:
    """An emulator running ``tree``'s code."""
    module = server_module(tree)
    assert module is not None
    os.environ["PYTHONPATH"] = str(tree)
    # ``python -m`` puts its working directory first on the path: run it from the tree, or
    # this tree's ``local`` would be the one measured.
    os.chdir(tree)
    emulator = MotoProcess("127.0.0.1", free_port(), module=module)
    emulator.start()
    os.chdir(ROOT)
    return emulator


def server_module(tree: Path) -> str | None:
    """The emulator's server module in ``tree``: trees from before ``local/`` had
    sub-packages (97ca05b) run it as ``local.emulator_server``."""
    for module in ("local.aws.server", "local.emulator_server"):
        if (tree / (module.replace(".", "/") + ".py")).is_file():
            return module
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout the emulator runs from")
    parser.add_argument(
        "--against",
        type=Path,
        help="an older checkout: both emulators run at once, rounds alternate, ratios per round",
    )
    args = parser.parse_args()
    trees = [args.tree.resolve()] + ([args.against.resolve()] if args.against else [])
    for tree in trees:
        if server_module(tree) is None:
            # Running this tree's emulator under the other tree's name would measure this one.
            parser.error(f"{tree} has no local/aws/server.py or local/emulator_server.py")
    use_local_credentials()
    loops = [loop_ms()]
    if args.against:
        emulators = [started(trees[1]), started(trees[0])]  # old, new
        try:
            old_runs, runs = asyncio.run(alternated(emulators, args.calls, args.runs))
        finally:
            for emulator in emulators:
                emulator.stop()
    else:
        old_runs, runs = [], []
        for _ in range(args.runs):
            emulator = started(trees[0])
            try:
                assert emulator.pid is not None
                runs.append(asyncio.run(one_run(emulator.pid, emulator.url, args.calls)))
            finally:
                emulator.stop()
    loops.append(loop_ms())
    loop = statistics.median(loops)
    print(f"emulator from {trees[0]}; {args.calls} calls per action, {args.runs} runs")
    if args.against:
        print(f"old: {trees[1]}, run at the same time, rounds alternating")
    print(f"reference loop: {loops[0]:.0f} ms before, {loops[1]:.0f} ms after")
    columns = f"{'action':<26}{'CPU-ms/call':>12}{'loops/call':>12}"
    if args.against:
        columns += f"{'old CPU-ms':>12}{'new/old':>9}"
    print(columns)
    result: dict[str, Any] = {"loop_ms": loops, "per_call": {}, "old_per_call": {}, "ratio": {}}
    for action in ACTIONS:
        median = statistics.median(run[action] for run in runs)
        result["per_call"][action] = median
        line = f"{action:<26}{median:>12.2f}{median / loop:>12.4f}"
        if args.against:
            old = statistics.median(run[action] for run in old_runs)
            # the median of the rounds' ratios: each pair ran seconds apart
            ratio = statistics.median(
                new[action] / was[action]
                for new, was in zip(runs, old_runs, strict=True)
                if was[action]
            )
            result["old_per_call"][action], result["ratio"][action] = old, ratio
            line += f"{old:>12.2f}{ratio:>9.2f}"
        print(line)
    result["runs"], result["old_runs"] = runs, old_runs
    print(json.dumps(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
