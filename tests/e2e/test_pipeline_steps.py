"""Orders followed through the running local stack, step by step: submitted → stored → emailed
→ audited → queues drained, each step awaited with bounded polling (never a fixed sleep).

One ``orders up`` process serves the module. Its AWS traffic goes through the fault proxy (so
a test can make the audit table fail) and its email to an SMTP server the test controls (so a
test can take it down). Queue visibility timeouts are shortened to 2 s here, only so retries
come round quickly.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from contracts.sample_data import sample
from local.mail.smtp_sink import SmtpSink
from tests.support.aws import Boto
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer
from tests.support.polling import eventually
from tests.support.stack_process import start_orders_up

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ("dev-OrderEmailQueue", "dev-OrderAuditQueue", "dev-OrderEmailDLQ", "dev-OrderAuditDLQ")


class Pipeline:
    def __init__(self, api: str, boto: Boto, smtp: SmtpSink):
        self.api = api
        self.boto = boto
        self.smtp = smtp
        sqs = boto.client("sqs")
        self.queues = {name: sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in QUEUES}

    def submit(self, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        payload = json.dumps(
            body if body is not None else sample("order_request.spec_example.json")
        )
        return requests.post(
            f"{self.api}/order",
            data=payload,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=30,
        )

    def stored(self, order_id: str) -> bool:
        return requests.get(f"{self.api}/order/{order_id}", timeout=10).status_code == 200

    def emails(self, order_id: str) -> int:
        subject = f"Order Confirmation - Order #{order_id}"
        return sum(1 for message in self.smtp.messages() if message["Subject"] == subject)

    def audit_records(self, order_id: str) -> int:
        return len(
            self.boto.client("dynamodb").query(
                TableName="dev-AuditLogs",
                IndexName="OrderIdIndex",
                KeyConditionExpression="OrderId = :o",
                ExpressionAttributeValues={":o": {"S": order_id}},
            )["Items"]
        )

    def depth(self, queue: str) -> int:
        values = self.boto.client("sqs").get_queue_attributes(
            QueueUrl=self.queues[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(values["ApproximateNumberOfMessages"]) + int(
            values["ApproximateNumberOfMessagesNotVisible"]
        )

    def drained(self) -> bool:
        return all(self.depth(queue) == 0 for queue in QUEUES)

    def follow(self, order_id: str, within: float = 30.0) -> dict[str, bool]:
        """Each named step, awaited in order."""
        steps = {"stored": eventually(lambda: self.stored(order_id), within)}
        steps["emailed"] = eventually(lambda: self.emails(order_id) >= 1, within)
        steps["audited"] = eventually(lambda: self.audit_records(order_id) >= 1, within)
        steps["drained"] = eventually(self.drained, within)
        steps["exactly once"] = self.emails(order_id) == 1 and self.audit_records(order_id) == 1
        return steps


ALL_STEPS = {
    "stored": True,
    "emailed": True,
    "audited": True,
    "drained": True,
    "exactly once": True,
}


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path_factory.mktemp("mailbox")).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def pipeline(
    moto: MotoServer,
    fault_proxy: FaultProxy,
    smtp: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    stack = start_orders_up(
        tmp_path_factory.mktemp("stack"),
        *("--smtp", f"127.0.0.1:{smtp.port}", "--rate", "20", "--burst", "20"),
        env={**os.environ, "AWS_ENDPOINT_URL": fault_proxy.url},
    )
    boto = Boto(moto.url)
    sqs = boto.client("sqs")
    for name in ("dev-OrderEmailQueue", "dev-OrderAuditQueue"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "2"})
    yield Pipeline(stack.api, boto, smtp)
    code, output, seconds = stack.stop()
    assert code == 0, output
    assert seconds < 10, f"stopping took {seconds:.1f} s"
    assert "Traceback" not in output


@pytest.fixture(autouse=True)
def healthy(pipeline: Pipeline, fault_proxy: FaultProxy) -> Iterator[None]:
    fault_proxy.clear()
    pipeline.smtp.refuse(None)
    yield
    fault_proxy.clear()
    if pipeline.smtp._controller is None:
        pipeline.smtp.start()


def test_a_batch_of_orders_passes_every_step(pipeline: Pipeline) -> None:
    ids = []
    for n in range(10):
        response = pipeline.submit(
            sample("order_request.spec_example.json") | {"customerId": f"CUST-{n}"}
        )
        assert response.status_code == 200
        ids.append(response.json()["orderId"])
    for order_id in ids:
        assert pipeline.follow(order_id) == ALL_STEPS, order_id


def test_an_invalid_order_reaches_nothing_downstream(pipeline: Pipeline) -> None:
    emails_before = len(pipeline.smtp.messages())
    audit_before = pipeline.boto.client("dynamodb").scan(TableName="dev-AuditLogs", Select="COUNT")[
        "Count"
    ]
    response = pipeline.submit({"customerName": "J", "customerEmail": "not-an-email", "items": []})
    assert response.status_code == 400
    marker = (
        pipeline.submit()
    )  # a valid order after it: once it is done, the invalid one had its chance
    assert pipeline.follow(marker.json()["orderId"]) == ALL_STEPS
    assert len(pipeline.smtp.messages()) == emails_before + 1
    assert (
        pipeline.boto.client("dynamodb").scan(TableName="dev-AuditLogs", Select="COUNT")["Count"]
        == audit_before + 1
    )


def test_with_smtp_down_for_a_while_the_email_arrives_once_after_it_is_back(
    pipeline: Pipeline,
) -> None:
    pipeline.smtp.stop()
    order_id = pipeline.submit().json()["orderId"]
    assert eventually(lambda: pipeline.audit_records(order_id) == 1)  # audit is not held up
    assert pipeline.emails(order_id) == 0
    pipeline.smtp.start()
    assert pipeline.follow(order_id) == ALL_STEPS


def test_smtp_refusing_lands_in_the_dlq_and_a_redrive_delivers_once(
    pipeline: Pipeline, moto: MotoServer
) -> None:
    pipeline.smtp.refuse()
    order_id = pipeline.submit().json()["orderId"]
    assert eventually(lambda: pipeline.depth("dev-OrderEmailDLQ") == 1, within=30)
    assert pipeline.emails(order_id) == 0
    pipeline.smtp.refuse(None)
    redrive = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.cli",
            "dlq",
            "redrive",
            "--queue",
            "email",
            "--api",
            pipeline.api,
            "--aws",
            moto.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "moved 1 message(s)" in redrive.stdout, redrive.stderr
    assert pipeline.follow(order_id) == ALL_STEPS


def test_with_the_audit_table_failing_emails_are_still_sent(
    pipeline: Pipeline, fault_proxy: FaultProxy
) -> None:
    fault_proxy.inject("PutItem", "server_error", match="AuditLogs")
    order_id = pipeline.submit().json()["orderId"]
    assert eventually(lambda: pipeline.emails(order_id) == 1)
    assert pipeline.audit_records(order_id) == 0
    fault_proxy.clear()
    assert pipeline.follow(order_id) == ALL_STEPS  # the audit record arrives once it recovers


def test_an_idempotent_retry_sends_one_email_and_writes_one_audit_record(
    pipeline: Pipeline,
) -> None:
    headers = {"Idempotency-Key": f"retry-{time.monotonic_ns()}"}
    first, second = pipeline.submit(headers=headers), pipeline.submit(headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert pipeline.follow(first.json()["orderId"]) == ALL_STEPS


def test_throttling_above_the_bucket_is_429_and_every_accepted_order_completes(
    pipeline: Pipeline,
) -> None:
    # 96 at once against a bucket of 20 (20/s): some are refused whatever earlier tests left in
    # it; the bucket then refills, so an order sent afterwards is accepted (polled, bounded).
    with ThreadPoolExecutor(max_workers=48) as pool:
        responses = list(pool.map(lambda _: pipeline.submit(), range(96)))
    statuses = [r.status_code for r in responses]
    assert 429 in statuses
    assert set(statuses) <= {200, 429}
    assert all(
        r.json() == {"message": "Too Many Requests"} for r in responses if r.status_code == 429
    )
    later = eventually(lambda: (r := pipeline.submit()).status_code == 200 and r, within=30)
    assert later, "the bucket never refilled"
    for response in [*responses, later]:
        if response.status_code == 200:
            assert pipeline.follow(response.json()["orderId"]) == ALL_STEPS
