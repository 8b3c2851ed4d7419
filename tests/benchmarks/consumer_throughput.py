"""Consumer throughput: records/s through each consumer against moto + a real SMTP server,
with Lambda's batch size 10 against the seed design's batch size 1, in the same run.

Moto runs in its own process (as ``orders up`` runs it). For each batch size a fresh stack is
loaded with the same number of real SNS-delivered events, then drained by the consumer through
the local event source (receive, invoke the real handler, delete); the figure is records
processed over wall time, median of the rounds.

    python -m tests.benchmarks.consumer_throughput [--records N] [--rounds R]
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from consumers.audit.handler import logger as audit_logger
from consumers.email.handler import logger as email_logger
from contracts.sample_data import sample
from local.aws.emulator import MotoProcess
from local.mail.smtp_sink import SmtpSink
from tests.support.aws import new_stack
from tests.support.consumers import Consumers
from tests.support.moto_server import free_port


def load(endpoint: str, topic_arn: str, records: int) -> None:
    import boto3

    sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1")
    base = sample("order_created.v1.valid.json")
    for _ in range(records):
        sns.publish(TopicArn=topic_arn, Message=json.dumps(base | {"orderId": str(uuid.uuid4())}))


def measure(endpoint: str, sink: SmtpSink, which: str, batch_size: int, records: int) -> float:
    stack = new_stack(endpoint)
    load(endpoint, stack.topic_arn, records)
    consumers = Consumers(stack, sink, endpoint, endpoint)
    try:
        started = time.perf_counter()
        done = 0
        while done < records:
            outcome = consumers.poll(which, batch_size)  # type: ignore[arg-type]
            if outcome.failed:
                raise SystemExit(f"{which}: {len(outcome.failed)} records failed")
            done += outcome.received
            if outcome.received == 0:
                raise SystemExit(f"{which}: queue ran dry at {done}/{records}")
        return records / (time.perf_counter() - started)
    finally:
        consumers.close()


def run_rounds(
    args: argparse.Namespace,
    endpoint: str,
    sink: SmtpSink,
    results: dict[tuple[str, int], list[float]],
) -> None:
    for _ in range(args.rounds):
        for which in ("email", "audit"):
            for batch_size in (10, 1):
                rate = measure(endpoint, sink, which, batch_size, args.records)
                results.setdefault((which, batch_size), []).append(rate)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    moto = MotoProcess("127.0.0.1", free_port())
    moto.start()
    sink = SmtpSink(Path(tempfile.mkdtemp(prefix="outbox-"))).start()
    results: dict[tuple[str, int], list[float]] = {}
    quiet = open(os.devnull, "w")  # noqa: SIM115 - function logs and EMF, as Lambda would ship them
    for logger in (email_logger, audit_logger):
        logger.registered_handler.setStream(quiet)  # type: ignore[attr-defined]
    try:
        with contextlib.redirect_stdout(quiet):
            run_rounds(args, moto.url, sink, results)
    finally:
        sink.stop()
        moto.stop()
        quiet.close()
    print(
        f"consumer throughput, {args.records} records per run, median of {args.rounds} rounds (records/s)"
    )
    for which in ("email", "audit"):
        ten, one = statistics.median(results[(which, 10)]), statistics.median(results[(which, 1)])
        print(f"  {which:5s}  batch 10: {ten:7.1f}   batch 1: {one:7.1f}   ({ten / one:.1f}x)")
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
