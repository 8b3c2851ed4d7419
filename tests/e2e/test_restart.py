"""``orders up`` keeps its state across restarts: stopped with a backlog in the queues (Ctrl-C,
then separately ``kill -9`` of every process after a save), started again, every order
completes, emailed once and audited once, and orders from before the restart are still
served. A state file that cannot be restored stops it in one line; ``--fresh`` starts empty.

The backlog is made by stopping (SIGSTOP) the Email and Audit functions' containers while
orders arrive: their pollers hold one batch each in flight and the rest wait in the queues.
"""

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.aws.resources import ResourceNames
from local.aws.state_file import MAGIC
from tests.e2e.test_outbox_faults import offer_orders, progress, wait_for_the_pipeline
from tests.support.moto_server import free_port
from tests.support.polling import eventually
from tests.support.stack_process import (
    ONE_OF_EACH,
    StackProcess,
    descendants,
    function_containers,
    start_orders_up,
)

CONSUMERS = ("consumers.email.handler:handler", "consumers.audit.handler:handler")
ORDERS = 25  # more than the batch of 10 each poller holds in flight
WITHIN = 60.0  # for the backlog to form or be saved: holds on a machine 3x slower
NAMES = ResourceNames("dev")


class Stack:
    """``orders up`` with its own emulator, in ``folder`` (where ``var/state`` lives)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.aws_port = free_port()
        self.api_port = free_port()
        self.running: StackProcess | None = None
        self.env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def arguments(self, *extra: str) -> list[str]:
        return [
            *("--aws-port", str(self.aws_port), "--outbox", str(self.folder / "outbox")),
            *("--save-every", "1", *ONE_OF_EACH, *extra),
        ]

    def start(self, *extra: str) -> list[str]:
        """Start it; what it printed up to its ready line."""
        self.running = start_orders_up(
            self.folder, *self.arguments(*extra), env=self.env, api_port=self.api_port
        )
        return self.running.lines

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws, region_name="us-east-1")

    def hold_consumers(self) -> list[int]:
        """Stop the Email and Audit containers where they are; their pids."""
        assert self.running is not None
        held = [
            pid
            for entry in CONSUMERS
            for pid in function_containers(self.running.process.pid, entry)
        ]
        assert len(held) == 2, held
        for pid in held:
            os.kill(pid, signal.SIGSTOP)
        return held

    def queued(self) -> list[int]:
        """Messages in the Email and Audit queues, waiting or in flight."""
        sqs = self.client("sqs")
        counts = []
        for spec in NAMES.queues:
            url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            counts.append(sum(int(value) for value in attributes.values()))
        return counts

    def all_saved(self) -> bool:
        state = requests.get(f"{self.aws}/_emulator/state", timeout=10).json()
        return bool(state["saved"] == state["changes"])

    def backlog(self, orders: int) -> list[int]:
        """``orders`` accepted while the consumers are held, all of them in both queues."""
        held = self.hold_consumers()
        answers = offer_orders(self.api, rate=50, seconds=orders / 50, retry=True)
        assert all(200 in answer.statuses for answer in answers)
        assert eventually(lambda: self.queued() == [orders, orders], within=WITHIN)
        return held


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        if running.running is not None and running.running.process.poll() is None:
            for pid in descendants(running.running.process.pid):
                os.kill(pid, signal.SIGCONT)
            running.running.stop(timeout=120)


def _restored(lines: list[str]) -> str:
    [restored] = [line for line in lines if line.startswith("restored: ")]
    return restored


def _every_order_done_once(stack: Stack, orders: int) -> set[str]:
    done = wait_for_the_pipeline(stack)
    assert len(done.orders) == orders
    assert not done.stranded, f"{len(done.stranded)} of {orders} orders stranded"
    assert {done.emails[order] for order in done.orders} == {1}
    assert {done.audits[order] for order in done.orders} == {1}
    return done.orders


def test_stopped_with_a_backlog_it_finishes_every_order_after_a_restart(stack: Stack) -> None:
    stack.start()
    held = stack.backlog(ORDERS)

    # Ctrl-C: the held batches finish as orders up stops; the rest stays in the queues.
    assert stack.running is not None
    stack.running.process.send_signal(signal.SIGINT)
    for pid in held:
        os.kill(pid, signal.SIGCONT)
    output, _ = stack.running.process.communicate(timeout=120)
    assert stack.running.process.returncode == 0, output
    assert "Traceback" not in output

    restored = _restored(stack.start())
    waiting = int(re.search(r"(\d+) messages in", restored).group(1))  # type: ignore[union-attr]
    assert waiting > 0, restored  # a backlog was kept
    before = _every_order_done_once(stack, ORDERS)

    # kill -9 of every process once the backlog is saved: a power cut.
    stack.backlog(ORDERS)
    assert eventually(stack.all_saved, within=WITHIN)
    assert stack.running is not None
    root = stack.running.process.pid
    for pid in [root, *descendants(root)]:
        os.kill(pid, signal.SIGKILL)
    stack.running.process.wait(timeout=30)

    restored = _restored(stack.start())
    assert f"{2 * ORDERS} messages in" in restored, restored  # each order's, in both queues
    # The batch each held container had: at least a message a queue, at most ten.
    visible_again = int(re.search(r"(\d+) in flight", restored).group(1))  # type: ignore[union-attr]
    assert 2 <= visible_again <= 20, restored
    after = _every_order_done_once(stack, 2 * ORDERS)
    assert before < after
    for order_id in before:
        answer = requests.get(f"{stack.api}/order/{order_id}", timeout=10)
        assert answer.status_code == 200
        assert answer.json()["orderId"] == order_id


def _orders_up(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    return subprocess.run(
        [sys.executable, "-m", "local.cli", "up", "--port", str(free_port()), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _saved_by(version: str) -> bytes:
    header = {"format": 1, "moto": version, "project": "0.1.0", "bytes": 0, "sha256": ""}
    return MAGIC + json.dumps(header).encode() + b"\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "var/state/aws.state is not an emulator state file"),
        (b"\x89PNG\r\n", "var/state/aws.state is not an emulator state file"),
        (MAGIC + b'{"format": 1}\n', "var/state/aws.state is damaged (its header)"),
        (_saved_by("4.0.0"), "var/state/aws.state was saved by moto 4.0.0"),
    ],
    ids=["empty", "not-ours", "damaged", "other-moto"],
)
def test_a_state_that_cannot_be_restored_stops_it_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    state = tmp_path / "var" / "state" / "aws.state"
    state.parent.mkdir(parents=True)
    state.write_bytes(content)
    result = _orders_up(tmp_path, "--aws-port", str(free_port()))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"orders up: {message}")
    assert result.stderr.rstrip().endswith(
        "start with --fresh to begin empty (the file is then kept aside)"
    )
    assert len(result.stderr.splitlines()) == 1
    assert state.read_bytes() == content  # refused, kept as it was


def test_fresh_sets_a_truncated_state_aside_and_starts_empty(stack: Stack) -> None:
    stack.start()
    stack.backlog(3)
    assert eventually(stack.all_saved, within=WITHIN)
    assert stack.running is not None
    for pid in descendants(stack.running.process.pid):
        os.kill(pid, signal.SIGCONT)
    stack.running.stop(timeout=120)
    state = stack.folder / "var" / "state" / "aws.state"
    whole = state.read_bytes()
    state.write_bytes(whole[: len(whole) // 2])  # as a full disk might leave it

    refused = _orders_up(stack.folder, *stack.arguments())
    assert refused.returncode == 1
    assert re.fullmatch(
        r"orders up: var/state/aws.state is damaged \(truncated: \d+ of \d+ bytes\); start "
        r"with --fresh to begin empty \(the file is then kept aside\)\n",
        refused.stderr,
    ), refused.stderr

    lines = stack.start("--fresh")
    [fresh] = [line for line in lines if line.startswith("fresh: ")]
    aside = stack.folder / fresh.rpartition(" is kept as ")[2]
    assert aside.read_bytes() == whole[: len(whole) // 2]  # set aside, never discarded
    assert not [line for line in lines if line.startswith("restored: ")]
    assert progress(stack).orders == set()


def test_a_second_orders_up_on_the_same_state_is_refused(stack: Stack) -> None:
    stack.start()
    second = _orders_up(stack.folder, "--aws-port", str(free_port()))
    assert second.returncode == 1
    assert second.stderr == (
        "orders up: var/state is in use by another orders up; stop it, or give this one "
        "--state DIR of its own\n"
    )
