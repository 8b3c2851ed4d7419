"""``orders up`` as a user runs it: a real process, real HTTP, a real emulator process."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
import requests

from contracts.sample_data import sample_text
from tests.support.moto_server import free_port
from tests.support.polling import eventually
from tests.support.stack_process import descendants, start_orders_up, start_with_emulator

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    api: str
    aws: str
    lines: list[str]


def start_stack(tmp: Path, *extra: str) -> RunningStack:
    started, aws = start_with_emulator(tmp, *extra)
    return RunningStack(started.process, started.api, aws, started.lines)


def stop_stack(stack: RunningStack) -> tuple[int, str]:
    stack.process.send_signal(signal.SIGTERM)
    output, _ = stack.process.communicate(timeout=15)
    return stack.process.returncode, output


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    if running.process.poll() is None:
        stop_stack(running)


def post(stack: RunningStack, body: Any, **headers: str) -> requests.Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return requests.post(
        f"{stack.api}/order",
        data=data,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def test_ready_line_names_the_api_emulator_and_outbox(stack: RunningStack) -> None:
    assert stack.lines[-1].startswith(f"ready: api={stack.api} aws={stack.aws} outbox=")


def test_an_order_over_http_is_accepted_and_readable(stack: RunningStack) -> None:
    response = post(stack, sample_text("order_request.spec_example.json"))
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    order_id = response.json()["orderId"]
    fetched = requests.get(f"{stack.api}/order/{order_id}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["totalAmount"] == "109.97"


@pytest.mark.parametrize("method", ["OPTIONS", "GET"])
def test_a_path_with_a_newline_reaches_the_api_like_any_other(
    stack: RunningStack, method: str
) -> None:
    """Found by schemathesis: the front's route did not match a percent-encoded newline and
    aiohttp answered its own plain-text 404."""
    response = requests.request(method, f"{stack.api}/order/%C2%91%0A%C6%8C", timeout=10)
    assert response.status_code == (204 if method == "OPTIONS" else 400)  # not an order id
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if method == "GET":
        assert response.json()["error"]


def test_invalid_json_over_http_is_a_clear_400(stack: RunningStack) -> None:
    response = post(stack, "{not json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


def test_a_body_over_10_kb_is_413_at_the_front(stack: RunningStack) -> None:
    response = post(stack, "x" * (10 * 1024 + 1))
    assert response.status_code == 413


def test_throttling_answers_429_like_api_gateway_and_sigterm_stops_everything_cleanly(
    tmp_path: Path,
) -> None:
    """One stack for both (a boot is the expensive part): the stop comes after it served."""
    throttled = start_stack(tmp_path, "--rate", "1", "--burst", "3")
    try:
        statuses = [
            requests.get(
                f"{throttled.api}/order/0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10", timeout=10
            ).status_code
            for _ in range(8)
        ]
        last = requests.get(f"{throttled.api}/order/x", timeout=10)
    finally:
        started = time.monotonic()
        code, output = stop_stack(throttled)
        stopped_within = time.monotonic() - started
    assert statuses[:3] == [404, 404, 404]
    assert 429 in statuses[3:]
    assert 500 not in statuses
    if last.status_code == 429:
        assert last.json() == {"message": "Too Many Requests"}
    assert stopped_within < 10
    assert code == 0
    assert "Traceback" not in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{throttled.aws}/moto-api/data.json", timeout=2)


def test_demo_follows_one_order_through_every_step_and_ctrl_c_stops_every_process(
    tmp_path: Path,
) -> None:
    """One stack for both (a boot is the expensive part)."""
    running = start_stack(tmp_path, "--demo")
    assert running.process.stdout is not None
    demo = [running.process.stdout.readline().rstrip() for _ in range(5)]
    children = descendants(running.process.pid)
    running.process.send_signal(signal.SIGINT)
    output, _ = running.process.communicate(timeout=30)
    order_id = demo[0].rsplit(" ", 1)[-1]
    assert demo[0].startswith("demo: submitted")
    assert demo[1].startswith("demo: stored      yes")
    assert demo[2].startswith("demo: published")
    assert demo[3].startswith("demo: emailed")
    assert demo[3].endswith(".eml")
    assert demo[4] == f"demo: audited     AuditId {order_id}#ORDER_CREATED"
    assert running.process.returncode == 0, output
    assert len(children) >= 6  # emulator, consumer fleet, API and consumer containers
    assert not any(alive(pid) for pid in children)
    assert "Traceback" not in output


def test_a_posted_order_is_emailed_and_audited_within_seconds(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import boto3

    response = post(stack, sample_text("order_request.spec_example.json"))
    assert response.status_code == 200
    order_id = response.json()["orderId"]
    outbox = Path(
        next(line for line in stack.lines if line.startswith("ready:")).rsplit("outbox=", 1)[1]
    )
    subject = f"Subject: Order Confirmation - Order #{order_id}".encode()
    emails = eventually(lambda: [p for p in outbox.glob("*.eml") if subject in p.read_bytes()])
    assert len(emails) == 1
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws, region_name="us-east-1")
    audit = eventually(
        lambda: dynamodb.query(
            TableName="dev-AuditLogs",
            IndexName="OrderIdIndex",
            KeyConditionExpression="OrderId = :o",
            ExpressionAttributeValues={":o": {"S": order_id}},
        )["Items"]
    )
    assert [item["AuditId"]["S"] for item in audit] == [f"{order_id}#ORDER_CREATED"]


def orders(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.cli", *args, "--api", stack.api, "--aws", stack.aws],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_orders_submit_counts_every_step(stack: RunningStack) -> None:
    result = orders(stack, "submit", "--count", "8", "--rate", "20")
    assert result.returncode == 0, result.stderr
    assert "HTTP 200: 8" in result.stdout
    assert "submitted 8  accepted 8  emailed 8  audited 8" in result.stdout
    # Piped: progress as plain lines, never a bar redrawn with carriage returns.
    assert "\r" not in result.stdout
    assert "submitting 8/8\n" in result.stdout


def test_orders_status_shows_each_step(stack: RunningStack) -> None:
    order_id = post(stack, sample_text("order_request.spec_example.json")).json()["orderId"]

    def emailed() -> str | None:
        result = orders(stack, "status", order_id)
        return result.stdout if "email     sent" in result.stdout else None

    shown = eventually(emailed)
    assert shown is not None, "the email was not sent within the wait"
    assert f"order     {order_id}  stored  total 109.97" in shown
    assert f"{order_id}#ORDER_CREATED at" in shown
    missing = orders(stack, "status", "0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10")
    assert missing.returncode == 1
    assert "404" in missing.stdout


def test_orders_dlq_lists_and_redrives(stack: RunningStack) -> None:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=stack.aws, region_name="us-east-1")
    dlq_url = sqs.get_queue_url(QueueName="dev-OrderAuditDLQ")["QueueUrl"]
    sqs.send_message(
        QueueUrl=dlq_url, MessageBody='{"not": "an event", "to": "john.doe@example.com"}'
    )
    listed = orders(stack, "dlq", "list", "--queue", "audit")
    assert "dev-OrderAuditDLQ: 1 message(s)" in listed.stdout
    assert "j***@example.com" in listed.stdout
    assert "john.doe@example.com" not in listed.stdout
    redriven = orders(stack, "dlq", "redrive", "--queue", "audit")
    assert "moved 1 message(s) to dev-OrderAuditQueue" in redriven.stdout
    # back on the source queue it is poison again: the consumer returns it to the DLQ at once
    relisted = eventually(
        lambda: (
            "1 message(s)" in (r := orders(stack, "dlq", "list", "--queue", "audit")).stdout and r
        )
    )
    assert relisted


def test_commands_say_when_the_stack_is_not_running() -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.cli",
            "status",
            "0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10",
            "--api",
            f"http://127.0.0.1:{port}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "is `orders up` running?" in result.stderr
    assert "Traceback" not in result.stderr


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped (by init, once its parent is gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_hard_kill_leaves_nothing_running_and_the_next_start_works(tmp_path: Path) -> None:
    """kill -9 of `orders up` (or a closed terminal) must not orphan the emulator, the
    consumers or the function containers: each holds a lifeline to it."""
    aws_port, api_port = free_port(), free_port()
    args = ("--aws-port", str(aws_port), "--outbox", str(tmp_path / "outbox"))
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    first = start_orders_up(tmp_path, *args, env=env, api_port=api_port)
    children = descendants(first.process.pid)
    assert len(children) >= 6  # emulator, consumer fleet, API and consumer containers
    first.process.kill()
    first.process.wait(timeout=10)
    assert eventually(lambda: not any(alive(pid) for pid in children), within=15)
    second = start_orders_up(tmp_path, *args, env=env, api_port=api_port)
    try:
        response = requests.get(
            f"{second.api}/order/0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10", timeout=10
        )
        assert response.status_code == 404
    finally:
        code, output, _ = second.stop()
    assert code == 0, output


@pytest.mark.parametrize(
    ("variable", "value"),
    [("EMAIL_FROM", "not-an-address"), ("LOG_LEVEL", "LOUD")],
)
def test_a_bad_function_setting_stops_orders_up_naming_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"} | {variable: value}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "local.cli", "up", "--port", str(free_port())),
            *("--aws-port", str(free_port()), "--outbox", str(tmp_path / "outbox")),
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert f"{variable} is invalid" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def listening(pid: int) -> set[tuple[str, int]]:
    """Every (address, port) the process and its descendants listen on."""
    found = set()
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    found.add((connection.laddr.ip, connection.laddr.port))
    return found


def test_by_default_nothing_listens_beyond_loopback(stack: RunningStack) -> None:
    sockets = listening(stack.process.pid)
    assert sockets, "orders up listens somewhere"
    assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
    assert not [line for line in stack.lines if line.startswith("exposed:")]


def test_on_every_interface_only_the_api_is_reachable_and_it_can_require_a_key(
    tmp_path: Path,
) -> None:
    """A phone on the network reaches the API; the emulator (every table, queue and message,
    moto's reset) and the SMTP sink (every email) stay on loopback. With a key required, a
    request without it is API Gateway's 403 and writes nothing."""
    key = "local-test-key-0123456789"
    exposed = start_stack(tmp_path, "--host", "0.0.0.0", "--api-key", key)  # noqa: S104
    try:
        api_port = int(exposed.api.rsplit(":", 1)[1])
        sockets = listening(exposed.process.pid)
        assert {(address, port) for address, port in sockets if address != "127.0.0.1"} == {
            ("0.0.0.0", api_port)  # noqa: S104
        }, sockets
        [said] = [line for line in exposed.lines if line.startswith("exposed:")]
        assert f"0.0.0.0:{api_port}" in said
        assert "x-api-key" in said
        refused = post(exposed, sample_text("order_request.spec_example.json"))
        wrong = post(
            exposed, sample_text("order_request.spec_example.json"), **{"x-api-key": "x" * 24}
        )
        accepted = post(
            exposed, sample_text("order_request.spec_example.json"), **{"x-api-key": key}
        )
        orders = boto3.client("dynamodb", endpoint_url=exposed.aws, region_name="us-east-1")
        stored = orders.scan(TableName="dev-Orders", Select="COUNT")["Count"]
    finally:
        code, output = stop_stack(exposed)
    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    assert refused.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert wrong.status_code == 403
    assert accepted.status_code == 200, accepted.text
    assert stored == 1  # the refused requests wrote nothing
    assert code == 0, output
