"""The usage meter's count of a BatchWriteItem, read against moto's own tables in process
(the meter runs inside the emulator's process and reads them there)."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws.usage_meter import UsageMeter, item_size, stored_size

UA = "aiobotocore/2.25.1 app/email-consumer"
BIG = {"K": {"S": "big"}, "V": {"S": "x" * 2000}}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("Ledger", "Other"):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "K", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "K", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        client.put_item(TableName="Ledger", Item=BIG)
        yield client


def metered(client: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """One BatchWriteItem, counted as the emulator counts it: before, the call, after."""
    meter = UsageMeter()
    body = json.dumps(request).encode()
    before = meter.before("dynamodb", "BatchWriteItem", "us-east-1", body)
    client.batch_write_item(**request)
    meter.after("dynamodb", "BatchWriteItem", 200, body, b"{}", before, UA)
    return meter.as_json()


def test_each_write_of_a_batch_is_billed_as_that_write_alone_in_its_tables_row(
    dynamodb: Any,
) -> None:
    rows = metered(
        dynamodb,
        {
            "RequestItems": {
                "Ledger": [
                    {"PutRequest": {"Item": {"K": {"S": "big"}, "V": {"S": "small now"}}}},
                    {"PutRequest": {"Item": {"K": {"S": "new"}}}},
                    {"DeleteRequest": {"Key": {"K": {"S": "absent"}}}},
                ],
                "Other": [{"PutRequest": {"Item": {"K": {"S": "one"}}}}],
            }
        },
    )
    by_table = {row["resource"]: row for row in rows}
    assert {row["call"] for row in rows} == {"dynamodb.BatchWriteItem"}
    ledger, other = by_table["Ledger"], by_table["Other"]
    # The replaced 2 KB item: 2 units (the larger side); the new item 1; a delete of nothing 1.
    assert (ledger["requests"], ledger["write_units"]) == (1, 4)
    replaced = item_size({"K": {"S": "big"}, "V": {"S": "small now"}}) - item_size(BIG)
    assert ledger["stored_bytes"] == replaced + stored_size({"K": {"S": "new"}})
    assert (other["requests"], other["write_units"]) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"RequestItems": 7}',
        b'{"RequestItems": {"Nope": [{"PutRequest": {}}]}}',
    ],
)
def test_a_batch_the_meter_cannot_read_is_still_counted_as_a_request(body: bytes) -> None:
    with mock_aws():
        meter = UsageMeter()
        before = meter.before("dynamodb", "BatchWriteItem", "us-east-1", body)
        meter.after("dynamodb", "BatchWriteItem", 400, body, b"{}", before, UA)
    [row] = meter.as_json()
    assert (row["call"], row["requests"], row["write_units"]) == ("dynamodb.BatchWriteItem", 1, 0)


def test_hostile_writes_in_a_batch_on_a_known_table_are_skipped_not_raised(dynamodb: Any) -> None:
    body = json.dumps(
        {
            "RequestItems": {
                "Ledger": [
                    {"DeleteRequest": "x"},
                    "y",
                    {"PutRequest": {"Item": 3}},
                    {"PutRequest": {"Item": {"K": {"S": "ok"}}}},
                ]
            }
        }
    ).encode()
    meter = UsageMeter()
    before = meter.before("dynamodb", "BatchWriteItem", "us-east-1", body)
    meter.after("dynamodb", "BatchWriteItem", 400, body, b"{}", before, UA)  # moto refuses it
    [row] = meter.as_json()
    assert (row["resource"], row["requests"], row["write_units"]) == ("Ledger", 1, 0)
