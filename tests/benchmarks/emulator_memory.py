"""What the emulator keeps per order beyond the data, measured with tracemalloc.

The emulator (``local.aws.server``'s server and fixes) runs in this process, on a thread, and
is driven over HTTP from another process (so that only the emulator's memory is traced, not
the clients') with the calls an order causes in the pipeline (the emulator's own count,
``orders load``'s "AWS calls per order"): the Orders item, the publish (ten to a
``PublishBatch``), a receive and a batch delete on each queue per ten orders, the email
ledger's two writes and the audit record. The warm-up fills what the emulator keeps bounded
(the last ``DELETED_KEPT`` receipt handles of each queue), then the traced memory is read
before ``--orders`` orders, after them, and after every table item and queued message is
deleted again: what remains then is what the emulator retains that is not data. Beside them,
what the services' data takes (``local.aws.held_bytes``: what emptying them frees, on a forked
copy): the data as the emulator keeps it, in traced bytes too, and the traced bytes per order beyond
it.

    python -m tests.benchmarks.emulator_memory [--orders 2500] [--moto-retention]

``--moto-retention`` leaves moto's own retention (``local.aws.retention`` not installed), for
the figure before.
"""

import argparse
import asyncio
import gc
import json
import multiprocessing
import threading
import time
import tracemalloc
import uuid
from typing import Any

import boto3

from contracts.sample_data import sample
from local.aws.forked_copy import on_a_copy
from local.aws.held_bytes import held_bytes
from local.aws.retention import DELETED_KEPT
from local.aws.server import EmulatorServer, RoutedOnce, install_fixes
from local.aws.turns import Turns
from tests.support.aws import new_stack
from tests.support.moto_server import free_port, use_local_credentials


def start_emulator(moto_retention: bool, turns: Turns) -> str:
    install_fixes(turns, bounded_retention=not moto_retention)
    port = free_port()
    started = threading.Event()

    def serve() -> None:
        async def run() -> None:
            server = EmulatorServer(RoutedOnce(), turns, "127.0.0.1", port)
            await server.start()
            started.set()
            await asyncio.Event().wait()

        asyncio.run(run())

    threading.Thread(target=serve, name="emulator", daemon=True).start()
    if not started.wait(30):
        raise RuntimeError("the emulator did not start")
    return f"http://127.0.0.1:{port}"


class Pipeline:
    """The calls of one order, as the functions make them."""

    def __init__(self, url: str):
        self.stack = new_stack(url)
        names = self.stack.names
        client = {"endpoint_url": url, "region_name": "us-east-1"}
        self.dynamodb = boto3.client("dynamodb", **client)
        self.sns = boto3.client("sns", **client)
        self.sqs = boto3.client("sqs", **client)
        self.orders, self.audit, self.ledger = (
            names.orders_table,
            names.audit_table,
            names.idempotency_table,
        )
        self.event = json.dumps(sample("order_created.v1.valid.json"))

    def orders_placed(self, count: int) -> None:
        for first in range(0, count, 10):
            batch = [str(uuid.uuid4()) for _ in range(min(10, count - first))]
            for order_id in batch:
                self.dynamodb.put_item(
                    TableName=self.orders,
                    Item={"OrderId": {"S": order_id}, "Body": {"S": self.event}},
                    ConditionExpression="attribute_not_exists(OrderId)",
                )
            self.sns.publish_batch(
                TopicArn=self.stack.topic_arn,
                PublishBatchRequestEntries=[
                    {"Id": str(n), "Message": self.event} for n in range(len(batch))
                ],
            )
            for queue in (self.stack.email.url, self.stack.audit.url):
                got = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
                messages = got.get("Messages", [])
                if messages:
                    self.sqs.delete_message_batch(
                        QueueUrl=queue,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                            for n, m in enumerate(messages)
                        ],
                    )
            for order_id in batch:
                key = {"IdempotencyKey": {"S": f"email#{order_id}"}}
                claim = {**key, "Status": {"S": "SENDING"}, "ExpiresAt": {"N": "1999999999"}}
                self.dynamodb.put_item(TableName=self.ledger, Item=claim)
                self.dynamodb.put_item(
                    TableName=self.ledger, Item={**claim, "Status": {"S": "SENT"}}
                )
                self.dynamodb.put_item(
                    TableName=self.audit,
                    Item={
                        "AuditId": {"S": str(uuid.uuid4())},
                        "Timestamp": {"S": "2026-11-27T00:00:00.000Z"},
                        "OrderId": {"S": order_id},
                        "Event": {"S": self.event},
                    },
                )

    def data_deleted(self) -> None:
        """Every item and every message, gone: what stays is not data."""
        for table, keys in (
            (self.orders, ("OrderId",)),
            (self.ledger, ("IdempotencyKey",)),
            (self.audit, ("AuditId", "Timestamp")),
        ):
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    self.dynamodb.delete_item(
                        TableName=table, Key={name: item[name] for name in keys}
                    )
        for queue in (self.stack.email.url, self.stack.audit.url):
            while messages := self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                self.sqs.delete_message_batch(
                    QueueUrl=queue,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                )


