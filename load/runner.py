"""``orders load SCENARIO``: a locust run against the API, then the pipeline's completion.

1. locust, headless (``load/locustfile.py``), offers the scenario's load to ``--host`` and writes
   its CSV and HTML reports and one line per request (``requests.csv``); the scenario's
   thresholds set locust's exit code (``verdict.json``).
2. Every accepted order is then followed until it is stored, emailed and audited, or the
   scenario's completion time (3 minutes) after the run has passed.
3. ``timeline.png`` plots the run; the summary goes to the console and ``summary.json``.
4. Against ``orders up`` on this machine, what the run cost the machine (``load.machine``): CPU
   per order by process, the AWS calls per order, the reference loop; and what the run's orders
   would cost on AWS, per million, line by line (``load.cost``). When thresholds were
   missed only because every API container was busy (429 ``TooManyRequestsException``, not the
   stage's ``ThrottlingException``), the run says so: it measured this machine, not the API.
5. ``soak``: every process's resident memory each second (``load.memory``), plotted with the
   p95 in ``memory.png``; the run fails when a process grew beyond its data after the warm-up,
   or when the p95 drifted.

Exit code: 0 when every threshold held and every accepted order completed; 1 otherwise; 3 when
what was missed is this machine's capacity alone; 2 for a usage error.
"""

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import requests
from botocore.exceptions import BotoCoreError, ClientError

from load.completion import PEAK_WINDOW, Completion, PipelineReader, wait_for_completion
from load.cost import (
    Bill,
    PriceTable,
    PriceTableError,
    RunCounts,
    add_to_report,
    itemize,
    table_lines,
)
from load.machine import MachineCost, MachineMeter, find_orders_up
from load.memory import RssSampler, drift_failure, p95_drift, warm_up_seconds
from load.memory import plot as plot_memory
from load.plot import SamplesUnreadable, read_samples, timeline
from load.scenarios import Scenario, scenarios
from load.usage import UsageRecorder
from load.verdict import VALID_POSTS, Verdict, percentile

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MACHINE_BOUND_EXIT = 3


