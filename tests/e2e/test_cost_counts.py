"""The cost model's counts against what the stack actually did, on a small run: 50 orders
through a real ``orders up``; every request, request unit, message and invocation the model
prices is checked against the emulator's call counts, the tables' items and the outbox."""

import json
import math
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from load.cost import PriceTable, RunCounts, functions_from, itemize, metrics_from, usage_delta
from local.aws.usage_meter import item_size, stored_size, write_units
from tests.support.aws import Boto
from tests.support.polling import eventually
from tests.support.stack_process import ONE_OF_EACH, ROOT, start_with_emulator

ORDERS = 50
SAMPLE = ROOT / "contracts" / "samples" / "order_request.spec_example.json"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the test's emulator
        return json.load(answer)


@dataclass
class Run:
    folder: Path
    boto: Boto
    usage: list[dict[str, Any]]  # what grew during the run, by caller, call and resource
    calls: Counter[str]  # the emulator's own call counts, grown during the run
    records: list[str]  # invocations.jsonl lines the run appended
    log_bytes: int  # how much functions.log grew
    access_lines: list[str]  # what the front's API Gateway access log grew by
    log_lines: list[str]  # what functions.log grew by

    def row(self, caller: str, call: str, resource: str) -> dict[str, Any]:
        found = [
            row
            for row in self.usage
            if (row["caller"], row["call"], row["resource"]) == (caller, call, resource)
        ]
        assert len(found) == 1, (caller, call, resource, self.usage)
        return found[0]


