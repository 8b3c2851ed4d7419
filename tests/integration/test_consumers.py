"""Email and Audit consumers against a real moto server and a real SMTP server (SPEC §5, §6;
properties 5-7, 16-18). Messages are the real ones SNS delivered to the queues."""

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from consumers.dead_letters import DeadLetterQueue
from contracts.sample_data import sample
from local.aws.provision import Provisioned
from local.mail.smtp_sink import SmtpSink
from tests.support.aws import Boto
from tests.support.consumers import Consumers, on_dead_letters
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer


def new_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = sample("order_created.v1.valid.json")
    return event | {"orderId": str(uuid.uuid4())} | changes


def published(boto: Boto, stack: Provisioned, count: int) -> list[dict[str, Any]]:
    """``count`` new events, each published to the topic."""
    events = [new_event() for _ in range(count)]
    for event in events:
        publish(boto, stack, event)
    return events


def publish(boto: Boto, stack: Provisioned, event: dict[str, Any]) -> None:
    boto.client("sns").publish(
        TopicArn=stack.topic_arn,
        Message=json.dumps(event),
        MessageAttributes={"eventType": {"DataType": "String", "StringValue": "ORDER_CREATED"}},
    )


def audit_items(boto: Boto, stack: Provisioned, order_id: str) -> list[dict[str, Any]]:
    return list(
        boto.client("dynamodb").query(
            TableName=stack.names.audit_table,
            IndexName="OrderIdIndex",
            KeyConditionExpression="OrderId = :o",
            ExpressionAttributeValues={":o": {"S": order_id}},
        )["Items"]
    )


def body_of(message: EmailMessage, subtype: str) -> str:
    body = message.get_body((subtype,))
    assert body is not None, f"no {subtype} part"
    return str(body.get_content())


