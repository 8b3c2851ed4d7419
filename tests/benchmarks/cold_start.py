"""Cold starts as Lambda has them: each function's built zip against a plain boto3 + Powertools
handler doing the same AWS work (``tests/benchmarks/baselines``), packaged the same way.

For every function, both zips are unpacked into empty folders; each run is a new python3.13
process started as ``-I -S -B`` (isolated, no site-packages, no bytecode written: /var/task is
read-only on Lambda) that imports the handler and serves one first request against moto: a
``POST /order`` for the Order API, a one-record SQS batch for the consumers. The figure is the
wall time from before the handler's import to the first response, taken inside the process
(Lambda's init + first invoke), with the CPU time it took (wall times on these machines swing
by tens of ms; CPU time much less), plus the whole process seen from outside (wall, and its
CPU time from the kernel's accounting). The Order API is measured twice: with an
``Idempotency-Key`` (which adds the key's claim and answer to the AWS work) and without one, as
the baseline handler works. The target is the CPU to the first response. Runs alternate
between the two so both share any drift; each run's request is new (a new idempotency key or
order id), and the work is checked afterwards in moto (orders stored, audit records written,
emails sent). One ``-X importtime`` run of each is summarised by top-level package.

The baseline zip is built by the same steps as ours (Lambda wheels from the lock, bytecode by
python3.13, the same zip writer) but holds no project trims: it is what a plain handler ships.

    python -m tests.benchmarks.cold_start [--runs N] [--only order-api,...] [--zips DIR]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from cfn.bundle import (
    FUNCTIONS,
    build,
    compile_bytecode,
    install_dependencies,
    runtime_python,
    write_zip,
)
from contracts.sample_data import sample
from runtime.functions import LambdaFunction as FunctionBundle
from tests.support.aws import new_stack
from tests.support.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[2]
BASELINES = Path(__file__).resolve().parent / "baselines"
TARGET_RATIO = 1.5  # CPU to the first response, ours over the baseline's
SENDER = "orders@shop.example.com"

PROBE = """
import json, sys, time
started = time.perf_counter()
cpu_started = time.process_time()
sys.path.insert(0, sys.argv[1])
import importlib
module = importlib.import_module(sys.argv[2])
imported = time.perf_counter()
class Context:
    function_name = sys.argv[2]
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
    aws_request_id = "cold-start"
    log_group_name = log_stream_name = "cold-start"
    def get_remaining_time_in_millis(self): return 29000
with open(sys.argv[3]) as file:
    event = json.load(file)
response = module.handler(event, Context())
done = time.perf_counter()
cpu_done = time.process_time()
print("RESULT " + json.dumps({
    "response": response,
    "import_ms": (imported - started) * 1000,
    "total_ms": (done - started) * 1000,
    "cpu_ms": (cpu_done - cpu_started) * 1000,
}))
"""


@dataclass(frozen=True)
class Contender:
    """One function's two zips, unpacked: ours and its baseline."""

    bundle: FunctionBundle
    ours: Path
    baseline: Path

    @property
    def modules(self) -> dict[str, tuple[Path, str]]:
        return {
            "ours": (self.ours, self.bundle.handler_module),
            "baseline": (self.baseline, baseline_module(self.bundle)),
        }


def baseline_module(bundle: FunctionBundle) -> str:
    return bundle.name.replace("-", "_")


def benchmarked() -> list[FunctionBundle]:
    """The functions with a plain boto3 baseline to compare with (the publisher has none yet)."""
    return [f for f in FUNCTIONS if (BASELINES / f"{baseline_module(f)}.py").is_file()]


def build_baselines(architecture: str, python: str, out: Path) -> None:
    """One zip per baseline handler: boto3 + Powertools as Lambda wheels, bytecode by
    python3.13, written by the bundler's own zip writer."""
    with tempfile.TemporaryDirectory(prefix="baseline-bundle-") as work:
        site = Path(work) / "site"
        install_dependencies(architecture, site, ["boto3", "aws-lambda-powertools"])
        for bundle in benchmarked():
            tree = Path(work) / bundle.name
            shutil.copytree(site, tree)
            shutil.copy(BASELINES / f"{baseline_module(bundle)}.py", tree)
            compile_bytecode(tree, python)
            write_zip(tree, out / bundle.zip_name)


def unpack(archive: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder)
    return folder


