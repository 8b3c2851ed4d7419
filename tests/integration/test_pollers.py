"""The local event-source pollers against moto: long polls that see new messages, and stops
that lose nothing."""

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from local.aws.provision import Provisioned
from local.lambda_runtime.container import FunctionFailed, in_thread
from local.lambda_runtime.event_source import SqsEventSource
from local.lambda_runtime.pollers import QueuePoller
from runtime.aws import AwsClients, long_poll_config
from tests.support.aws import Boto
from tests.support.moto_server import MotoServer


class RecordingHandler:
    """A stand-in Lambda function that records what it was given (the poller is under test)."""

    def __init__(self, gate: threading.Event | None = None):
        self.bodies: list[str] = []
        self.gate = gate

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self.gate is not None:
            self.gate.wait(10)
        self.bodies += [record["body"] for record in event["Records"]]
        return {"batchItemFailures": []}


async def run_poller(
    stack: Provisioned, moto: MotoServer, handler: RecordingHandler, wait: int, during: Any
) -> None:
    clients = AwsClients(endpoint_url=moto.url, config=long_poll_config(wait))
    try:
        source = SqsEventSource(
            await clients.sqs(), stack.audit.url, stack.audit.arn, in_thread(handler), "probe", 30.0
        )
        poller = QueuePoller(source, concurrency=1, wait_seconds=wait)
        poller.start()
        await during(poller)
        await poller.stop()
    finally:
        await clients.close()


def test_a_message_sent_during_a_long_poll_is_delivered_promptly(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    handler = RecordingHandler()

    async def during(_: QueuePoller) -> None:
        await asyncio.sleep(4)  # past the default 3 s read timeout, inside the 5 s long poll
        boto.client("sqs").send_message(QueueUrl=stack.audit.url, MessageBody="late")
        deadline = time.monotonic() + 3
        # The handler runs in a worker thread: poll its state (bounded) rather than an Event.
        while not handler.bodies and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    asyncio.run(run_poller(stack, moto, handler, wait=5, during=during))
    assert handler.bodies == ["late"]


def test_stopping_waits_for_the_batch_in_flight_and_loses_nothing(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    gate = threading.Event()
    handler = RecordingHandler(gate)
    boto.client("sqs").send_message(QueueUrl=stack.audit.url, MessageBody="in flight")

    async def during(poller: QueuePoller) -> None:
        while poller.stats.batches == 0 and not handler.bodies:
            await asyncio.sleep(0.05)
            if time.monotonic() > started + 0.3:
                gate.set()  # let the function finish after stop() has been asked for

    started = time.monotonic()
    asyncio.run(run_poller(stack, moto, handler, wait=2, during=during))
    assert handler.bodies == ["in flight"]
    assert boto.receive_all(stack.audit.url) == []  # handled once and deleted, not left behind


@dataclass
class CountingSource(SqsEventSource):
    """The event source, noting each receive it makes: (WaitTimeSeconds, messages returned)."""

    receives: list[tuple[int, int]] = field(default_factory=list)

    async def _receive(self, wait_seconds: int, count: int) -> list[Any]:
        messages = await super()._receive(wait_seconds, count)
        self.receives.append((wait_seconds, len(messages)))
        return messages


async def batches_of(
    stack: Provisioned, moto: MotoServer, boto: Boto, bodies: list[str], batch_size: int
) -> tuple[RecordingHandler, list[tuple[int, int]], int]:
    """Send ``bodies`` a moment apart to a poller with a 4 s batching window; wait until all
    are handled. Returns the handler, the receives made, and the batches delivered."""
    handler = RecordingHandler()
    clients = AwsClients(endpoint_url=moto.url, config=long_poll_config(2))
    try:
        source = CountingSource(
            await clients.sqs(),
            stack.audit.url,
            stack.audit.arn,
            in_thread(handler),
            "probe",
            30.0,
            batch_size=batch_size,
        )
        poller = QueuePoller(source, concurrency=1, wait_seconds=2, window_seconds=4)
        poller.start()
        sqs = boto.client("sqs")
        for body in bodies:
            await asyncio.to_thread(sqs.send_message, QueueUrl=stack.audit.url, MessageBody=body)
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 30
        while len(handler.bodies) < len(bodies) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await poller.stop()
        return handler, source.receives, poller.stats.batches
    finally:
        await clients.close()


def after_the_first_message(receives: list[tuple[int, int]]) -> list[tuple[int, int]]:
    first = next(i for i, (_, got) in enumerate(receives) if got)
    return receives[first + 1 :]


def test_a_batching_window_fills_the_batch_with_about_one_receive_per_message(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    """Within the window the poller long-polls (a receive returns when a message arrives)
    rather than polling again every few milliseconds: each receive is billed on AWS."""
    handler, receives, batches = asyncio.run(
        batches_of(stack, moto, boto, ["a", "b", "c"], batch_size=3)
    )
    assert sorted(handler.bodies) == ["a", "b", "c"]
    assert batches == 1  # the window held the batch open until it was full
    window = after_the_first_message(receives)
    assert 1 <= len(window) <= 2, receives  # b and c, apart or together; none empty
    assert all(got for _, got in window), receives
    assert all(wait >= 1 for wait, _ in window), receives


def test_a_batching_window_ends_with_at_most_one_empty_receive(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    handler, receives, batches = asyncio.run(batches_of(stack, moto, boto, ["only"], 10))
    assert handler.bodies == ["only"]
    assert batches == 1
    window = after_the_first_message(receives)
    # One long poll for the window's rest (4 s, whole seconds), empty; then only the poller's
    # own next long polls (2 s each), none in between.
    assert sum(1 for wait, got in window if wait != 2 and not got) == 1, receives


def test_a_failed_invocation_is_counted_and_said_and_its_messages_stay(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    """The whole batch fails (the function raised): said through on_error, counted, and the
    messages stay on the queue for the next receive after their visibility timeout."""
    said: list[str] = []

    async def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise FunctionFailed("probe: RuntimeError: boom")

    async def run() -> QueuePoller:
        clients = AwsClients(endpoint_url=moto.url, config=long_poll_config(1))
        try:
            source = SqsEventSource(
                await clients.sqs(), stack.audit.url, stack.audit.arn, failing, "probe", 30.0
            )
            failed = asyncio.Event()

            def on_error(error: str) -> None:
                said.append(error)
                failed.set()

            poller = QueuePoller(source, concurrency=1, wait_seconds=1, on_error=on_error)
            poller.start()
            await asyncio.wait_for(failed.wait(), 30)
            await poller.stop()
            return poller
        finally:
            await clients.close()

    boto.client("sqs").send_message(QueueUrl=stack.audit.url, MessageBody="doomed")
    poller = asyncio.run(run())
    assert poller.stats.failed_invocations == 1
    assert poller.stats.failed == 1
    assert said[0].startswith("invocation 1 failed, its 1 messages come back")
    assert said[0].endswith("FunctionFailed: probe: RuntimeError: boom")
    assert poller.stats.last_error == said[-1]
    attributes = boto.client("sqs").get_queue_attributes(
        QueueUrl=stack.audit.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # not deleted
