"""The emulator's bounded retention (``local.aws.retention``), in process."""

from collections.abc import Iterator

import pytest
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.s3.models import FakeBucket
from moto.sns.models import Topic, sns_backends
from moto.sqs.models import Queue

from local.aws import retention
from local.aws.retention import RecentHandles


@pytest.fixture
def installed() -> Iterator[None]:
    retention.install()
    yield
    retention.install(on=False)


def test_recent_handles_keep_the_last_ones_in_the_order_they_were_deleted() -> None:
    handles = RecentHandles(kept=3)
    handles.update(["a", "b", "c"])
    handles.add("a")  # deleted again: the newest now
    handles.add("d")
    assert ("a" in handles, "b" in handles, "c" in handles, "d" in handles) == (
        True,
        False,
        True,
        True,
    )
    assert len(handles) == 3
    handles.discard("c")
    handles.discard("never")
    assert "c" not in handles


def test_the_pipelines_models_are_not_tracked_and_the_others_still_are(installed: None) -> None:
    items_before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    Item(DynamoType({"S": "k"}), None, {"k": {"S": "k"}})
    assert len(Item.instances_tracked) == items_before  # type: ignore[attr-defined]
    buckets_before = len(FakeBucket.instances_tracked)  # type: ignore[attr-defined]
    bucket = FakeBucket("failures", "123456789012", "us-east-1")  # type: ignore[abstract]
    assert FakeBucket.instances_tracked[buckets_before:] == [bucket]  # type: ignore[attr-defined]


def test_a_topic_remembers_its_last_publishes_and_a_queue_its_last_deletes(
    installed: None,
) -> None:
    topic = Topic("t", sns_backends["123456789012"]["us-east-1"])  # type: ignore[abstract]
    for n in range(retention.SENT_KEPT + 5):
        topic.sent_notifications.append((str(n), "m", None, None, None))
    assert len(topic.sent_notifications) == retention.SENT_KEPT
    assert topic.sent_notifications[0][0] == "5"
    queue = Queue("q", "us-east-1", "123456789012")  # type: ignore[abstract]
    assert isinstance(queue.deleted_messages, RecentHandles)


def test_uninstalled_moto_is_moto_again() -> None:
    retention.install()
    retention.install(on=False)
    before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    Item(DynamoType({"S": "k"}), None, {"k": {"S": "k"}})
    assert len(Item.instances_tracked) == before + 1  # type: ignore[attr-defined]
    queue = Queue("q2", "us-east-1", "123456789012")  # type: ignore[abstract]
    assert isinstance(queue.deleted_messages, set)