def run_once(
    python: str, task: Path, module: str, event_file: Path, env: dict[str, str], importtime: bool
) -> tuple[dict[str, Any], str]:
    args = [python, "-I", "-S", "-B", *(["-X", "importtime"] if importtime else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [*args, "-c", PROBE, str(task), module, str(event_file)],
        cwd=event_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"{module} in {task} failed:\n{result.stderr[-3000:]}")
    outcome: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    outcome["process_ms"] = wall_ms
    outcome["process_cpu_ms"] = (
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    ) * 1000
    return outcome, result.stderr


class Requests:
    """A new first request per run, so no run finds the work of an earlier one done."""

    def __init__(self, folder: Path, queue_arn: str):
        self.folder = folder
        self.queue_arn = queue_arn
        self.order_ids: list[str] = []

    def write(self, event: dict[str, Any]) -> Path:
        path = self.folder / f"{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        return path

    def post_order(self, keyed: bool = True) -> Path:
        event = sample("apigw.post_order.json")
        event["headers"]["Idempotency-Key"] = str(uuid.uuid4())
        if not keyed:  # a key adds a claim and its answer's write, which the baseline skips
            del event["headers"]["Idempotency-Key"]
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        return self.write(event)

    def order_created(self) -> Path:
        body = sample("order_created.v1.valid.json")
        body["orderId"] = str(uuid.uuid4())
        self.order_ids.append(body["orderId"])
        record = {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": uuid.uuid4().hex,
            "body": json.dumps(body),
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(int(time.time() * 1000)),
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }
        return self.write({"Records": [record]})


def check_response(name: str, response: dict[str, Any]) -> None:
    ok = (
        response.get("statusCode") == 200
        if name in ("order-api", NO_KEY)
        else response == {"batchItemFailures": []}
    )
    if not ok:
        raise SystemExit(f"{name}: the first request failed: {json.dumps(response)[:2000]}")


def importtime_by_package(stderr: str) -> dict[str, float]:
    """Self time of every imported module, summed by top-level package (ms)."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        totals[name.strip().split(".")[0]] += int(self_us) / 1000
    return dict(totals)


def environment(moto_url: str, stack: Any, function: str) -> dict[str, str]:
    names = stack.names
    queue = stack.email if function == "email-consumer" else stack.audit
    return {
        "DEAD_LETTER_QUEUE_URL": queue.dlq_url,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderPipeline",
        "ORDER_TABLE_NAME": names.orders_table,
        "AUDIT_TABLE_NAME": names.audit_table,
        "IDEMPOTENCY_TABLE_NAME": names.idempotency_table,  # the email ledger's
        "EMAIL_FROM": SENDER,
        "EMAIL_TRANSPORT": "ses",
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--only", default="", help="comma-separated function names")
    parser.add_argument("--zips", type=Path, help="our zips, already built for this machine")
    args = parser.parse_args()
    chosen = [f for f in benchmarked() if not args.only or f.name in args.only.split(",")]
    python = runtime_python()
    architecture = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    with tempfile.TemporaryDirectory(prefix="cold-start-") as work_dir:
        work = Path(work_dir)
        ours_zips = args.zips or work / "ours"
        if args.zips is None:
            print(f"building our zips ({architecture}) ...", flush=True)
            build(architecture, ours_zips, python)
        print("building the baseline zips ...", flush=True)
        (work / "baseline").mkdir()
        build_baselines(architecture, python, work / "baseline")
        contenders = [
            Contender(
                bundle,
                unpack(ours_zips / bundle.zip_name, work / "task" / "ours" / bundle.name),
                unpack(work / "baseline" / bundle.zip_name, work / "task" / "base" / bundle.name),
            )
            for bundle in chosen
        ]
        sizes = {
            (b.name, kind): (folder / b.zip_name).stat().st_size
            for b in chosen
            for kind, folder in (("ours", ours_zips), ("baseline", work / "baseline"))
        }
        (work / "events").mkdir()
        moto = MotoServer().start()
        try:
            stack = new_stack(moto.url)
            boto3.client("sesv2", endpoint_url=moto.url).create_email_identity(EmailIdentity=SENDER)
            requests = Requests(work / "events", stack.audit.arn)
            results, profiles = measure(python, contenders, requests, moto.url, stack, args.runs)
            verify(moto.url, stack, requests, chosen, args.runs)
        finally:
            moto.stop()
    return report(chosen, results, profiles, sizes, args.runs)


def measure(
    python: str,
    contenders: list[Contender],
    requests: "Requests",
    moto_url: str,
    stack: Any,
    runs: int,
) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], dict[tuple[str, str], dict[str, float]]]:
    results: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    profiles: dict[tuple[str, str], dict[str, float]] = {}

    for contender in contenders:
        function = contender.bundle.name
        env = environment(moto_url, stack, function)
        for name in variants(function):

            def event_for(name: str = name) -> Path:
                if name == "order-api":
                    return requests.post_order()
                if name == NO_KEY:
                    return requests.post_order(keyed=False)
                return requests.order_created()

            for task, module in contender.modules.values():  # warm the file cache
                outcome, _ = run_once(python, task, module, event_for(), env, False)
                check_response(name, outcome["response"])
            for _ in range(runs):
                for kind, (task, module) in contender.modules.items():
                    outcome, _ = run_once(python, task, module, event_for(), env, False)
                    check_response(name, outcome["response"])
                    results[(name, kind)].append(outcome)
            for kind, (task, module) in contender.modules.items():
                outcome, stderr = run_once(python, task, module, event_for(), env, True)
                check_response(name, outcome["response"])
                profiles[(name, kind)] = importtime_by_package(stderr)
            print(f"  {name}: done", flush=True)
    return results, profiles


NO_KEY = "order-api no key"


def variants(function: str) -> tuple[str, ...]:
    """What is measured of a function: the Order API with and without an Idempotency-Key."""
    return (function, NO_KEY) if function == "order-api" else (function,)


def verify(
    moto_url: str, stack: Any, requests: Requests, chosen: list[FunctionBundle], runs: int
) -> None:
    """The work happened: every order stored, every event audited and emailed exactly once."""
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url)
    names = {b.name for b in chosen}
    per_function = 2 * (runs + 2)  # both contenders: a warm-up, the runs, an importtime run
    if "order-api" in names:  # keyed and not
        stored = dynamodb.scan(TableName=stack.names.orders_table, Select="COUNT")["Count"]
        assert stored == 2 * per_function, f"{stored} orders stored, expected {2 * per_function}"
    if "audit-consumer" in names:
        audited = dynamodb.scan(TableName=stack.names.audit_table, Select="COUNT")["Count"]
        assert audited == per_function, f"{audited} audit records, expected {per_function}"
    if "email-consumer" in names:  # each sent email is marked in the ledger, ours and baseline's
        sent = dynamodb.scan(
            TableName=stack.names.idempotency_table,
            Select="COUNT",
            FilterExpression="#s = :sent",
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":sent": {"S": "SENT"}},
        )["Count"]
        assert sent == per_function, f"{sent} emails sent, expected {per_function}"


def report(
    chosen: list[FunctionBundle],
    results: dict[tuple[str, str], list[dict[str, Any]]],
    profiles: dict[tuple[str, str], dict[str, float]],
    sizes: dict[tuple[str, str], int],
    runs: int,
) -> int:
    def median(name: str, kind: str, key: str) -> float:
        return float(statistics.median(r[key] for r in results[(name, kind)]))

    print(
        f"\ncold start: python3.13 -I -S -B over the unpacked zip, import + first request "
        f"against moto; medians of {runs} runs"
    )
    print(
        "to the 1st response: wall time and CPU time inside the process, from before the "
        "handler's import; process: the whole process from outside, wall and CPU"
    )
    print(
        f"{'function':18s} {'':9s} {'zip':>8s} {'import':>9s} {'1st resp.':>10s} "
        f"{'its CPU':>8s} {'process':>9s} {'its CPU':>8s}"
    )
    passed = True
    names = [name for bundle in chosen for name in variants(bundle.name)]
    zip_of = {name: bundle.name for bundle in chosen for name in variants(bundle.name)}
    for name in names:
        for kind in ("ours", "baseline"):
            print(
                f"{name:18s} {kind:9s} {sizes[(zip_of[name], kind)] / 1_048_576:6.2f}MB "
                f"{median(name, kind, 'import_ms'):6.0f} ms {median(name, kind, 'total_ms'):7.0f} ms "
                f"{median(name, kind, 'cpu_ms'):5.0f} ms {median(name, kind, 'process_ms'):6.0f} ms "
                f"{median(name, kind, 'process_cpu_ms'):5.0f} ms"
            )
        ratio = median(name, "ours", "total_ms") / median(name, "baseline", "total_ms")
        cpu_ratio = median(name, "ours", "cpu_ms") / median(name, "baseline", "cpu_ms")
        process_cpu = median(name, "ours", "process_cpu_ms") / median(
            name, "baseline", "process_cpu_ms"
        )
        verdict = "PASS" if cpu_ratio <= TARGET_RATIO else "MISS"
        passed &= cpu_ratio <= TARGET_RATIO
        print(
            f"{name:18s} ours/baseline: CPU {cpu_ratio:.2f}x (target <= {TARGET_RATIO}x) "
            f"{verdict}; wall {ratio:.2f}x, process CPU {process_cpu:.2f}x"
        )
    for name in names:
        ours, base = profiles[(name, "ours")], profiles[(name, "baseline")]
        print(f"\n{name}: -X importtime self time by top-level package (ms), one run")
        print(f"  {'package':26s} {'ours':>7s} {'baseline':>9s}")
        for package in sorted(
            set(ours) | set(base), key=lambda p: -max(ours.get(p, 0), base.get(p, 0))
        )[:16]:
            print(f"  {package:26s} {ours.get(package, 0):7.1f} {base.get(package, 0):9.1f}")
        print(f"  {'(all)':26s} {sum(ours.values()):7.1f} {sum(base.values()):9.1f}")
    print(
        "\nPASS"
        if passed
        else "\nMISS: a function is slower to its first response than its baseline"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
