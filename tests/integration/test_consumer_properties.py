"""Any event the committed ``OrderCreated`` schema allows is processed by both consumers."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from contracts.schemas import load
from local.aws.provision import Provisioned
from local.mail.smtp_sink import SmtpSink
from tests.support.aws import Boto, new_stack
from tests.support.consumers import Consumers
from tests.support.moto_server import MotoServer
from tests.support.schema_strategy import from_schema

EVENTS = from_schema(load("order_created"))


@pytest.fixture(scope="module")
def module_stack(moto: MotoServer) -> Provisioned:
    return new_stack(moto.url)


@pytest.fixture(scope="module")
def module_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    sink = SmtpSink(Path(tmp_path_factory.mktemp("outbox"))).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def module_consumers(
    module_stack: Provisioned, module_smtp: SmtpSink, moto: MotoServer
) -> Iterator[Consumers]:
    pipeline = Consumers(module_stack, module_smtp, moto.url, moto.url)
    yield pipeline
    pipeline.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(event=EVENTS)
def test_any_schema_valid_event_is_emailed_and_audited(
    event: dict[str, Any],
    module_consumers: Consumers,
    module_stack: Provisioned,
    module_smtp: SmtpSink,
    moto: MotoServer,
) -> None:
    boto = Boto(moto.url)
    sqs = boto.client("sqs")
    before = len(module_smtp.messages())
    body = json.dumps(event)
    for queue in (module_stack.email, module_stack.audit):
        sqs.send_message(QueueUrl=queue.url, MessageBody=body)

    email, audit = module_consumers.poll("email"), module_consumers.poll("audit")

    assert (email.received, email.failed) == (1, [])
    assert (audit.received, audit.failed) == (1, [])
    for queue in (module_stack.email, module_stack.audit):
        assert boto.receive_all(queue.dlq_url) == [], "a schema-valid event was treated as poison"
    subjects = [message["Subject"] for message in module_smtp.messages()]
    # Exactly one confirmation per order id, also when hypothesis draws an id twice.
    assert subjects.count(f"Order Confirmation - Order #{event['orderId']}") == 1
    assert len(subjects) in (before, before + 1)
    # One record per event: keyed by (order id, event type) and the event's own timestamp, so a
    # redelivery is a no-op, while a different event claiming the same order id is recorded too.
    items = boto.client("dynamodb").query(
        TableName=module_stack.names.audit_table,
        IndexName="OrderIdIndex",
        KeyConditionExpression="OrderId = :o AND #t = :t",
        ExpressionAttributeNames={"#t": "Timestamp"},
        ExpressionAttributeValues={":o": {"S": event["orderId"]}, ":t": {"S": event["createdAt"]}},
    )["Items"]
    assert len(items) == 1