def drive(url: str, commands: Any) -> None:
    """The client process: runs each command it is sent, answers when it is done."""
    use_local_credentials()
    pipeline = Pipeline(url)
    while (command := commands.recv()) is not None:
        kind, count = command
        if kind == "place":
            pipeline.orders_placed(count)
        else:
            pipeline.data_deleted()
        commands.send("done")


class Driver:
    """The pipeline's calls, made by another process."""

    def __init__(self, url: str):
        spawn = multiprocessing.get_context("spawn")
        self._commands, theirs = spawn.Pipe()
        self._process = spawn.Process(target=drive, args=(url, theirs), daemon=True)
        self._process.start()

    def _run(self, kind: str, count: int = 0) -> None:
        self._commands.send((kind, count))
        if self._commands.recv() != "done":
            raise RuntimeError("the driver failed")

    def orders_placed(self, count: int) -> None:
        self._run("place", count)

    def data_deleted(self) -> None:
        self._run("delete")

    def close(self) -> None:
        self._commands.send(None)
        self._process.join(30)


def _traced_now() -> int:
    return tracemalloc.get_traced_memory()[0]


def held(turns: Turns) -> int:
    """What the pipeline's services' data takes, in traced bytes as the rest of this benchmark:
    what emptying the services frees on a forked copy (``local.aws.held_bytes``; the copy
    traces on)."""
    answer = on_a_copy(turns, lambda: json.dumps(held_bytes(_traced_now)).encode())
    return sum(json.loads(answer).values())


def traced() -> int:
    gc.collect()
    time.sleep(0.2)  # the server thread finishes the answer it is writing
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2500)
    parser.add_argument("--moto-retention", action="store_true")
    args = parser.parse_args(argv)
    use_local_credentials()
    tracemalloc.start()
    turns = Turns()
    url = start_emulator(args.moto_retention, turns)
    pipeline = Driver(url)
    # warm-up: every code path and cache once, and each queue's bounded record of deleted
    # receipt handles full (one handle an order per queue)
    pipeline.orders_placed(DELETED_KEPT + 50)
    pipeline.data_deleted()
    base, held_base = traced(), held(turns)
    pipeline.orders_placed(args.orders)
    loaded, held_loaded = traced(), held(turns)
    pipeline.data_deleted()
    emptied = traced()
    pipeline.close()
    with_data = (loaded - base) / args.orders
    data = (held_loaded - held_base) / args.orders
    result: dict[str, Any] = {
        "retention": "moto's" if args.moto_retention else "bounded (local.aws.retention)",
        "orders": args.orders,
        "bytes_per_order_with_data": round(with_data),
        # What moto's models of the services hold (local.aws.held_bytes): the tables' items
        # and stream records, the queues' messages.
        "bytes_per_order_the_services_hold": round(data),
        "bytes_per_order_beyond_them": round(with_data - data),
        "bytes_per_order_kept_after_the_data_is_deleted": round((emptied - base) / args.orders),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
