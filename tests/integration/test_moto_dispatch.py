"""The emulator answers as moto's own server does, now that it calls moto's handlers without
Flask (``local.aws.moto_dispatch``), and it counts the calls it serves.

The same raw HTTP requests go to moto's ``ThreadedMotoServer`` (Flask, unpatched) and to the
emulator process; status, headers and body must match, apart from what differs between any two
answers (request ids, checksums of bodies holding them, dates, the HTTP server's own headers).
"""

import json
import re
import uuid
from typing import Any

import requests

from local.aws.emulator import MotoProcess
from tests.support.moto_server import MotoServer

SERVER_HEADERS = {"date", "server", "connection", "content-length", "keep-alive"}
VOLATILE_HEADERS = {"x-amzn-requestid", "x-amz-crc32", "x-amz-request-id", "x-amz-id-2"}
VOLATILE_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r"|\b1\d{9}(\.\d+)?\b"  # epoch times
    r"|127\.0\.0\.1:\d+"  # the server's own address
    r"|\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:?\d\d)?"  # ISO times
    r"|<RequestId>[^<]*</RequestId>"
)


def signed(service: str) -> dict[str, str]:
    """The headers moto reads from a SigV4 signature (it does not check the signature)."""
    return {
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261127/us-east-1/{service}/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
        ),
        "X-Amz-Date": "20261127T000000Z",
    }


def json_call(service: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/",
        "headers": {
            **signed(service),
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": target,
        },
        "data": json.dumps(body),
    }


def query_call(service: str, **params: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/",
        "headers": {**signed(service), "Content-Type": "application/x-www-form-urlencoded"},
        "data": params,
    }


def answer(url: str, call: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    response = requests.request(
        call["method"], url + call["path"], headers=call["headers"], data=call["data"], timeout=30
    )
    headers = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in SERVER_HEADERS
    }
    for name in VOLATILE_HEADERS & headers.keys():
        headers[name] = "<volatile>"
    return response.status_code, headers, VOLATILE_TEXT.sub("<volatile>", response.text)


def test_every_kind_of_call_gets_moto_servers_answer(
    moto: MotoServer, emulator: MotoProcess
) -> None:
    name = f"dispatch-{uuid.uuid4().hex[:8]}"
    table = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "Id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "Id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    item = {"TableName": name, "Item": {"Id": {"S": "1"}, "Total": {"N": "0.30"}}}
    calls = [
        json_call("dynamodb", "DynamoDB_20120810.CreateTable", table),
        json_call("dynamodb", "DynamoDB_20120810.PutItem", item),
        json_call(
            "dynamodb",
            "DynamoDB_20120810.PutItem",
            item
            | {
                "ConditionExpression": "attribute_not_exists(Id)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),  # fails its condition: a 400 with the old item
        json_call(
            "dynamodb",
            "DynamoDB_20120810.UpdateItem",
            {
                "TableName": name,
                "Key": {"Id": {"S": "1"}},
                "UpdateExpression": "SET #s = :s",
                "ExpressionAttributeNames": {"#s": "Status"},
                "ExpressionAttributeValues": {":s": {"S": "SENT"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        json_call("dynamodb", "DynamoDB_20120810.GetItem", {"TableName": name, "Key": {"Id": {"S": "1"}}}),
        json_call("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "no-such-table"}),
        json_call("sqs", "AmazonSQS.CreateQueue", {"QueueName": name}),
        json_call("sqs", "AmazonSQS.GetQueueUrl", {"QueueName": "no-such-queue"}),
        query_call("sns", Action="CreateTopic", Name=name, Version="2010-03-31"),
        query_call(
            "sns",
            Action="ListSubscriptionsByTopic",
            TopicArn=f"arn:aws:sns:us-east-1:123456789012:{name}",
            Version="2010-03-31",
        ),
        query_call("sns", Action="Publish", TopicArn="arn:aws:sns:us-east-1:123456789012:nope", Message="m", Version="2010-03-31"),
        # Where Flask does more than call moto's handler, it still answers.
        {
            **json_call("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": name}),
            "method": "OPTIONS",
        },
        {
            **json_call("sqs", "AmazonSQS.ListQueues", {"QueueNamePrefix": name}),
            "headers": {**json_call("sqs", "AmazonSQS.ListQueues", {})["headers"], "Origin": "http://app.example"},
        },
        {"method": "GET", "path": "/no/such/path", "headers": signed("sqs"), "data": ""},
    ]  # fmt: skip
    for call in calls:
        assert answer(emulator.url, call) == answer(moto.url, call), call


def test_the_emulator_counts_the_calls_it_serves_by_service_and_action(
    emulator: MotoProcess,
) -> None:
    def counts() -> dict[str, int]:
        found: dict[str, int] = requests.get(f"{emulator.url}/_emulator/calls", timeout=10).json()
        return found

    before = counts()
    name = f"counted-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        answer(emulator.url, json_call("sqs", "AmazonSQS.CreateQueue", {"QueueName": name}))
    answer(emulator.url, query_call("sns", Action="ListTopics", Version="2010-03-31"))
    unsigned = {"method": "POST", "path": "/", "headers": {}, "data": "x"}
    answer(emulator.url, unsigned)
    after = counts()
    grown = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}
    assert grown == {"sqs.CreateQueue": 3, "sns.ListTopics": 1, "other": 1}
