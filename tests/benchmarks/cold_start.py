"""Cold init of the Order API: a fresh Python process imports the handler and serves its first
request against moto, side by side with a plain sync boto3 + Powertools baseline.

Each run is a new interpreter (as a Lambda cold start is); the figure is the wall time from
before the handler's import to the first response, taken inside the process, plus the whole
process time seen from outside. Runs alternate between the two handlers to share any drift.
Afterwards one ``python -X importtime`` run of ours is summarised by top-level package.

    python -m tests.benchmarks.cold_start [--runs N]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from tests.support.aws import new_stack
from tests.support.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 2.0

PROBE = """
import time
started = time.perf_counter()
import json
from {module} import handler
from runtime.lambda_context import LocalLambdaContext
from contracts.sample_data import sample
imported = time.perf_counter()
response = handler(sample("apigw.post_order.json"), LocalLambdaContext("order-api"))
done = time.perf_counter()
assert response["statusCode"] == 200, response
print("TIMING", json.dumps({{"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000}}))
"""


def run_once(
    module: str, env: dict[str, str], importtime: bool = False
) -> tuple[dict[str, float], str]:
    args = [
        sys.executable,
        *(["-X", "importtime"] if importtime else []),
        "-c",
        PROBE.format(module=module),
    ]
    started = time.perf_counter()
    result = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    wall_ms = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{module} failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("TIMING "))
    timing: dict[str, float] = json.loads(line.removeprefix("TIMING "))
    timing["process_ms"] = wall_ms
    return timing, result.stderr


def importtime_by_package(stderr: str) -> list[tuple[str, float]]:
    """Self time of every imported module, summed by top-level package (ms)."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _cumulative, name = (
            part.strip() for part in line.split("|", 1)[0].split(":", 1) + line.split("|")[1:]
        )
        totals[name.strip().split(".")[0]] += int(self_us) / 1000
    return sorted(totals.items(), key=lambda kv: kv[1], reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    moto = MotoServer().start()
    try:
        stack = new_stack(moto.url)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": moto.url,
            "ORDER_TABLE_NAME": stack.names.orders_table,
            "ORDER_TOPIC_ARN": stack.topic_arn,
            "IDEMPOTENCY_TABLE_NAME": stack.names.idempotency_table,
            "POWERTOOLS_METRICS_NAMESPACE": "OrderPipeline",
        }
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "baseline": []}
        modules = {"ours": "api.handler", "baseline": "tests.benchmarks.baseline_handler"}
        for name in modules:  # one unmeasured run each, so both start with warm file caches
            run_once(modules[name], env)
        for _ in range(args.runs):
            for name, module in modules.items():
                runs[name].append(run_once(module, env)[0])
        _, importtime_err = run_once(modules["ours"], env, importtime=True)
    finally:
        moto.stop()

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    print(f"cold init, fresh process, first request against moto; medians of {args.runs} runs")
    print(f"{'':10s} {'import':>10s} {'to 1st response':>16s} {'whole process':>14s}")
    for name in runs:
        print(
            f"{name:10s} {median(name, 'import_ms'):8.1f} ms {median(name, 'total_ms'):13.1f} ms {median(name, 'process_ms'):11.1f} ms"
        )
    ratio = median("ours", "total_ms") / median("baseline", "total_ms")
    print(f"ratio ours/baseline (to 1st response): {ratio:.2f}x   target <= {TARGET_RATIO}x")
    print("import time of ours by top-level package (self time, one -X importtime run):")
    for package, ms in importtime_by_package(importtime_err)[:14]:
        print(f"  {package:28s} {ms:7.1f} ms")
    print("  PASS" if ratio <= TARGET_RATIO else "  FAIL")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