def _locust(args: argparse.Namespace, scenario_json: str, out: Path) -> int:
    root = str(LOCUSTFILE.parents[1])
    env = {
        **os.environ,
        "LOAD_SCENARIO": scenario_json,
        "LOAD_OUT": str(out),
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    if args.api_key:
        env["LOAD_API_KEY"] = args.api_key
    command = [
        sys.executable,
        "-m",
        "locust",
        *("-f", str(LOCUSTFILE), "--headless", "--host", args.host),
        *("--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "report.html")),
        *("--stop-timeout", "35", "--only-summary", "--loglevel", "WARNING"),
    ]
    return subprocess.run(command, env=env, check=False).returncode  # noqa: S603


@contextlib.contextmanager
def _stopped_with_locust() -> Iterator[None]:
    """A ``kill`` (SIGTERM) of ``orders load`` ends its locust too: as SystemExit, it unwinds
    ``subprocess.run``, which kills the child; left alone, locust ran on for the whole
    scenario and wrote into the next run's files."""

    def stop(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


class OutInUse(RuntimeError):
    pass


@contextlib.contextmanager
def _only_run_in(out: Path) -> Iterator[None]:
    """One run at a time writes to ``out``: two would mix their samples."""
    with (out / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutInUse(
                f"another run is writing to {out}; wait for it or choose another --out"
            ) from None
        yield


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _seconds(values: list[float]) -> str:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    return "-" if p50 is None or p95 is None else f"p50 {p50:.2f} s, p95 {p95:.2f} s"


def report(verdict: Verdict, completion: Completion | None) -> list[str]:
    lines = [
        f"  requests {verdict.requests}: "
        + ", ".join(f"{count} x {status}" for status, count in verdict.statuses.items()),
        f"  accepted: {verdict.accepted} valid POSTs answered 200"
        + (f" ({verdict.accepted_share:.2%})" if verdict.accepted_share is not None else "")
        + f", {verdict.accepted_rate:.1f}/s in the steady part; "
        f"p50 {_ms(verdict.p50_accepted_ms)}, p95 {_ms(verdict.p95_accepted_ms)}",
        f"  429 answers: p50 {_ms(verdict.p50_throttled_ms)}, p95 {_ms(verdict.p95_throttled_ms)}; "
        f"errors {verdict.errors}",
    ]
    if len(verdict.stages) > 1:
        lines.append("  step  offered/s  accepted/s  429/s  p95 accepted  errors")
        lines += [
            f"  {s.rate:5.0f}  {s.offered:9.1f}  {s.accepted:10.1f}  {s.throttled:5.1f}"
            f"  {_ms(s.p95_accepted_ms):>12s}  {s.errors:6d}"
            for s in verdict.stages
        ]
        knee = verdict.knee
        lines.append(
            f"  knee: {knee.accepted:.1f} accepted/s sustained at the {knee.rate:g}/s step"
            if knee
            else "  knee: no step was served in full"
        )
    if completion is not None:
        outbox = "" if completion.in_outbox is None else f", in the outbox {completion.in_outbox}"
        lines.append(
            f"  pipeline: {completion.accepted} accepted; stored {completion.stored}, "
            f"emailed {completion.emailed}, audited {completion.audited}{outbox}; "
            f"duplicate emails {completion.duplicate_emails}"
        )
        lines.append(
            f"  accepted -> published {_seconds(completion.to_published)}; "
            f"accepted -> audited {_seconds(completion.to_audited)}; "
            f"accepted -> emailed {_seconds(completion.to_emailed)}"
        )
        if completion.peak_orders_per_second is not None:
            lines.append(
                f"  end to end at best {completion.peak_orders_per_second:.1f} orders/s "
                f"(most orders done in any {PEAK_WINDOW:g} s)"
            )
        if completion.last_done_after_run is not None:
            rate = completion.orders_per_second or 0.0
            after = completion.last_done_after_run
            lines.append(
                f"  every order done {f'{after:.1f} s after the run' if after > 0 else 'during the run'}; "
                f"end to end {rate:.1f} orders/s (first accepted to last done)"
            )
    return lines


def capacity_lines(verdict: Verdict, throttle: float, cost: MachineCost | None) -> list[str]:
    """What the run says about this machine when thresholds were missed for its capacity."""
    if not verdict.capacity_bound:
        return []
    return [
        f"  MACHINE: this machine serves about {verdict.accepted_rate:.0f} orders/s here; the "
        f"stage throttle ({throttle:g}/s) was "
        + ("never reached" if not verdict.stage_throttled else "reached too")
        + f": {verdict.capacity_refused} of the 429s were capacity refusals (every API "
        f"container busy), {verdict.stage_throttled} the stage's",
        _busiest_line(cost)
        or "  MACHINE: (run against orders up on this machine to see which process is busiest)",
        *(f"  MACHINE-BOUND: {line}" for line in verdict.capacity_bound),
    ]


def _busiest_line(cost: MachineCost | None) -> str:
    """The process that spent the most CPU per order; empty when none was measured."""
    busiest = cost.busiest if cost is not None else None
    if busiest is None:
        return ""
    return f"  MACHINE: busiest process: {busiest[0]}, {busiest[1]:.1f} CPU-ms per order"


# Above this share of the machine's cores kept busy by the stack, a missed latency is told as
# measured on a machine near its capacity (locust, beside it, needs CPU too).
BUSY_SHARE = 0.75


def busy_lines(verdict: Verdict, cost: MachineCost | None, cores: int) -> list[str]:
    """What the run says about this machine when thresholds were missed without any capacity
    refusal: how much of its CPU the stack kept busy, when that was most of it."""
    if verdict.passed or verdict.capacity_bound or cost is None or cores < 1:
        return []
    busy = verdict.accepted_rate * cost.total_cpu_ms / 1000
    if busy < BUSY_SHARE * cores:
        return []
    lines = [
        f"  MACHINE: the stack kept {busy:.1f} of this machine's {cores} cores busy "
        f"({cost.total_cpu_ms:.1f} CPU-ms an order at {verdict.accepted_rate:.0f} orders/s); "
        "what was missed above was measured on a machine near its capacity",
        _busiest_line(cost),
    ]
    return [line for line in lines if line]


def _aws_endpoint(args: argparse.Namespace, local: bool) -> str | None:
    return args.aws or (
        os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566") if local else None
    )


def _follow(
    args: argparse.Namespace, local: bool, accepted: set[str], run_ended: float, scenario: Scenario
) -> Completion:
    if local:  # the emulator takes any credentials; a real account keeps its own chain
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    reader = PipelineReader(
        env=args.env,
        aws_endpoint=_aws_endpoint(args, local),
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        api=None if local else args.host,
        api_key=args.api_key,
        outbox=args.outbox if local else None,
    )
    return wait_for_completion(
        reader,
        accepted,
        run_ended,
        scenario.thresholds.completion_seconds,
        lambda line: print(line, flush=True),
    )


def _bill(
    usage: UsageRecorder | None,
    completion: Completion | None,
    accepted: int,
    cost: MachineCost | None,
) -> tuple[RunCounts, Bill | None] | None:
    """What the run's orders would cost on AWS (``load.cost``), where the stack counted it.
    The counts are kept when the price table cannot be read: ``orders cost`` prices them later."""
    if usage is None or cost is None:
        return None
    orders = completion.accepted if completion else accepted
    emails = completion.emailed if completion else orders
    counts = usage.stop(orders, emails, cost.loop)
    if counts is None or not counts.functions:
        return None
    try:
        return counts, itemize(counts, PriceTable.load())
    except (PriceTableError, ValueError) as exc:
        print(
            f"orders load: no cost table: {exc} (the counts are kept in summary.json: "
            "orders cost RUN --prices FILE prices them)",
            file=sys.stderr,
        )
        return counts, None


def run(args: argparse.Namespace) -> int:
    scenario = scenarios(args.throttle)[args.scenario].constant(args.rate, args.duration)
    out = args.out or Path("var/load") / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    local = urllib.parse.urlsplit(args.host).hostname in LOCAL_HOSTS
    print(
        f"orders load {scenario.name}: {scenario.description}\n"
        f"  {' then '.join(f'{s.rate:g}/s for {s.seconds:g} s' for s in scenario.stages)} "
        f"against {args.host}; reports in {out}",
        flush=True,
    )
    try:
        with _only_run_in(out), _stopped_with_locust():
            return _run_in(args, scenario, out, local)
    except (OutInUse, SamplesUnreadable) as exc:
        print(f"orders load: {exc}", file=sys.stderr)
        return 1


def _run_in(args: argparse.Namespace, scenario: Scenario, out: Path, local: bool) -> int:
    stack = find_orders_up(urllib.parse.urlsplit(args.host).port or 80) if local else None
    aws_url = _aws_endpoint(args, local)
    meter = MachineMeter(stack, aws_url) if stack is not None else None
    usage = UsageRecorder(stack, aws_url) if stack is not None and aws_url else None
    soak = scenario.thresholds.max_memory_growth is not None
    warm_up = warm_up_seconds(scenario.seconds)
    memory = RssSampler(stack, aws_url, warm_up).start() if soak and stack is not None else None
    code = _locust(args, scenario.model_dump_json(), out)
    verdict_path = out / "verdict.json"
    if not verdict_path.exists():
        print(f"orders load: locust ended (exit code {code}) without a verdict", file=sys.stderr)
        return 1
    saved = json.loads(verdict_path.read_text(encoding="utf-8"))
    began = float(saved.pop("began"))
    verdict = Verdict.model_validate(saved)
    run_ended = began + scenario.seconds
    samples = read_samples(out / "requests.csv")
    plot = timeline(samples, scenario, began, out)
    failures = list(verdict.failures)
    accepted = {s.order_id for s in samples if s.kind in VALID_POSTS and s.status == 200}
    trend, drift, memory_plot = None, None, None
    if memory is not None:
        trend = memory.stop(
            sum(
                s.kind in VALID_POSTS and s.status == 200 and s.started - began >= warm_up
                for s in samples
            )
        )
        failures += trend.failures(scenario.thresholds.max_memory_growth or 0.0)
        memory_plot = plot_memory(trend, samples, began, f"orders load {scenario.name}", out)
    elif soak:
        failures.append("memory not measured: the soak measures orders up on this machine")
    if scenario.thresholds.max_p95_drift is not None:
        drift = p95_drift(samples, began, scenario.seconds, warm_up)
        drifted = drift_failure(drift, scenario.thresholds.max_p95_drift)
        failures += [drifted] if drifted else []
    completion = None
    if not args.no_completion and accepted - {""}:
        try:
            completion = _follow(args, local, accepted - {""}, run_ended, scenario)
        except (BotoCoreError, ClientError, requests.RequestException) as exc:
            failures.append(f"could not read the pipeline's records: {exc}")
    if completion is not None and not completion.complete:
        failures.append(
            f"not every accepted order was stored, emailed and audited exactly once within "
            f"{scenario.thresholds.completion_seconds:g} s of the run's end"
        )
    cost = meter.stop(completion.accepted if completion else len(accepted)) if meter else None
    bill = _bill(usage, completion, len(accepted), cost)
    lines = report(verdict, completion)
    (out / "summary.json").write_text(
        json.dumps(
            {
                "scenario": scenario.model_dump(),
                "verdict": verdict.model_dump(),
                "completion": None if completion is None else vars(completion),
                "machine": None if cost is None else cost.as_json(),
                "aws_cost": None
                if bill is None
                else {"counts": bill[0].as_json(), **(bill[1].as_json() if bill[1] else {})},
                "memory": None
                if trend is None
                else {**trend.as_json(), "p95_first_last_ms": drift},
                "failures": failures,
                "capacity_bound": verdict.capacity_bound,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print("\n".join(lines))
    if trend is not None:
        print("\n".join(trend.lines()))
    if drift is not None:
        print(f"  accepted p95: {drift[0]:.1f} ms after the warm-up, {drift[1]:.1f} ms at the end")
    if cost is not None:
        print("\n".join(cost.lines()))
    if bill is not None and bill[1] is not None:
        print("\n".join(table_lines(bill[1], bill[0].orders)))
        add_to_report(out / "report.html", bill[1], bill[0].orders)
    print(f"  plot: {plot}   locust report: {out / 'report.html'}")
    if memory_plot is not None:
        print(f"  memory plot: {memory_plot}")
    for failure in failures:
        print(f"  MISSED: {failure}")
    for line in capacity_lines(verdict, args.throttle, cost):
        print(line)
    for line in busy_lines(verdict, cost, os.cpu_count() or 1):
        print(line)
    if failures:
        print("FAIL", flush=True)
        return 1
    if verdict.capacity_bound:
        print("MACHINE-BOUND: this machine's capacity, not the API, set these figures", flush=True)
        return MACHINE_BOUND_EXIT
    print("PASS", flush=True)
    return 0
