"""The order publisher (the outbox) against a real moto server over HTTP: the Orders table's
stream, read as Lambda's event-source mapping reads it, through the real handler to SNS and
both queues (SPEC §4, §9; property 5)."""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from api.order_items import order_from_item
from contracts.events import OrderCreated
from local.aws.emulator import MotoProcess
from local.aws.provision import Provisioned
from local.lambda_runtime.stream_source import PositionFile, StreamEventSource
from runtime.aws import AwsClients
from tests.integration.test_order_api import spec_order
from tests.support.api import Api, settings_for
from tests.support.aws import Boto, new_stack
from tests.support.commands import run
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer, free_port
from tests.support.outbox import Outbox


def post_orders(api: Api, count: int) -> list[str]:
    ids = []
    for index in range(count):
        response = api.post(spec_order() | {"customerId": f"CUST-{index}"})
        assert response.status == 200
        ids.append(response.json["orderId"])
    return ids


def queued_order_ids(boto: Boto, queue_url: str, expect: int) -> list[str]:
    return [json.loads(m["Body"])["orderId"] for m in boto.receive_all(queue_url, expect=expect)]


@pytest.fixture
def relay(stack: Provisioned, faults: FaultProxy, moto: MotoServer) -> Any:
    """The publisher's AWS calls pass the fault proxy; the stream is read from moto directly."""
    outbox = Outbox(stack, publisher_url=faults.url, stream_url=moto.url)
    yield outbox
    outbox.close()


def test_every_stored_order_becomes_its_event_on_both_queues_ten_to_a_publish(
    api: Api, boto: Boto, stack: Provisioned, relay: Outbox, faults: FaultProxy
) -> None:
    ids = post_orders(api, 25)
    faults.clear()

    assert relay.drain() == 25

    assert faults.seen["PublishBatch"] == 3
    assert faults.seen["Publish"] == 0
    stored = {
        item["OrderId"]["S"]: order_from_item(item) for item in boto.scan(stack.names.orders_table)
    }
    for queue in (stack.email.url, stack.audit.url):
        messages = boto.receive_all(queue, expect=25)
        assert sorted(json.loads(m["Body"])["orderId"] for m in messages) == sorted(ids)
        for message in messages:
            event = OrderCreated.model_validate_json(message["Body"])
            assert message["Body"] == OrderCreated.from_order(
                stored[event.order_id]
            ).model_dump_json(by_alias=True)
            attributes = message["MessageAttributes"]
            assert attributes["eventType"]["StringValue"] == "ORDER_CREATED"
            assert attributes["schemaVersion"] == {"StringValue": "1", "DataType": "Number"}
    assert relay.drain() == 0  # nothing twice


def test_a_failed_publish_names_its_records_and_they_come_again(
    api: Api, boto: Boto, stack: Provisioned, relay: Outbox, faults: FaultProxy
) -> None:
    ids = post_orders(api, 25)
    k = 13  # in the second PublishBatch of the batch
    faults.inject("PublishBatch", "server_error", match=ids[k])

    relay.drain()

    [result] = relay.results
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    records = {item["OrderId"]["S"] for item in boto.scan(stack.names.orders_table)}
    assert len(records) == 25
    assert len(failed) == 10  # the request that carried k, retried 4 times, then reported
    assert faults.seen["PublishBatch"] == 2 + 4
    published_first = set(queued_order_ids(boto, stack.audit.url, expect=15))
    assert ids[k] not in published_first
    assert len(published_first) == 15

    faults.clear()
    relay.drain()  # from the lowest failed record on: the failed ten and the five after them

    again = queued_order_ids(boto, stack.audit.url, expect=15)
    assert set(again) | published_first == set(ids)
    assert ids[k] in again


def test_an_item_that_is_not_an_order_goes_to_the_poison_queue_and_the_rest_flow(
    api: Api, boto: Boto, stack: Provisioned, relay: Outbox
) -> None:
    first = post_orders(api, 1)
    boto.client("dynamodb").put_item(
        TableName=stack.names.orders_table,
        Item={"OrderId": {"S": "hand-made"}, "Note": {"S": "<script>not an order</script>"}},
    )
    last = post_orders(api, 1)

    assert relay.drain() == 3

    assert relay.results[0] == {"batchItemFailures": []}
    assert sorted(queued_order_ids(boto, stack.email.url, expect=2)) == sorted(first + last)
    [poison] = boto.receive_all(stack.outbox_poison_url, expect=1)
    assert (
        "CustomerName is missing" in poison["MessageAttributes"]["deadLetterReason"]["StringValue"]
    )
    record = json.loads(poison["Body"])
    assert record["dynamodb"]["Keys"] == {"OrderId": {"S": "hand-made"}}
    assert relay.drain() == 0


def test_changes_to_stored_orders_are_not_published_again(
    api: Api, boto: Boto, stack: Provisioned, relay: Outbox
) -> None:
    [order_id] = post_orders(api, 1)
    assert relay.drain() == 1
    boto.client("dynamodb").update_item(
        TableName=stack.names.orders_table,
        Key={"OrderId": {"S": order_id}},
        UpdateExpression="SET Note = :n",
        ExpressionAttributeValues={":n": {"S": "edited"}},
    )

    assert relay.drain() == 0
    assert relay.batches[-1].records == 0  # the MODIFY was read and passed by, not delivered
    assert queued_order_ids(boto, stack.email.url, expect=1) == [order_id]