def queue_depth(boto: Boto, url: str) -> int:
    values = boto.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(values["ApproximateNumberOfMessages"]) + int(
        values["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "outbox").start()
    yield sink
    sink.stop()


@pytest.fixture
def consumers(
    stack: Provisioned, smtp: SmtpSink, faults: FaultProxy, moto: MotoServer
) -> Iterator[Consumers]:
    pipeline = Consumers(stack, smtp, faults.url, moto.url)
    yield pipeline
    pipeline.close()


def test_a_published_event_is_emailed_and_audited(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned
) -> None:
    event = new_event()
    publish(boto, stack, event)

    email = consumers.poll("email")
    audit = consumers.poll("audit")

    assert (email.received, email.failed, audit.received, audit.failed) == (1, [], 1, [])
    [message] = smtp.messages()
    assert message["Subject"] == f"Order Confirmation - Order #{event['orderId']}"
    assert message["To"].addresses[0].addr_spec == "john.doe@example.com"
    assert message["From"] == "orders@shop.example.com"
    assert message["Message-ID"] == f"<order-{event['orderId']}@shop.example.com>"
    text = body_of(message, "plain")
    html = body_of(message, "html")
    for part in (text, html):
        for expected in (
            "John Doe",
            "Widget A",
            "Widget B",
            "29.99",
            "59.98",
            "49.99",
            "109.97",
            event["orderId"],
            "2026-11-25T02:22:57.123Z",
        ):
            assert expected in part, expected

    [item] = audit_items(boto, stack, event["orderId"])
    assert item["AuditId"] == {"S": f"{event['orderId']}#ORDER_CREATED"}
    assert item["EventType"] == {"S": "ORDER_CREATED"}
    assert item["Timestamp"] == {"S": "2026-11-25T02:22:57.123Z"}
    recorded = datetime.fromisoformat(item["RecordedAt"]["S"])
    assert abs(recorded - datetime.now(UTC)) < timedelta(minutes=1)
    assert item["OrderDetails"]["M"] == {
        "customerId": {"S": "CUST-12345"},
        "customerName": {"S": "John Doe"},
        "customerEmail": {"S": "john.doe@example.com"},
        "itemCount": {"N": "2"},
        "totalAmount": {"N": "109.97"},
    }
    assert queue_depth(boto, stack.email.url) == queue_depth(boto, stack.audit.url) == 0


def test_customer_data_is_escaped_in_html_and_non_ascii_is_kept(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned
) -> None:
    event = new_event(customerName='<script>alert("x")</script> Zoë Ağaoğlu')
    event["items"][0]["productName"] = 'Widget "A" & <b>bold</b>'
    publish(boto, stack, event)
    consumers.poll("email")

    [message] = smtp.messages()
    html = body_of(message, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Zoë Ağaoğlu" in html
    assert "Widget &#34;A&#34; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert '<script>alert("x")</script> Zoë Ağaoğlu' in body_of(message, "plain")
    assert message["To"].addresses[0].display_name == '<script>alert("x")</script> Zoë Ağaoğlu'


def test_a_batch_with_one_failing_record_reports_exactly_that_record(
    consumers: Consumers, boto: Boto, stack: Provisioned, faults: FaultProxy, smtp: SmtpSink
) -> None:
    events = published(boto, stack, 3)
    faults.inject(
        "PutItem", "server_error", match=f"{events[1]['orderId']}#ORDER_CREATED"
    )  # its audit write only
    smtp.handler.refuse_recipient = "jane@example.com"
    jane = new_event(customerEmail="jane@example.com")
    publish(boto, stack, jane)

    audit = consumers.poll("audit")
    email = consumers.poll("email")

    assert audit.received == email.received == 4
    assert len(audit.failed) == len(email.failed) == 1
    assert [audit_items(boto, stack, e["orderId"]) != [] for e in events] == [True, False, True]
    assert len(smtp.messages()) == 3
    # the failed ones are still on their queues (invisible until their visibility timeout)
    assert queue_depth(boto, stack.audit.url) == queue_depth(boto, stack.email.url) == 1


def test_records_of_a_batch_run_concurrently_up_to_the_bound(
    stack: Provisioned, smtp: SmtpSink, faults: FaultProxy, moto: MotoServer, boto: Boto
) -> None:
    pipeline = Consumers(
        stack, smtp, faults.url, moto.url, email_overrides={"MAX_CONCURRENCY": "3"}
    )
    try:
        smtp.handler.delay = 0.2
        for _ in range(10):
            publish(boto, stack, new_event())
        outcome = pipeline.poll("email")
    finally:
        pipeline.close()
    assert outcome.received == 10
    assert outcome.failed == []
    assert smtp.handler.max_in_flight == 3


def test_two_invocations_reuse_the_containers_loop_and_clients(
    consumers: Consumers, boto: Boto, stack: Provisioned
) -> None:
    publish(boto, stack, new_event())
    consumers.poll("audit")
    loop, client = consumers.audit._runner.loop, consumers.audit.clients._clients["dynamodb"]
    publish(boto, stack, new_event())
    second = consumers.poll("audit")
    assert second.received == 1
    assert second.failed == []
    assert consumers.audit._runner.loop is loop
    assert not loop.is_closed()
    assert consumers.audit.clients._clients["dynamodb"] is client


def test_a_redelivered_message_sends_one_email_and_writes_one_record(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned
) -> None:
    event = new_event()
    sqs = boto.client("sqs")
    for url in (stack.email.url, stack.audit.url):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
        for _ in range(2):  # at-least-once delivery: the same message twice
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))

    # Both copies may land in one batch: the second then meets the first's claim, fails, and
    # is skipped as already sent when it comes back.
    deadline, pause = time.monotonic() + 20, 0.1
    while (
        queue_depth(boto, stack.email.url) + queue_depth(boto, stack.audit.url)
        and time.monotonic() < deadline
    ):
        consumers.drain("email")
        consumers.drain("audit")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)

    assert queue_depth(boto, stack.email.url) == queue_depth(boto, stack.audit.url) == 0
    assert len(smtp.messages()) == 1
    assert len(audit_items(boto, stack, event["orderId"])) == 1
    sent = boto.client("dynamodb").get_item(
        TableName=stack.names.idempotency_table,
        Key={"IdempotencyKey": {"S": f"email#{event['orderId']}"}},
        ConsistentRead=True,
    )["Item"]
    assert sent["Status"] == {"S": "SENT"}  # the claim, replaced: no lease left on it
    assert sent.keys() == {"IdempotencyKey", "Status", "SentAt", "MessageId", "ExpiresAt"}
    assert sent["MessageId"]["S"] == smtp.messages()[0]["Message-ID"]


@pytest.mark.parametrize("case", sample("order_created.v1.invalid.json"), ids=lambda c: c["name"])
def test_a_poison_message_goes_to_the_dlq_on_first_receive(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned, case: dict[str, Any]
) -> None:
    body = case.get("raw") or json.dumps(case["event"])
    sqs = boto.client("sqs")
    for url in (stack.email.url, stack.audit.url):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    email, audit = consumers.poll("email"), consumers.poll("audit")

    assert (email.failed, audit.failed) == ([], [])
    assert smtp.messages() == []
    for queue in (stack.email, stack.audit):
        assert queue_depth(boto, queue.url) == 0
        [dead] = boto.receive_all(queue.dlq_url, expect=1)
        assert dead["Body"] == body
        assert dead["Attributes"]["ApproximateReceiveCount"] == "1"
        assert (
            "not a valid OrderCreated event"
            in dead["MessageAttributes"]["deadLetterReason"]["StringValue"]
        )


