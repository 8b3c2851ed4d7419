"""The emulator keeps its state across restarts (``local.aws.state_file``), over real HTTP:
stopped and started again, or killed after a save, it answers as before, with in-flight
messages visible again; a save that fails is said and tried again."""

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.aws.emulator import MotoProcess, StateKeeping
from tests.support.moto_server import free_port
from tests.support.polling import eventually

REGION = "us-east-1"
SAVED_WITHIN = 30.0  # a save a second: holds on a machine 3x slower, beside other tests


class Emulator:
    """An emulator process keeping its state in ``folder``, started and stopped at will."""

    def __init__(self, folder: Path, save_every: float = 1.0):
        self.keeping = StateKeeping(
            folder / "aws.state", save_every, folder / "stream-position.json"
        )
        self.port = free_port()
        self.said: list[str] = []
        self.process: MotoProcess | None = None

    def start(self) -> "Emulator":
        self.said = []
        self.process = MotoProcess("127.0.0.1", self.port, keeping=self.keeping)
        self.process.start(on_line=self.said.append)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        """A power cut: no chance to save."""
        assert self.process is not None
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.stop()

    def client(self, service: str) -> Any:
        assert self.process is not None
        return boto3.client(service, endpoint_url=self.process.url, region_name=REGION)

    def state(self) -> dict[str, Any]:
        assert self.process is not None
        answer: dict[str, Any] = requests.get(
            f"{self.process.url}/_emulator/state", timeout=10
        ).json()
        return answer

    def all_saved(self) -> bool:
        state = self.state()
        return bool(state["saved"] == state["changes"])


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    running = Emulator(tmp_path).start()
    try:
        yield running
    finally:
        running.stop()


def _table_with_stream(dynamodb: Any) -> str:
    answer = dynamodb.create_table(
        TableName="Orders",
        KeySchema=[{"AttributeName": "OrderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "OrderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    return str(answer["TableDescription"]["LatestStreamArn"])


def _stream_records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
    return records


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_stopped_and_started_again_it_answers_as_before(emulator: Emulator) -> None:
    dynamodb, sqs, sns = (emulator.client(s) for s in ("dynamodb", "sqs", "sns"))
    streams = emulator.client("dynamodbstreams")
    stream_arn = _table_with_stream(dynamodb)
    for n in range(5):
        dynamodb.put_item(TableName="Orders", Item={"OrderId": {"S": f"o{n}"}, "N": {"N": str(n)}})
    dlq = sqs.create_queue(QueueName="Email-DLQ")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="Email",
        Attributes={
            "VisibilityTimeout": "600",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="Events")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    for n in range(6):
        sns.publish(TopicArn=topic, Message=f"m{n}")
    # One message to the dead-letter queue (received past maxReceiveCount), two in flight.
    [dead] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=0)[
        "Messages"
    ]
    in_flight = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=2)["Messages"]
    assert dead["MessageId"] not in {m["MessageId"] for m in in_flight}
    assert _counts(sqs, queue) == (3, 2)
    assert _counts(sqs, dlq) == (1, 0)
    records_before = _stream_records(streams, stream_arn)
    position = {"stream_arn": stream_arn, "shard_id": "s", "kind": "TRIM_HORIZON"}
    emulator.keeping.stream_position.write_text(json.dumps(position))  # type: ignore[union-attr]
    assert eventually(emulator.all_saved, within=SAVED_WITHIN)
    emulator.keeping.stream_position.write_text("{}")  # type: ignore[union-attr]

    emulator.stop()
    emulator.start()

    [restored] = emulator.said
    assert restored.startswith("restored: 5 items in 1 tables, 6 messages in 2 queues")
    assert "(2 in flight made visible again)" in restored
    dynamodb, sqs, sns = (emulator.client(s) for s in ("dynamodb", "sqs", "sns"))
    streams = emulator.client("dynamodbstreams")
    items = dynamodb.scan(TableName="Orders")["Items"]
    assert sorted(item["OrderId"]["S"] for item in items) == [f"o{n}" for n in range(5)]
    assert _counts(sqs, queue) == (5, 0)  # the in-flight two are visible again
    assert _counts(sqs, dlq) == (1, 0)
    assert _stream_records(streams, stream_arn) == records_before
    # The stream goes on from where it was; the subscription still delivers.
    dynamodb.put_item(TableName="Orders", Item={"OrderId": {"S": "after"}})
    after = _stream_records(streams, stream_arn)
    assert len(after) == 6
    assert int(after[-1]["dynamodb"]["SequenceNumber"]) > int(
        records_before[-1]["dynamodb"]["SequenceNumber"]
    )
    sns.publish(TopicArn=topic, Message="after")
    assert _counts(sqs, queue) == (6, 0)
    # The position is the one saved with the state, not the one written after it.
    assert json.loads(emulator.keeping.stream_position.read_text()) == position  # type: ignore[union-attr]


def test_killed_after_a_save_it_keeps_what_was_saved(emulator: Emulator) -> None:
    dynamodb = emulator.client("dynamodb")
    _table_with_stream(dynamodb)
    dynamodb.put_item(TableName="Orders", Item={"OrderId": {"S": "kept"}})
    assert eventually(emulator.all_saved, within=SAVED_WITHIN)

    emulator.kill()
    emulator.start()

    items = emulator.client("dynamodb").scan(TableName="Orders")["Items"]
    assert [item["OrderId"]["S"] for item in items] == ["kept"]


def test_reads_alone_do_not_save_again(emulator: Emulator) -> None:
    dynamodb = emulator.client("dynamodb")
    _table_with_stream(dynamodb)
    assert eventually(emulator.all_saved, within=SAVED_WITHIN)
    saved = emulator.state()["saved"]
    for _ in range(5):
        dynamodb.scan(TableName="Orders")
        dynamodb.describe_table(TableName="Orders")
    state = emulator.state()
    assert state["changes"] == state["saved"] == saved


def test_a_save_that_fails_is_said_and_tried_again(emulator: Emulator) -> None:
    folder = emulator.keeping.state.parent
    dynamodb = emulator.client("dynamodb")
    _table_with_stream(dynamodb)
    assert eventually(emulator.all_saved, within=SAVED_WITHIN)
    shutil.rmtree(folder)
    folder.write_text("a file where the state's folder was")
    dynamodb.put_item(TableName="Orders", Item={"OrderId": {"S": "o1"}})

    def failed() -> str:
        return str(emulator.state()["last_error"] or "")

    assert eventually(failed, within=SAVED_WITHIN)
    said = eventually(lambda: [line for line in emulator.said if "could not save" in line])
    assert said == [said[0]]  # once, not at every interval
    assert said[0].startswith(f"emulator: could not save its state to {emulator.keeping.state}: ")
    dynamodb.get_item(TableName="Orders", Key={"OrderId": {"S": "o1"}})  # still serving

    folder.unlink()
    folder.mkdir()
    assert eventually(emulator.all_saved, within=SAVED_WITHIN)
    assert emulator.state()["last_error"] is None
    emulator.stop()
    emulator.start()
    assert emulator.said[0].startswith("restored: 1 items in 1 tables")