def test_a_new_reader_resumes_at_the_saved_position(
    api: Api, boto: Boto, stack: Provisioned, moto: MotoServer, tmp_path: Path
) -> None:
    position = tmp_path / "position.json"
    first_ids = post_orders(api, 3)
    first = Outbox(stack, moto.url, position=position)
    try:
        assert first.drain() == 3
    finally:
        first.close()
    later_ids = post_orders(api, 2)

    second = Outbox(stack, moto.url, position=position)
    try:
        assert second.drain() == 2  # neither a gap nor a repeat
    finally:
        second.close()
    assert sorted(queued_order_ids(boto, stack.audit.url, expect=5)) == sorted(
        first_ids + later_ids
    )


def test_a_position_of_another_stream_is_not_used(tmp_path: Path, stack: Provisioned) -> None:
    file = PositionFile(tmp_path / "position.json")
    file.path.write_text('{"stream_arn": "arn:other", "shard_id": "s", "kind": "TRIM_HORIZON"}')
    assert file.load(stack.orders_stream_arn) is None
    file.path.write_text("{not json")
    assert file.load(stack.orders_stream_arn) is None


def test_a_failed_invocation_gets_the_same_batch_again(
    api: Api, boto: Boto, stack: Provisioned, moto: MotoServer, tmp_path: Path
) -> None:
    ids = post_orders(api, 4)
    calls: list[list[str]] = []
    relay = Outbox(stack, moto.url)

    async def crash_first(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append([r["dynamodb"]["Keys"]["OrderId"]["S"] for r in event["Records"]])
        if len(calls) == 1:
            raise RuntimeError("the container died")
        return await relay._invoke(event, context)

    async def run() -> None:
        clients = AwsClients(endpoint_url=moto.url)
        try:
            source = StreamEventSource(
                await clients.dynamodbstreams(),
                stack.orders_stream_arn,
                crash_first,
                "order-publisher",
                30,
                PositionFile(tmp_path / "p.json"),
            )
            assert (await source.poll_once()).error == "RuntimeError: the container died"
            assert (await source.poll_once()).delivered == 4
        finally:
            await clients.close()

    try:
        asyncio.run(run())
    finally:
        relay.close()
    assert calls[0] == calls[1] == ids
    assert sorted(queued_order_ids(boto, stack.email.url, expect=4)) == sorted(ids)


def test_the_emulator_bounds_shard_iterators_and_an_expired_one_is_recovered(
    tmp_path: Path,
) -> None:
    """Against the emulator's own moto (``local.aws.stream_iterators``): an unknown iterator is
    ExpiredIteratorException, not a 500, and the reader renews it from its position."""
    emulator = MotoProcess("127.0.0.1", free_port())
    emulator.start()
    try:
        stack = new_stack(emulator.url)
        streams = Boto(emulator.url).client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=stack.orders_stream_arn)["StreamDescription"][
            "Shards"
        ][0]["ShardId"]

        def iterator() -> str:
            return str(
                streams.get_shard_iterator(
                    StreamArn=stack.orders_stream_arn, ShardId=shard, ShardIteratorType="LATEST"
                )["ShardIterator"]
            )

        oldest = iterator()
        assert streams.get_records(ShardIterator=oldest)["Records"] == []
        for _ in range(1000):
            iterator()
        with pytest.raises(streams.exceptions.ExpiredIteratorException):
            streams.get_records(ShardIterator=oldest)

        api = Api(settings_for(stack), emulator.url)
        try:
            ids = post_orders(api, 2)
        finally:
            api.close()
        relay = Outbox(stack, emulator.url, position=tmp_path / "p.json")
        try:
            assert relay.drain() == 2
        finally:
            relay.close()
        assert sorted(queued_order_ids(Boto(emulator.url), stack.email.url, expect=2)) == sorted(
            ids
        )
    finally:
        emulator.stop()


def test_republish_publishes_stored_orders_again_and_skips_what_is_not_an_order(
    api: Api, boto: Boto, stack: Provisioned, moto: MotoServer
) -> None:
    old = post_orders(api, 12)
    boto.client("dynamodb").put_item(
        TableName=stack.names.orders_table, Item={"OrderId": {"S": "hand-made"}}
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": ""}

    everything = run(
        sys.executable, "-m", "local.cli", "republish", "--aws", moto.url, "--env",
        stack.names.env, env=env,
    )  # fmt: skip

    assert everything.returncode == 0, everything.stderr
    assert "republished 12 orders; 1 items skipped (not orders)" in everything.stdout
    assert "skipped: item 'hand-made' is not an order item" in everything.stdout
    assert sorted(queued_order_ids(boto, stack.email.url, expect=12)) == sorted(old)

    [newest] = post_orders(api, 1)
    since = api.get(newest).json["createdAt"]
    recent = run(
        sys.executable, "-m", "local.cli", "republish", "--aws", moto.url, "--env",
        stack.names.env, "--since", since, env=env,
    )  # fmt: skip
    assert "republished 1 orders" in recent.stdout, recent.stderr
    assert queued_order_ids(boto, stack.audit.url, expect=13)[-1] == newest


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "yesterday"], "is not an ISO 8601 time"),
        (["--since", "2026-11-27T09:00:00"], "has no time zone"),
        (["--since", "x" * 5000], "is not an ISO 8601 time"),
        (["--env", "dev; rm -rf /"], "is not an environment name"),
        (["--aws", "file:///etc/passwd"], "--aws"),
    ],
)
def test_republish_refuses_bad_arguments_in_one_line(arguments: list[str], message: str) -> None:
    result = run(sys.executable, "-m", "local.cli", "republish", *arguments)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_republish_without_the_topic_says_so(moto: MotoServer) -> None:
    result = run(
        sys.executable, "-m", "local.cli", "republish", "--aws", moto.url, "--env", "nothing-here",
        env={**os.environ, "AWS_ENDPOINT_URL": ""},
    )  # fmt: skip
    assert result.returncode == 1
    assert "orders republish: no topic named nothing-here-OrderEvents" in result.stderr
