"""The local event-source pollers against moto: long polls that see new messages, and stops
that lose nothing."""

import asyncio
import threading
import time
from typing import Any

from local.aws.provision import Provisioned
from local.lambda_runtime.container import in_thread
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
