"""Order API handler self time per valid 2-item order, AWS calls answered in memory.

Everything of ours runs for real (Powertools decorators, routing, parsing, validation, pricing,
DynamoDB serialisation, event JSON, response, one log line, EMF flush); only the aioboto3 clients
are replaced by responders that return at once, so the figure is our own cost per request.

    python -m tests.benchmarks.api_handler [--requests N]
"""

import argparse
import io
import statistics
import sys
import time
from contextlib import redirect_stdout
from typing import Any

from api.config import ApiSettings
from api.handler import OrderApiFunction, make_handler
from api.observability import logger
from contracts.sample_data import sample
from runtime.lambda_context import LocalLambdaContext

TARGET_US = 200.0


class InMemoryDynamoDB:
    async def put_item(self, **_: Any) -> dict[str, Any]:
        return {}


class InMemorySNS:
    async def publish(self, **_: Any) -> dict[str, Any]:
        return {"MessageId": "00000000-0000-0000-0000-000000000000"}


class InMemoryClients:
    async def dynamodb(self) -> InMemoryDynamoDB:
        return InMemoryDynamoDB()

    async def sns(self) -> InMemorySNS:
        return InMemorySNS()

    async def close(self) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    settings = ApiSettings.model_validate(
        {
            "ORDER_TABLE_NAME": "bench-Orders",
        }
    )
    function = OrderApiFunction(settings, clients=InMemoryClients())  # type: ignore[arg-type]
    handler = make_handler(lambda: function)
    event = sample("apigw.post_order.json")
    context = LocalLambdaContext("order-api")
    sink = io.StringIO()
    handler_stream = logger.registered_handler
    previous = handler_stream.setStream(sink)  # type: ignore[attr-defined]
    samples_ns: list[int] = []
    try:
        with redirect_stdout(sink):
            for _ in range(500):  # warm-up: caches, first-call paths
                handler(event, context)
            for i in range(args.requests):
                started = time.perf_counter_ns()
                response = handler(event, context)
                samples_ns.append(time.perf_counter_ns() - started)
                if response["statusCode"] != 200:
                    raise SystemExit(f"unexpected status {response['statusCode']}")
                if i % 500 == 0:
                    sink.seek(0)
                    sink.truncate()
    finally:
        handler_stream.setStream(previous)  # type: ignore[attr-defined]
        function.close()
    median_us = statistics.median(samples_ns) / 1000
    p95_us = statistics.quantiles(samples_ns, n=20)[18] / 1000
    print(f"handler self time, valid 2-item order, {args.requests} requests after 500 warm-up")
    print(f"  median {median_us:.1f} us   p95 {p95_us:.1f} us   target <= {TARGET_US:.0f} us")
    print(f"  {'PASS' if median_us <= TARGET_US else 'FAIL'}")
    return 0 if median_us <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