def _settled(boto: Boto, outbox: Path, aws: str) -> bool:
    if len(list(outbox.glob("*.eml"))) < ORDERS or len(boto.scan("dev-AuditLogs")) < ORDERS:
        return False
    sqs = boto.client("sqs")
    for name in ("dev-OrderEmailQueue", "dev-OrderAuditQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=f"{aws}/123456789012/{name}", AttributeNames=["All"]
        )["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]) or int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        ):
            return False  # a batch not yet deleted
    usage = _get(f"{aws}/_emulator/usage")
    marked = [
        row["write_units"]
        for row in usage
        if (row["caller"], row["call"]) == ("email-consumer", "dynamodb.BatchWriteItem")
    ]
    return bool(sum(marked) >= ORDERS)  # every confirmation marked SENT


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("cost")
    stack, aws = start_with_emulator(folder, *ONE_OF_EACH)
    try:
        records = folder / "var" / "logs" / "invocations.jsonl"
        log = records.with_name("functions.log")
        access = records.with_name("access.log")
        offset, log_before = records.stat().st_size, log.stat().st_size
        access_before = access.stat().st_size  # the warm-up requests went to the function only
        usage_before, calls_before = _get(f"{aws}/_emulator/usage"), _get(f"{aws}/_emulator/calls")
        body = SAMPLE.read_text(encoding="utf-8")
        with requests.Session() as http:
            for _ in range(ORDERS):
                answer = http.post(
                    f"{stack.api}/order",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text
        boto = Boto(aws)
        assert eventually(lambda: _settled(boto, folder / "outbox", aws), within=90)
        calls = Counter(_get(f"{aws}/_emulator/calls"))
        calls.subtract(calls_before)
        usage = usage_delta(usage_before, _get(f"{aws}/_emulator/usage"))
        with records.open("rb") as appended:
            appended.seek(offset)
            lines = appended.read().decode().splitlines()
        with access.open("rb") as appended:
            appended.seek(access_before)
            access_lines = appended.read().decode().splitlines()
        with log.open("rb") as appended:
            appended.seek(log_before)
            log_lines = appended.read().decode().splitlines()
        grown = log.stat().st_size - log_before
        yield Run(folder, boto, usage, +calls, lines, grown, access_lines, log_lines)
    finally:
        code, output, _ = stack.stop()
    assert code == 0, output


def test_the_meter_counts_every_call_the_emulator_served(run: Run) -> None:
    by_call: Counter[str] = Counter()
    for row in run.usage:
        by_call[row["call"]] += row["requests"]
    # The emulator counts a long poll when it arrives, the meter when it is answered: at each
    # reading, up to one per poller may be waiting (here: one poller on each of 2 queues).
    waiting = run.calls["sqs.ReceiveMessage"] - by_call["sqs.ReceiveMessage"]
    assert -2 <= waiting <= 2
    assert +(by_call - Counter({"sqs.ReceiveMessage": by_call["sqs.ReceiveMessage"]})) == +(
        run.calls - Counter({"sqs.ReceiveMessage": run.calls["sqs.ReceiveMessage"]})
    )


def test_each_write_is_billed_by_the_size_of_the_item_it_stored(run: Run) -> None:
    orders = run.boto.scan("dev-Orders")
    audits = run.boto.scan("dev-AuditLogs")
    assert len(orders) == len(audits) == ORDERS
    stored = run.row("order-api", "dynamodb.PutItem", "dev-Orders")
    assert stored["requests"] == ORDERS
    assert stored["write_units"] == sum(write_units(item_size(item)) for item in orders)
    audited = run.row("audit-consumer", "dynamodb.PutItem", "dev-AuditLogs")
    assert audited["requests"] == ORDERS
    expected = sum(write_units(item_size(item)) for item in audits)
    assert audited["write_units"] == audited["index_write_units"] == expected  # projection ALL
    claims = run.row("email-consumer", "dynamodb.PutItem", "dev-Idempotency")
    marks = run.row("email-consumer", "dynamodb.BatchWriteItem", "dev-Idempotency")
    sent = [
        item
        for item in run.boto.scan("dev-Idempotency")
        if item["IdempotencyKey"]["S"].startswith("email#")
    ]
    assert len(sent) == ORDERS
    assert all(item_size(item) <= 1024 for item in sent)
    assert claims["requests"] == claims["write_units"] == ORDERS
    # The SENT marks: a request a batch, a unit an item (each put billed as a PutItem).
    batches = Counter(json.loads(line)["function"] for line in run.records)["email-consumer"]
    assert marks["requests"] == batches
    assert marks["write_units"] == ORDERS


def test_the_storage_each_table_grew_by_is_its_items_sizes_plus_overhead(run: Run) -> None:
    """Billed storage: each item's size plus 100 bytes, and the same for its index copies."""
    orders = run.row("order-api", "dynamodb.PutItem", "dev-Orders")
    assert orders["stored_bytes"] == sum(stored_size(i) for i in run.boto.scan("dev-Orders"))
    assert orders["index_stored_bytes"] == 0  # the Orders table has no index
    audited = run.row("audit-consumer", "dynamodb.PutItem", "dev-AuditLogs")
    expected = sum(stored_size(item) for item in run.boto.scan("dev-AuditLogs"))
    assert audited["stored_bytes"] == audited["index_stored_bytes"] == expected  # projection ALL
    # The ledger's SENT record replaced its claim: the table holds one row an email, the
    # claims' bytes counted where they were put and the difference where they were replaced.
    claims = run.row("email-consumer", "dynamodb.PutItem", "dev-Idempotency")
    marks = run.row("email-consumer", "dynamodb.BatchWriteItem", "dev-Idempotency")
    sent = [i for i in run.boto.scan("dev-Idempotency") if i["IdempotencyKey"]["S"][:6] == "email#"]
    assert claims["stored_bytes"] > 0
    assert claims["stored_bytes"] + marks["stored_bytes"] == sum(stored_size(i) for i in sent)


def test_messages_are_counted_where_they_are_published_received_and_deleted(run: Run) -> None:
    published = run.row("order-publisher", "sns.PublishBatch", "dev-OrderEvents")
    assert published["messages"] == ORDERS
    assert published["billed_requests"] == published["requests"] == math.ceil(published["requests"])
    invocations = Counter(json.loads(line)["function"] for line in run.records)
    for queue, function in (
        ("dev-OrderEmailQueue", "email-consumer"),
        ("dev-OrderAuditQueue", "audit-consumer"),
    ):
        received = run.row("event-source-mapping", "sqs.ReceiveMessage", queue)
        assert received["messages"] == ORDERS
        batches = received["requests"] - received["empty_receives"]
        assert invocations[function] == batches
        deleted = run.row("event-source-mapping", "sqs.DeleteMessageBatch", queue)
        assert deleted["requests"] == batches
    assert invocations["order-api"] == ORDERS
    assert invocations["order-publisher"] >= 1


def test_every_byte_the_functions_logged_is_in_an_invocation_record(run: Run) -> None:
    records = [json.loads(line) for line in run.records]
    assert all(record["logBytes"] > 0 for record in records)
    assert sum(record["logBytes"] for record in records) == run.log_bytes


def test_every_api_request_has_one_access_log_line(run: Run) -> None:
    lines = [json.loads(line) for line in run.access_lines]
    assert [(line["httpMethod"], line["resourcePath"], line["status"]) for line in lines] == [
        ("POST", "/order", "200")
    ] * ORDERS


def test_the_custom_metrics_are_those_the_functions_wrote(run: Run) -> None:
    metrics = metrics_from(run.log_lines)
    assert {
        "OrderPipeline/OrdersReceived{service=order-api}",
        "OrderPipeline/OrdersProcessed{service=order-api}",
        "OrderPipeline/OrdersPublished{service=order-publisher}",
        "OrderPipeline/EmailsSent{service=email-consumer}",
        "OrderPipeline/AuditRecordsCreated{service=audit-consumer}",
    } <= set(metrics)
    assert not [metric for metric in metrics if "Failed" in metric]  # nothing failed


def test_the_bill_of_the_run_prices_what_was_counted(run: Run) -> None:
    counts = RunCounts(
        orders=ORDERS,
        emails=len(list((run.folder / "outbox").glob("*.eml"))),
        loop_ms=120.0,
        functions=functions_from(run.records),
        aws=run.usage,
    )
    bill = itemize(counts, PriceTable.load())
    lines = {(line.service, line.what): line for line in bill.lines}
    assert lines[("API Gateway", "REST API requests")].units_per_order == 1
    assert lines[("SES", "emails")].usd_per_million == pytest.approx(100.0)
    assert lines[("SNS", "publish requests (64 KB chunks)")].units_per_order <= 1
    assert bill.without_email < bill.total
