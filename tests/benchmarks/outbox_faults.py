"""The outbox's fault scenarios at full size, on this tree or another checkout (old vs new).

    python -m tests.benchmarks.outbox_faults sns-outage|api-kills [--rate 50] [--seconds 60]
                                             [--tree PATH]

``sns-outage``: SNS answers 500 for the middle half of the run (30 s of 60). ``api-kills``: an
Order API container SIGKILLed every 0.5 s; clients retry under their Idempotency-Key. Both: each
order sent with its own key; then up to 3 minutes for the pipeline to finish. Reports the
answers, the API's p95 before and during the fault, and the stored orders that were never
emailed or audited (stranded), beside the machine's reference loop (SPEC §12).
With ``--tree``, ``orders up`` runs from that checkout (e.g. a worktree of an older commit);
the harness is this one's. SNS is reached through a fault proxy by whoever calls it.
"""

import argparse
import os
import random
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from local.aws.emulator import MotoProcess
from tests.benchmarks.reference_loop import loop_ms
from tests.e2e.test_outbox_faults import Pipeline, offer_orders, p95, wait_for_the_pipeline
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import free_port, use_local_credentials
from tests.support.stack_process import start_orders_up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["sns-outage", "api-kills"])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    use_local_credentials()
    before = loop_ms()
    folder = Path(tempfile.mkdtemp(prefix="outbox-faults-"))
    emulator = MotoProcess("127.0.0.1", free_port(), folder / "emulator.log")
    emulator.start()
    sns = FaultProxy(emulator.url).start()
    pipeline = Pipeline(folder, emulator, sns, free_port())
    env = {**os.environ, "AWS_ENDPOINT_URL": emulator.url, "AWS_ENDPOINT_URL_SNS": sns.url}
    pipeline.stack = start_orders_up(
        folder, "--outbox", str(folder / "outbox"), env=env, api_port=pipeline.api_port,
        root=args.tree.resolve(),
    )  # fmt: skip
    state: dict[str, Any] = {"down": False, "next": 0.5, "kills": 0}
    outage = (args.seconds / 4, args.seconds * 3 / 4)

    def fault(elapsed: float) -> None:
        if args.scenario == "sns-outage":
            if not state["down"] and outage[0] <= elapsed < outage[1]:
                for operation in ("Publish", "PublishBatch"):
                    sns.inject(operation, "server_error")
                state["down"] = True
            elif state["down"] and elapsed >= outage[1]:
                sns.clear()
                state["down"] = False
        elif elapsed >= state["next"]:
            state["next"] += 0.5
            pids = pipeline.containers("api.handler:handler")
            if pids:
                os.kill(random.choice(pids), signal.SIGKILL)
                state["kills"] += 1

    try:
        answers = offer_orders(
            pipeline.api, args.rate, args.seconds, retry=args.scenario == "api-kills", during=fault
        )
        sns.clear()
        statuses = Counter(status for answer in answers for status in answer.statuses)
        ordered = sorted(answers, key=lambda a: a.index)
        quarter = len(ordered) // 4
        latencies = [a.latency for a in ordered]
        done = wait_for_the_pipeline(pipeline)
        print(
            f"tree: {args.tree}   scenario: {args.scenario} at {args.rate:g}/s for {args.seconds:g} s"
        )
        print(f"answers (every attempt): {dict(sorted(statuses.items()))}; kills: {state['kills']}")
        print(
            f"API p95 before the fault {p95(latencies[:quarter]) * 1000:.0f} ms, "
            f"during {p95(latencies[quarter : 3 * quarter]) * 1000:.0f} ms"
        )
        if args.scenario == "api-kills":
            keys_with_two_orders = sum(1 for a in answers if len(a.order_ids) > 1)
            print(f"keys answered with more than one order id: {keys_with_two_orders}")
        twice = sum(1 for order in done.orders if done.emails[order] > 1)
        print(
            f"stored: {len(done.orders)}, stranded (not audited or not emailed after 3 min): "
            f"{len(done.stranded)}, emailed twice: {twice}"
        )
    finally:
        pipeline.stop()
        sns.stop()
        emulator.stop()
    after = loop_ms()
    print(f"reference loop: {before:.0f} ms before, {after:.0f} ms after (median of 11 each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
