"""The load targets of the one-machine stack (SPEC §12), each measured by ``orders load``
against a fresh ``orders up`` on this machine, locust on the same machine:

- steady   50/s for 60 s: every order accepted, p95 <= 50 ms
- throttle 100/s for 60 s: >= 99 % accepted, no error, p95 <= 100 ms
- double   200/s for 60 s: 100/s accepted (± 10 %), the rest 429 with p95 <= 50 ms, no error
- after each, every accepted order stored, emailed and audited within 3 minutes
- ramp     with the throttle raised (``orders up --rate 1000``): the knee, as sustained accepted/s
  and end-to-end orders/s

    python -m tests.benchmarks.load_targets [--skip-ramp] [--out DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.moto_server import free_port
from tests.support.stack_process import ROOT, start_orders_up


def run_scenario(stack_api: str, aws: str, outbox: Path, scenario: str, out: Path) -> Any:
    report = out / scenario
    subprocess.run(
        [
            sys.executable,
            "-m",
            "local.cli",
            "load",
            scenario,
            *("--host", stack_api, "--aws", aws, "--outbox", str(outbox), "--out", str(report)),
        ],
        cwd=ROOT,
        check=False,
        timeout=3600,
    )
    return json.loads((report / "summary.json").read_text(encoding="utf-8"))


def with_stack(workdir: Path, *args: str) -> tuple[Any, str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    aws_port = free_port()
    outbox = workdir / "outbox"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    stack = start_orders_up(
        workdir, "--aws-port", str(aws_port), "--outbox", str(outbox), *args, env=env
    )
    return stack, f"http://127.0.0.1:{aws_port}", outbox


def ms(value: float | None) -> str:
    return "   -    " if value is None else f"{value:5.1f} ms"


def line(name: str, summary: Any) -> str:
    verdict, completion = summary["verdict"], summary["completion"] or {}
    done = completion.get("last_done_after_run")
    return (
        f"  {name:8s} accepted {verdict['accepted_rate']:6.1f}/s "
        f"({(verdict['accepted_share'] or 0):7.2%})  "
        f"p95 200: {ms(verdict['p95_accepted_ms'])}  "
        f"p95 429: {ms(verdict['p95_throttled_ms'])}  errors {verdict['errors']}  "
        f"all done {'-' if done is None else f'{max(done, 0):.0f} s'} after  "
        f"{verdict_words(summary)}"
    )


def missed_lines(summary: Any) -> list[str]:
    """Every threshold missed, for whatever reason (this machine's capacity among them)."""
    return [*summary["failures"], *summary.get("capacity_bound", [])]


def verdict_words(summary: Any) -> str:
    if summary["failures"]:
        return "FAIL: " + "; ".join(missed_lines(summary))
    if summary.get("capacity_bound"):
        return "FAIL (this machine's capacity): " + "; ".join(summary["capacity_bound"])
    return "PASS"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-ramp", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="load-targets-"))
    results: dict[str, Any] = {}
    stack, aws, outbox = with_stack(out / "stack")
    try:
        for scenario in ("steady", "throttle", "double"):
            results[scenario] = run_scenario(stack.api, aws, outbox, scenario, out)
            time.sleep(5)  # a moment between runs
    finally:
        stack.stop(timeout=60)
    if not args.skip_ramp:
        stack, aws, outbox = with_stack(
            out / "stack-unthrottled", "--rate", "1000", "--burst", "1000"
        )
        try:
            results["ramp"] = run_scenario(stack.api, aws, outbox, "ramp", out)
        finally:
            stack.stop(timeout=60)
    print(f"load targets (reports in {out})")
    for name, summary in results.items():
        print(line(name, summary))
    if "ramp" in results:
        knee = results["ramp"]["verdict"]["knee"]
        completion = results["ramp"]["completion"] or {}
        print(
            f"  knee: {knee['accepted']:.1f} accepted/s at the {knee['rate']:g}/s step "
            f"(p95 {knee['p95_accepted_ms']:.1f} ms); end to end at best "
            f"{completion.get('peak_orders_per_second') or 0:.1f} orders/s"
            if knee
            else "  knee: none found"
        )
    missed = [name for name, summary in results.items() if missed_lines(summary)]
    print("  PASS" if not missed else f"  FAIL: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
