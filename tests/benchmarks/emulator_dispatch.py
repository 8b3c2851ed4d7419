"""The emulator's cost per call as moto serves it (its Flask application, its own per-request
work) against the emulator's (moto's handlers called directly, with what moto recomputed per
request kept: ``local.aws.server.PER_REQUEST_FIXES``), in one process, alternating, so both see
the same machine.

The same WSGI environs the emulator builds for the pipeline's calls (a conditional PutItem of an
order, the email ledger's claim, whose condition carries the time, an SNS Publish that fans out
to two queues, a ReceiveMessage of up to 10 and their DeleteMessageBatch) are answered
``--calls`` times each way, in blocks of 100 that alternate between the two paths; CPU time
(``time.process_time``) per call, median over the blocks.

    python -m tests.benchmarks.emulator_dispatch [--calls 2000]
"""

import argparse
import io
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from local.aws import moto_dispatch, sqs_indexes, stream_iterators
from local.aws.server import RoutedOnce, call_wsgi, install_per_request_fixes
from tests.benchmarks.reference_loop import loop_ms

BLOCK = 100
SIGNED = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261127/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"


def environ(service: str, body: bytes, target: str = "", form: bool = False) -> dict[str, Any]:
    headers = {"HTTP_HOST": "127.0.0.1:4566", "HTTP_AUTHORIZATION": SIGNED.format(service)}
    if target:
        headers["HTTP_X_AMZ_TARGET"] = target
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "RAW_URI": "/",
        "REQUEST_URI": "/",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4566",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"
        if form
        else "application/x-amz-json-1.0",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **headers,
    }


