"""CPU per order of ``orders up``, process role by role, and the AWS calls an order causes.

``orders up`` runs as a user runs it (its own emulator, containers, fleet and front) from this
tree or another checkout; orders are offered at ``--rate`` for ``--seconds`` (open loop, each
with an Idempotency-Key unless ``--no-key``); then the run waits until every stored order is
emailed and audited (read from the outbox and the queues' depths, not by scanning tables,
whose cost would be counted; the tables are checked afterwards). Every process of the stack is
sampled twice a second (user + system CPU), so containers started or stopped during the run
are counted too. CPU from the first order to the last completion, divided by the orders
accepted, is reported per role in CPU-ms and in loops
(SPEC §12's reference loop, the median of the timings before and after the run), beside the
emulator's own count of the AWS calls per order (``GET /_emulator/calls``, where the tree's
emulator counts them).

    python -m tests.benchmarks.cpu_per_order [--rate 20] [--seconds 30] [--no-key] [--tree PATH]
        [--json FILE]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3

from load.completion import PipelineReader
from load.machine import MachineMeter
from tests.e2e.test_outbox_faults import COMPLETION_SECONDS, offer_orders, wait_for_the_pipeline
from tests.support.moto_server import free_port, use_local_credentials
from tests.support.polling import eventually
from tests.support.stack_process import start_orders_up

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    """What ``tests.e2e.test_outbox_faults.progress`` reads: the outbox and the emulator."""

    folder: Path
    aws_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_url, region_name="us-east-1")

    def settled(self, emails: int) -> bool:
        """Every email written and both consumer queues empty, read without scanning a table
        (``load.completion``'s queue depths): a scan costs the emulator as much as the orders
        it reads, and polling with one would be measured as the pipeline's own CPU."""
        if len(list((self.folder / "outbox").glob("*.eml"))) < emails:
            return False
        return self._queues.backlog() == 0

    @cached_property
    def _queues(self) -> PipelineReader:
        return PipelineReader(env="dev", aws_endpoint=self.aws_url, region="us-east-1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-key", action="store_true", help="send orders without a key")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout orders up runs from")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    use_local_credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    folder = Path(tempfile.mkdtemp(prefix="cpu-per-order-"))
    aws_port = free_port()
    stack = start_orders_up(
        folder, "--aws-port", str(aws_port), "--outbox", str(folder / "outbox"),
        env=env, root=args.tree.resolve(),
    )  # fmt: skip
    running = RunningStack(folder, f"http://127.0.0.1:{aws_port}")
    try:
        meter = MachineMeter(stack.process.pid, running.aws_url)
        started = time.monotonic()
        answers = offer_orders(stack.api, args.rate, args.seconds, keyed=not args.no_key)
        accepted = sum(200 in answer.statuses for answer in answers)
        eventually(lambda: running.settled(accepted), within=COMPLETION_SECONDS, max_pause=1.0)
        elapsed = time.monotonic() - started
        cost = meter.stop(accepted)
        done = wait_for_the_pipeline(running)  # checked by scanning, once the CPU is counted
    finally:
        stack.stop()
    statuses = Counter(status for answer in answers for status in answer.statuses)
    print(f"tree: {args.tree.resolve()}")
    print(
        f"{len(answers)} orders offered at {args.rate:g}/s for {args.seconds:g} s "
        f"({'no key' if args.no_key else 'each with a key'}); answers {dict(statuses)}; "
        f"{cost.orders} stored, {len(done.stranded)} not done; "
        f"{elapsed:.0f} s to the last completion"
    )
    first_tries = sorted(answer.latency * 1000 for answer in answers)
    if first_tries:
        p50, p95 = first_tries[len(first_tries) // 2], first_tries[int(len(first_tries) * 0.95)]
        print(f"API answers (first attempt): p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"reference loop: {cost.loop_ms[0]:.0f} ms before, {cost.loop_ms[-1]:.0f} ms after")
    print(f"{'role':<30}{'CPU-ms/order':>14}{'loops/order':>13}")
    for role, ms in sorted(cost.cpu_ms_per_order.items(), key=lambda item: -item[1]):
        print(f"{role:<30}{ms:>14.1f}{ms / cost.loop:>13.3f}")
    print(f"{'total':<30}{cost.total_cpu_ms:>14.1f}{cost.total_cpu_ms / cost.loop:>13.3f}")
    if cost.aws_calls_per_order:
        print("AWS calls per order, as the emulator counted them:")
        for name, count in sorted(cost.aws_calls_per_order.items()):
            print(f"  {name:<40}{count:>8.2f}")
        print(f"  {'all':<40}{sum(cost.aws_calls_per_order.values()):>8.2f}")
    else:
        print("AWS calls per order: this tree's emulator does not count them")
    if args.json is not None:
        figures = {"tree": str(args.tree.resolve()), **cost.as_json()}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if not done.stranded else 1


if __name__ == "__main__":
    sys.exit(main())