def test_smtp_refusing_fails_the_record_until_the_dlq_then_a_redrive_delivers_once(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned
) -> None:
    boto.client("sqs").set_queue_attributes(
        QueueUrl=stack.email.url, Attributes={"VisibilityTimeout": "1"}
    )
    smtp.refuse()
    event = new_event()
    publish(boto, stack, event)

    failures = 0
    deadline = time.monotonic() + 30
    pause = 0.1
    while queue_depth(boto, stack.email.dlq_url) == 0 and time.monotonic() < deadline:
        outcome = consumers.poll("email")
        failures += len(outcome.failed)
        if not outcome.received:
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    assert failures == 3  # maxReceiveCount: the 4th receive moves it to the DLQ
    assert queue_depth(boto, stack.email.dlq_url) == 1
    assert smtp.messages() == []

    smtp.refuse(None)

    async def operate(dlq: DeadLetterQueue) -> tuple[int, int, str]:
        listed = await dlq.list()
        result = await dlq.redrive()
        return len(listed), result.moved, listed[0].body

    listed, moved, body = on_dead_letters(boto.endpoint_url, stack.email, operate)
    assert (listed, moved) == (1, 1)
    assert json.loads(body)["orderId"] == event["orderId"]
    assert queue_depth(boto, stack.email.dlq_url) == 0
    consumers.drain("email")
    assert len(smtp.messages()) == 1
    consumers.drain("email")
    assert len(smtp.messages()) == 1


def test_smtp_unreachable_fails_the_record(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned
) -> None:
    smtp.stop()
    publish(boto, stack, new_event())
    outcome = consumers.poll("email")
    assert outcome.received == 1
    assert len(outcome.failed) == 1


def test_with_smtp_down_audit_records_are_still_written(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned
) -> None:
    smtp.stop()
    events = [new_event() for _ in range(3)]
    for event in events:
        publish(boto, stack, event)
    assert len(consumers.poll("email").failed) == 3
    assert consumers.poll("audit").failed == []
    assert all(audit_items(boto, stack, e["orderId"]) for e in events)


def test_with_the_audit_table_failing_emails_are_still_sent(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned, faults: FaultProxy
) -> None:
    faults.inject("PutItem", "server_error", match=stack.names.audit_table)
    events = [new_event() for _ in range(3)]
    for event in events:
        publish(boto, stack, event)
    assert len(consumers.poll("audit").failed) == 3
    assert consumers.poll("email").failed == []
    assert len(smtp.messages()) == 3


def test_dead_letter_list_does_not_consume(
    consumers: Consumers, boto: Boto, stack: Provisioned
) -> None:
    sqs = boto.client("sqs")
    for n in range(12):
        sqs.send_message(QueueUrl=stack.audit.dlq_url, MessageBody=f"dead {n}")

    async def twice(dlq: DeadLetterQueue) -> tuple[int, int, int]:
        first, second = await dlq.list(), await dlq.list(limit=5)
        return len(first), len(second), await dlq.depth()

    assert on_dead_letters(boto.endpoint_url, stack.audit, twice) == (12, 5, 12)


def sent_records(boto: Boto, stack: Provisioned, events: list[dict[str, Any]]) -> list[str]:
    """Each event's ledger status, read consistently."""
    dynamodb = boto.client("dynamodb")
    return [
        dynamodb.get_item(
            TableName=stack.names.idempotency_table,
            Key={"IdempotencyKey": {"S": f"email#{event['orderId']}"}},
            ConsistentRead=True,
        )["Item"]["Status"]["S"]
        for event in events
    ]


def test_a_batchs_confirmations_are_marked_sent_in_one_request(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned, faults: FaultProxy
) -> None:
    events = published(boto, stack, 4)
    faults.clear()
    outcome = consumers.poll("email")
    assert (outcome.received, outcome.failed) == (4, [])
    assert len(smtp.messages()) == 4
    assert sent_records(boto, stack, events) == ["SENT"] * 4
    assert (faults.seen["PutItem"], faults.seen["BatchWriteItem"]) == (4, 1)  # 4 claims, 1 mark


def test_marks_dynamodb_leaves_unprocessed_are_written_again(
    consumers: Consumers, smtp: SmtpSink, boto: Boto, stack: Provisioned, faults: FaultProxy
) -> None:
    """DynamoDB writes part of a batch when a table's throughput is exceeded; moto never
    does, so the proxy leaves all but the first of each request unprocessed, twice."""
    events = published(boto, stack, 3)
    faults.clear()
    faults.inject("BatchWriteItem", "unprocessed", times=2)
    outcome = consumers.poll("email")
    assert (outcome.received, outcome.failed) == (3, [])
    assert sent_records(boto, stack, events) == ["SENT"] * 3
    assert faults.seen["BatchWriteItem"] == 3  # 1 written, then 1 more, then the last
    assert len(smtp.messages()) == 3


def test_marks_that_cannot_be_written_fail_no_record_and_send_nothing_twice(
    consumers: Consumers,
    smtp: SmtpSink,
    boto: Boto,
    stack: Provisioned,
    faults: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The emails went out: failing their records would only bring them back to be sent
    again once the claims lapse. They succeed, and the lost marks are logged."""
    events = published(boto, stack, 2)
    faults.inject("BatchWriteItem", "server_error")
    outcome = consumers.poll("email")
    assert (outcome.received, outcome.failed) == (2, [])
    assert len(smtp.messages()) == 2
    assert queue_depth(boto, stack.email.url) == 0
    assert sent_records(boto, stack, events) == ["SENDING"] * 2  # the claims, to lapse
    [logged] = [r for r in caplog.records if "sent but not marked SENT" in r.getMessage()]
    assert sorted(logged.__dict__["orderIds"]) == sorted(event["orderId"] for event in events)