class Paths:
    """Answers an environ through Flask (moto's server) or directly."""

    def __init__(self) -> None:
        self.app = RoutedOnce()
        self.direct = moto_dispatch.DirectDispatch(self.app)

    def flask(self, env: dict[str, Any]) -> Any:
        return call_wsgi(self.app, env)

    def straight(self, env: dict[str, Any]) -> Any:
        answer = self.direct(env)
        assert answer is not None
        return answer

    def call(self, path: Callable[[dict[str, Any]], Any], env: dict[str, Any]) -> Any:
        status, headers, body = path(env)
        if status >= 300:
            raise SystemExit(f"the call failed: {status} {body!r}")
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if "json" not in content_type:
            return {}  # SNS answers in XML; only the JSON answers are read
        return json.loads(body) if body else {}


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def setup(paths: Paths) -> dict[str, str]:
    table = f"bench-{uuid.uuid4().hex[:8]}"
    paths.call(
        paths.flask,
        environ(
            "dynamodb",
            json_body(
                {
                    "TableName": table,
                    "KeySchema": [{"AttributeName": "OrderId", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "OrderId", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
                }
            ),
            "DynamoDB_20120810.CreateTable",
        ),
    )
    queues = []
    for name in ("email", "audit"):
        answer = paths.call(
            paths.flask,
            environ("sqs", json_body({"QueueName": f"{table}-{name}"}), "AmazonSQS.CreateQueue"),
        )
        queues.append(answer["QueueUrl"])
    topic = paths.flask(
        environ("sns", f"Action=CreateTopic&Name={table}&Version=2010-03-31".encode(), form=True)
    )
    topic_arn = topic[2].decode().split("<TopicArn>")[1].split("</TopicArn>")[0]
    for url in queues:
        arn = "arn:aws:sqs:us-east-1:123456789012:" + url.rsplit("/", 1)[1]
        paths.flask(
            environ(
                "sns",
                f"Action=Subscribe&TopicArn={topic_arn}&Protocol=sqs&Endpoint={arn}"
                f"&Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true"
                f"&Version=2010-03-31".encode(),
                form=True,
            )
        )
    return {"table": table, "topic": topic_arn, "queue": queues[0], "other": queues[1]}


def put_item(names: dict[str, str]) -> dict[str, Any]:
    item = {
        "OrderId": {"S": str(uuid.uuid4())},
        "CustomerName": {"S": "John Doe"},
        "CustomerEmail": {"S": "john.doe@example.com"},
        "TotalAmount": {"N": "109.97"},
        "CreatedAt": {"S": "2026-11-27T00:00:00.000Z"},
    }
    return environ(
        "dynamodb",
        json_body(
            {
                "TableName": names["table"],
                "Item": item,
                "ConditionExpression": "attribute_not_exists(OrderId)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        ),
        "DynamoDB_20120810.PutItem",
    )


def claim(names: dict[str, str]) -> dict[str, Any]:
    """``consumers.email.ledger.SentEmailLedger.claim``'s PutItem."""
    now = time.time()
    return environ(
        "dynamodb",
        json_body(
            {
                "TableName": names["table"],
                "Item": {
                    "OrderId": {"S": f"email#{uuid.uuid4()}"},
                    "Status": {"S": "SENDING"},
                    "LockedUntil": {"N": f"{now + 30:.3f}"},
                    "ExpiresAt": {"N": str(int(now) + 86_400)},
                },
                "ConditionExpression": "attribute_not_exists(OrderId) OR "
                "(#s = :sending AND LockedUntil < :now)",
                "ExpressionAttributeNames": {"#s": "Status"},
                "ExpressionAttributeValues": {
                    ":sending": {"S": "SENDING"},
                    ":now": {"N": f"{now:.3f}"},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        ),
        "DynamoDB_20120810.PutItem",
    )


def publish(names: dict[str, str]) -> dict[str, Any]:
    body = (
        f"Action=Publish&TopicArn={names['topic']}&Message=%7B%22orderId%22%3A%221%22%7D"
        "&MessageAttributes.entry.1.Name=eventType&MessageAttributes.entry.1.Value.DataType=String"
        "&MessageAttributes.entry.1.Value.StringValue=OrderCreated&Version=2010-03-31"
    )
    return environ("sns", body.encode(), form=True)


ACTIONS = (
    ("dynamodb.PutItem (order)", put_item),
    ("dynamodb.PutItem (claim)", claim),
    ("sns.Publish", publish),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    sqs_indexes.install()
    stream_iterators.install()
    paths = Paths()
    names = setup(paths)
    loops = [loop_ms()]
    blocks: dict[tuple[str, str], list[float]] = {}
    for _ in range(max(args.calls // BLOCK, 1)):
        for way, path in (("moto", paths.flask), ("emulator", paths.straight)):
            install_per_request_fixes(on=way == "emulator")
            for action, make in ACTIONS:
                envs = [make(names) for _ in range(BLOCK)]
                started = time.process_time()
                for env in envs:
                    paths.call(path, env)
                spent = (time.process_time() - started) * 1000 / BLOCK
                blocks.setdefault((action, way), []).append(spent)
            # Receive what was published, 10 at a time, and delete it in batches.
            receipts = []
            started = time.process_time()
            for _ in range(BLOCK // 10):
                got = paths.call(
                    path,
                    environ(
                        "sqs",
                        json_body({"QueueUrl": names["queue"], "MaxNumberOfMessages": 10}),
                        "AmazonSQS.ReceiveMessage",
                    ),
                )
                receipts.append(got.get("Messages", []))
            blocks.setdefault(("sqs.ReceiveMessage", way), []).append(
                (time.process_time() - started) * 1000 / (BLOCK // 10)
            )
            started = time.process_time()
            for messages in receipts:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                paths.call(
                    path,
                    environ(
                        "sqs",
                        json_body({"QueueUrl": names["queue"], "Entries": entries}),
                        "AmazonSQS.DeleteMessageBatch",
                    ),
                )
            blocks.setdefault(("sqs.DeleteMessageBatch", way), []).append(
                (time.process_time() - started) * 1000 / (BLOCK // 10)
            )
    loops.append(loop_ms())
    print(f"reference loop: {loops[0]:.0f} ms before, {loops[1]:.0f} ms after")
    print(f"{'action':<30}{'moto ms':>9}{'emulator ms':>13}{'emulator/moto':>15}")
    for action in (
        *(name for name, _ in ACTIONS),
        "sqs.ReceiveMessage",
        "sqs.DeleteMessageBatch",
    ):
        old = statistics.median(blocks[(action, "moto")])
        new = statistics.median(blocks[(action, "emulator")])
        print(f"{action:<30}{old:>9.2f}{new:>13.2f}{new / old:>15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
