"""The emulator's SQS (``local.aws.sqs_indexes`` inside ``local.aws.server``) behaves as moto's
own server does: the same calls, over HTTP, against both, with the same answers.

Both are real servers: moto's ``ThreadedMotoServer`` (the session's, unpatched) and the
emulator process ``orders up`` runs. Receipt handles and message ids are random in both, so
messages are compared by body and attributes, handles by the position they were received in.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.aws.emulator import MotoProcess
from tests.support.moto_server import MotoServer
from tests.support.polling import eventually

COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


@dataclass
class Side:
    """One server, with the receipt handles it gave out, in order."""

    sqs: Any
    handles: list[str] = field(default_factory=list)

    def queue(self, name: str, **attributes: str) -> str:
        url: str = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url

    def arn(self, url: str) -> str:
        arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return arn


@dataclass
class Twin:
    stock: Side
    ours: Side

    def both(self, action: Callable[[Side], Any]) -> Any:
        """``action`` on each server; the answers must be equal, and that answer is returned."""
        answers = [outcome(action, side) for side in (self.stock, self.ours)]
        assert answers[1] == answers[0], f"emulator {answers[1]!r} != moto {answers[0]!r}"
        return answers[0]


def outcome(action: Callable[[Side], Any], side: Side) -> Any:
    """What ``action`` returned (a call's bare response metadata as "ok"), or its error code."""
    try:
        result = action(side)
    except ClientError as exc:
        return ("error", exc.response["Error"]["Code"])
    if isinstance(result, dict) and set(result) == {"ResponseMetadata"}:
        return "ok"
    return result


@pytest.fixture
def twin(moto: MotoServer, emulator: MotoProcess) -> Twin:
    def sqs(url: str) -> Any:
        return boto3.client("sqs", endpoint_url=url, region_name="us-east-1")

    return Twin(Side(sqs(moto.url)), Side(sqs(emulator.url)))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def receive(
    side: Side, url: str, count: int = 10, visibility: int | None = None, wait: int = 0
) -> list[tuple[str, str]]:
    """(body, receive count) of each message received; their handles go to ``side.handles``."""
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    messages = side.sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        **extra,
    ).get("Messages", [])
    side.handles += [m["ReceiptHandle"] for m in messages]
    return [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in messages]


def counts(side: Side, url: str) -> dict[str, str]:
    got: dict[str, str] = side.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)[
        "Attributes"
    ]
    return got


def test_attributes_and_counts_match(twin: Twin) -> None:
    name = unique("attrs")

    def scenario(side: Side) -> Any:
        url = side.queue(name, VisibilityTimeout="30")
        for n in range(5):
            side.sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        side.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)
        received = receive(side, url, count=2)
        attributes = side.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        for moment in ("CreatedTimestamp", "LastModifiedTimestamp"):
            attributes.pop(moment)
        return received, attributes

    received, attributes = twin.both(scenario)
    assert received == [("m0", "1"), ("m1", "1")]
    assert [attributes[name] for name in COUNTS] == ["3", "2", "1"]


def test_messages_come_in_send_order_batch_after_batch(twin: Twin) -> None:
    name = unique("order")

    def scenario(side: Side) -> Any:
        url = side.queue(name)
        side.sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": f"m{n:02d}"} for n in range(10)],
        )
        for n in range(10, 25):
            side.sqs.send_message(QueueUrl=url, MessageBody=f"m{n:02d}")
        return [receive(side, url, count=10, visibility=30) for _ in range(3)]

    batches = twin.both(scenario)
    assert [len(batch) for batch in batches] == [10, 10, 5]


def test_a_message_comes_back_when_its_visibility_timeout_runs_out(twin: Twin) -> None:
    name = unique("visibility")
    urls = twin.both(lambda side: side.queue(name) and None)
    assert urls is None

    def url(side: Side) -> str:
        found: str = side.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return found

    twin.both(lambda side: side.sqs.send_message(QueueUrl=url(side), MessageBody="once") and None)
    assert twin.both(lambda side: receive(side, url(side), visibility=1)) == [("once", "1")]
    assert twin.both(lambda side: receive(side, url(side))) == []
    for side in (twin.stock, twin.ours):
        again = eventually(lambda side=side: receive(side, url(side)), within=5)  # type: ignore[misc]
        assert again == [("once", "2")]


