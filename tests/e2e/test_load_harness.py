"""The load harness and overload against a running ``orders up``: a real locust run (short, low
rate), and a burst far above capacity after which every accepted order still completes."""

import asyncio
import csv
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from contracts.sample_data import sample_text
from tests.support.commands import run
from tests.support.moto_server import free_port
from tests.support.polling import eventually
from tests.support.stack_process import StackProcess, start_orders_up

SUBJECT = re.compile(rb"^Subject: Order Confirmation - Order #([0-9a-f-]{36})", re.MULTILINE)


class Stack:
    def __init__(self, process: StackProcess, aws: str, outbox: Path):
        self.process = process
        self.api = process.api
        self.aws = aws
        self.outbox = outbox

    def table_ids(self, table: str, attribute: str) -> set[str]:
        dynamodb = boto3.client("dynamodb", endpoint_url=self.aws, region_name="us-east-1")
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=attribute
        )
        return {item[attribute]["S"] for page in pages for item in page["Items"]}

    def emails(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for path in self.outbox.glob("*.eml"):
            match = SUBJECT.search(path.read_bytes())
            if match:
                found[match.group(1).decode()] += 1
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("load-stack")
    aws_port = free_port()
    outbox = workdir / "outbox"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    process = start_orders_up(
        workdir,
        *("--aws-port", str(aws_port), "--outbox", str(outbox)),
        *("--containers", "2", "--max-wait", "0.02", "--rate", "1000", "--burst", "1000"),
        env=env,
    )
    yield Stack(process, f"http://127.0.0.1:{aws_port}", outbox)
    code, output, _ = process.stop()
    assert code == 0, output
    assert "Traceback" not in output


def test_the_smoke_scenario_runs_reports_and_follows_every_order(
    stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "smoke"
    result = run(
        sys.executable,
        *("-m", "local.cli", "load", "smoke"),
        *("--host", stack.api, "--aws", stack.aws, "--outbox", str(stack.outbox)),
        *("--out", str(out), "--duration", "4"),
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("PASS")
    for report in ("report.html", "locust_stats.csv", "requests.csv", "timeline.png"):
        assert (out / report).stat().st_size > 0, report
    assert (out / "timeline.png").read_bytes().startswith(b"\x89PNG")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == []
    completion = summary["completion"]
    assert completion["accepted"] > 0
    assert (
        completion["stored"]
        == completion["emailed"]
        == completion["audited"]
        == completion["in_outbox"]
        == completion["accepted"]
    )
    with (out / "requests.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    kinds = Counter((row["kind"], row["status"]) for row in rows)
    assert kinds[("invalid", "400")] > 0
    assert kinds[("order", "200")] > 0
    assert summary["verdict"]["errors"] == 0
    # What the run's orders would cost on AWS, counted by the stack (load.cost); then the same
    # from the run's records by orders cost.
    cost = summary["aws_cost"]
    assert cost["counts"]["orders"] == completion["accepted"]
    assert 0 < cost["without_email_per_million"] < cost["total_per_million"]
    assert "cost per million orders on AWS" in result.stdout
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.index('<section id="aws-cost">') < report.rindex("</body>")
    priced = run(
        sys.executable,
        *("-m", "local.cli", "cost", str(out), "--orders-per-month", "2e6"),
        timeout=60,
    )
    assert priced.returncode == 0, priced.stderr
    assert f"${cost['total_per_million']:.2f} per million orders in all" in priced.stdout
    assert "at 2,000,000 orders a month" in priced.stdout


def test_after_a_burst_far_above_capacity_every_accepted_order_completes(stack: Stack) -> None:
    body = sample_text("order_request.spec_example.json")

    async def burst() -> list[tuple[int, str]]:
        connector = aiohttp.TCPConnector(limit=300)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:

            async def post() -> tuple[int, str]:
                async with http.post(
                    f"{stack.api}/order", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    answer = await response.json(content_type=None)
                    return response.status, answer.get("orderId", "")

            return await asyncio.gather(*(post() for _ in range(300)))

    answers = asyncio.run(burst())
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 429}, statuses  # no 5xx, no timeouts (gather would raise)
    assert statuses[429] > 0, statuses
    assert statuses[200] > 0, statuses
    accepted = {order_id for status, order_id in answers if status == 200}
    assert len(accepted) == statuses[200]

    def done() -> bool:
        return (
            accepted <= stack.table_ids("dev-Orders", "OrderId")
            and accepted <= stack.table_ids("dev-AuditLogs", "OrderId")
            and accepted <= stack.emails().keys()
        )

    assert eventually(done, within=120, max_pause=2)
    emails = stack.emails()
    assert all(emails[order_id] == 1 for order_id in accepted)


def test_an_api_that_does_not_answer_fails_the_run_in_words(tmp_path: Path) -> None:
    result = run(
        sys.executable,
        *("-m", "local.cli", "load", "smoke", "--duration", "2"),
        *("--host", f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path)),
        timeout=120,
    )
    assert result.returncode == 1
    assert "MISSED: no order was accepted" in result.stdout
    assert "Connection refused" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_records_it_cannot_read_fail_the_run_in_words(stack: Stack, tmp_path: Path) -> None:
    result = run(
        sys.executable,
        *("-m", "local.cli", "load", "smoke", "--duration", "2", "--host", stack.api),
        *("--aws", f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path)),
        timeout=120,
    )
    assert result.returncode == 1
    assert "MISSED: could not read the pipeline's records: Could not connect" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
