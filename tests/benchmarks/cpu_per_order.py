"""CPU per order of ``orders up``, process role by role, and the AWS calls an order causes.

``orders up`` runs as a user runs it (its own emulator, containers, fleet and front) from this
tree or another checkout; orders are offered at ``--rate`` for ``--seconds`` (open loop, each
with an Idempotency-Key unless ``--no-key``); then the run waits until every stored order is
emailed and audited. Every process of the stack is sampled twice a second (user + system CPU),
so containers started or stopped during the run are counted too. CPU from the first order to the
last completion, divided by the orders stored, is reported per role in CPU-ms and in loops
(SPEC §12's reference loop, the median of the timings before and after the run), beside the
emulator's own count of the AWS calls per order (``GET /_emulator/calls``, where the tree's
emulator counts them).

    python -m tests.benchmarks.cpu_per_order [--rate 20] [--seconds 30] [--no-key] [--tree PATH]
        [--json FILE]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil

from tests.benchmarks.reference_loop import loop_ms
from tests.e2e.test_outbox_faults import offer_orders, wait_for_the_pipeline
from tests.support.moto_server import free_port
from tests.support.stack_process import start_orders_up

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_SECONDS = 0.5
ROLES = {  # a word of the command line → the role it plays
    "local.emulator_server": "emulator",
    "order-api": "API containers",
    "order-publisher": "publisher container",
    "email-consumer": "email containers",
    "audit-consumer": "audit containers",
    "local.consumer_fleet": "fleet (pollers, SMTP sink)",
    "local.cli": "front (orders up itself)",
}


def role_of(command: list[str]) -> str:
    for word in reversed(command):  # a container's function name comes after the module
        if word in ROLES:
            return ROLES[word]
    return "other"


@dataclass
class RunningStack:
    """What ``tests.e2e.test_outbox_faults.progress`` reads: the outbox and the emulator."""

    folder: Path
    aws_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_url, region_name="us-east-1")


class CpuSampler:
    """CPU seconds per process of a tree, sampled in the background from a starting point."""

    def __init__(self, root_pid: int):
        self._root = psutil.Process(root_pid)
        self._start: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list[psutil.Process]:
        return [self._root, *self._root.children(recursive=True)]

    def _sample(self) -> None:
        for process in self._processes():
            try:
                times = process.cpu_times()
                role = self._last.get(process.pid, ("", 0.0))[0] or role_of(process.cmdline())
            except psutil.Error:
                continue  # gone while we looked: its last sample stands
            self._last[process.pid] = (role, times.user + times.system)

    def start(self) -> None:
        self._sample()
        self._start = {pid: cpu for pid, (_, cpu) in self._last.items()}
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds spent since ``start``, by role."""
        self._stop.set()
        self._thread.join()
        self._sample()
        spent: dict[str, float] = defaultdict(float)
        for pid, (role, cpu) in self._last.items():
            spent[role] += cpu - self._start.get(pid, 0.0)
        return dict(spent)


def emulator_calls(aws_url: str) -> Counter[str] | None:
    try:
        with urllib.request.urlopen(f"{aws_url}/_emulator/calls", timeout=10) as answer:  # noqa: S310
            return Counter(json.load(answer))
    except (OSError, ValueError):
        return None  # an emulator that does not count (an older tree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-key", action="store_true", help="send orders without a key")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout orders up runs from")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        os.environ.setdefault(name, value)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    loops = [loop_ms()]
    folder = Path(tempfile.mkdtemp(prefix="cpu-per-order-"))
    aws_port = free_port()
    stack = start_orders_up(
        folder, "--aws-port", str(aws_port), "--outbox", str(folder / "outbox"),
        env=env, root=args.tree.resolve(),
    )  # fmt: skip
    running = RunningStack(folder, f"http://127.0.0.1:{aws_port}")
    try:
        calls_before = emulator_calls(running.aws_url)
        sampler = CpuSampler(stack.process.pid)
        sampler.start()
        started = time.monotonic()
        answers = offer_orders(stack.api, args.rate, args.seconds, keyed=not args.no_key)
        done = wait_for_the_pipeline(running)
        elapsed = time.monotonic() - started
        spent = sampler.stop()
        calls_after = emulator_calls(running.aws_url)
    finally:
        stack.stop()
    loops.append(loop_ms())
    loop = statistics.median(loops)
    orders = len(done.orders)
    statuses = Counter(status for answer in answers for status in answer.statuses)
    print(f"tree: {args.tree.resolve()}")
    print(
        f"{len(answers)} orders offered at {args.rate:g}/s for {args.seconds:g} s "
        f"({'no key' if args.no_key else 'each with a key'}); answers {dict(statuses)}; "
        f"{orders} stored, {len(done.stranded)} not done; {elapsed:.0f} s to the last completion"
    )
    print(f"reference loop: {loops[0]:.0f} ms before, {loops[1]:.0f} ms after")
    print(f"{'role':<30}{'CPU-ms/order':>14}{'loops/order':>13}")
    per_order = {role: cpu * 1000 / max(orders, 1) for role, cpu in sorted(spent.items())}
    for role, ms in sorted(per_order.items(), key=lambda item: -item[1]):
        print(f"{role:<30}{ms:>14.1f}{ms / loop:>13.3f}")
    total = sum(per_order.values())
    print(f"{'total':<30}{total:>14.1f}{total / loop:>13.3f}")
    calls: dict[str, float] = {}
    if calls_before is not None and calls_after is not None:
        calls = {
            name: (calls_after[name] - calls_before[name]) / max(orders, 1)
            for name in sorted(calls_after)
            if calls_after[name] > calls_before[name]
        }
        print("AWS calls per order, as the emulator counted them:")
        for name, count in calls.items():
            print(f"  {name:<40}{count:>8.2f}")
        print(f"  {'all':<40}{sum(calls.values()):>8.2f}")
    else:
        print("AWS calls per order: this tree's emulator does not count them")
    if args.json is not None:
        figures = {
            "tree": str(args.tree.resolve()),
            "orders": orders,
            "loop_ms": loops,
            "cpu_ms_per_order": per_order,
            "loops_per_order": {role: ms / loop for role, ms in per_order.items()},
            "aws_calls_per_order": calls,
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if not done.stranded else 1


if __name__ == "__main__":
    sys.exit(main())