def test_change_visibility_and_unknown_handles(twin: Twin) -> None:
    name = unique("change")

    def scenario(side: Side) -> Any:
        url = side.queue(name, VisibilityTimeout="30")
        side.sqs.send_message(QueueUrl=url, MessageBody="x")
        first = receive(side, url)
        hidden = counts(side, url)
        side.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=side.handles[-1], VisibilityTimeout=0
        )
        time.sleep(0.01)  # moto: visible once the clock has passed "now + 0"
        second = receive(side, url)
        unknown = outcome(
            lambda s: s.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle="not-a-handle", VisibilityTimeout=5
            ),
            side,
        )
        return first, hidden, second, unknown

    first, hidden, second, unknown = twin.both(scenario)
    assert (first, second) == ([("x", "1")], [("x", "2")])
    assert hidden["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert unknown == ("error", "ReceiptHandleIsInvalid")


def test_redrive_to_the_dead_letter_queue_after_three_receives(twin: Twin) -> None:
    name = unique("redrive")

    def scenario(side: Side) -> Any:
        dlq = side.queue(f"{name}-dlq")
        url = side.queue(
            name,
            RedrivePolicy=f'{{"deadLetterTargetArn": "{side.arn(dlq)}", "maxReceiveCount": 3}}',
        )
        side.sqs.send_message(QueueUrl=url, MessageBody="poison")
        side.sqs.send_message(QueueUrl=url, MessageBody="fine")
        rounds = [receive(side, url, visibility=0) for _ in range(4)]
        return rounds, counts(side, url), receive(side, dlq, visibility=30)

    rounds, source, dead = twin.both(scenario)
    assert rounds[:3] == [[("poison", str(n)), ("fine", str(n))] for n in (1, 2, 3)]
    assert rounds[3] == []
    assert source["ApproximateNumberOfMessages"] == "0"
    assert [body for body, _ in dead] == ["poison", "fine"]


def test_deleting_unknown_repeated_and_batched_handles(twin: Twin) -> None:
    name = unique("delete")

    def scenario(side: Side) -> Any:
        url = side.queue(name, VisibilityTimeout="30")
        for body in ("a", "b", "c"):
            side.sqs.send_message(QueueUrl=url, MessageBody=body)
        receive(side, url)
        first, again = (
            outcome(lambda s: s.sqs.delete_message(QueueUrl=url, ReceiptHandle=s.handles[0]), side)
            for _ in range(2)
        )
        unknown = outcome(
            lambda s: s.sqs.delete_message(QueueUrl=url, ReceiptHandle="never-given"), side
        )
        batch = side.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "known", "ReceiptHandle": side.handles[1]},
                {"Id": "unknown", "ReceiptHandle": "never-given-either"},
            ],
        )
        summary = (
            [entry["Id"] for entry in batch.get("Successful", [])],
            [(entry["Id"], entry["Code"]) for entry in batch.get("Failed", [])],
        )
        return first, again, unknown, summary, counts(side, url)

    first, again, unknown, summary, left = twin.both(scenario)
    assert first == again == "ok"
    assert unknown == ("error", "ReceiptHandleIsInvalid")
    assert summary == (["known"], [("unknown", "ReceiptHandleIsInvalid")])
    assert left["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_a_long_poll_returns_a_message_sent_while_it_waits(twin: Twin) -> None:
    import threading

    name = unique("longpoll")
    for side in (twin.stock, twin.ours):
        url = side.queue(name)
        timer = threading.Timer(
            0.5, lambda side=side, url=url: side.sqs.send_message(QueueUrl=url, MessageBody="late")
        )
        started = time.monotonic()
        timer.start()
        got = receive(side, url, wait=5)
        timer.join()
        assert got == [("late", "1")]
        assert time.monotonic() - started < 3


def test_purge_empties_the_queue_and_forgets_its_handles(twin: Twin) -> None:
    name = unique("purge")

    def scenario(side: Side) -> Any:
        url = side.queue(name, VisibilityTimeout="30")
        for body in ("a", "b"):
            side.sqs.send_message(QueueUrl=url, MessageBody=body)
        receive(side, url, count=1)
        side.sqs.purge_queue(QueueUrl=url)
        stale = outcome(
            lambda s: s.sqs.delete_message(QueueUrl=url, ReceiptHandle=s.handles[-1]), side
        )
        side.sqs.send_message(QueueUrl=url, MessageBody="after")
        return counts(side, url), stale, receive(side, url)

    left, stale, after = twin.both(scenario)
    assert left["ApproximateNumberOfMessages"] == "1"
    assert stale == ("error", "ReceiptHandleIsInvalid")
    assert after == [("after", "1")]


# Any sequence of calls, against both: the same answers at every step.
OPERATIONS = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 3)),
    st.tuples(st.just("send_delayed"), st.just(0)),
    st.tuples(st.just("receive"), st.integers(1, 10), st.sampled_from([0, 30])),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("delete_unknown")),
    st.tuples(st.just("hide"), st.integers(0, 50)),
    st.tuples(st.just("counts")),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=25))
def test_any_sequence_of_calls_gets_the_same_answers(
    twin: Twin, operations: list[tuple[Any, ...]]
) -> None:
    name = unique("seq")
    for side in (twin.stock, twin.ours):
        side.handles.clear()
        dlq = side.queue(f"{name}-dlq")
        side.queue(
            name,
            VisibilityTimeout="30",
            RedrivePolicy=f'{{"deadLetterTargetArn": "{side.arn(dlq)}", "maxReceiveCount": 3}}',
        )

    def url(side: Side, suffix: str = "") -> str:
        found: str = side.sqs.get_queue_url(QueueName=name + suffix)["QueueUrl"]
        return found

    def step(operation: tuple[Any, ...]) -> Callable[[Side], Any]:
        kind = operation[0]
        if kind == "send":
            return lambda s: s.sqs.send_message(QueueUrl=url(s), MessageBody=f"m{operation[1]}")[
                "MD5OfMessageBody"
            ]
        if kind == "send_delayed":
            return lambda s: s.sqs.send_message(
                QueueUrl=url(s), MessageBody="delayed", DelaySeconds=30
            )["MD5OfMessageBody"]
        if kind == "receive":
            return lambda s: receive(s, url(s), count=operation[1], visibility=operation[2])
        if kind == "delete":
            return lambda s: (
                s.handles
                and s.sqs.delete_message(
                    QueueUrl=url(s), ReceiptHandle=s.handles[operation[1] % len(s.handles)]
                )
            )
        if kind == "delete_unknown":
            return lambda s: s.sqs.delete_message(QueueUrl=url(s), ReceiptHandle="unknown")
        if kind == "hide":
            return lambda s: (
                s.handles
                and s.sqs.change_message_visibility(
                    QueueUrl=url(s),
                    ReceiptHandle=s.handles[operation[1] % len(s.handles)],
                    VisibilityTimeout=30,
                )
            )
        return lambda s: (counts(s, url(s)), counts(s, url(s, "-dlq")))

    for operation in operations:
        action = step(operation)
        twin.both(lambda side: outcome(action, side))  # noqa: B023 - used at once
