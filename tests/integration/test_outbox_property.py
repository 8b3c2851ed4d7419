"""The outbox's promise as a stateful property (SPEC §9, §11): whatever interleaving of orders,
SNS failures, publisher crashes and stream-reader restarts happens, once SNS is back and the
reader has caught up, every stored order was published at least once.

Real components: the Order API handler and the publisher handler against a moto server over
HTTP, SNS failures injected on the wire by the fault proxy in front of the publisher, and the
stream read through ``local.lambda_runtime.stream_source`` with its position file. A crash is the publisher
raising after or before its work (its container dying mid-batch or at once), which Lambda's
mapping and the local reader answer alike: the same batch again.
"""

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from local.aws.provision import Provisioned
from local.lambda_runtime.stream_source import PositionFile, StreamEventSource
from runtime.aws import AwsClients
from runtime.loop import LoopRunner
from tests.integration.test_order_api import spec_order
from tests.support.api import Api, settings_for
from tests.support.aws import Boto, new_stack
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer
from tests.support.outbox import Outbox


class OutboxMachine(RuleBasedStateMachine):
    moto: MotoServer
    faults: FaultProxy

    @initialize()
    def start(self) -> None:
        self.faults.clear()
        self.stack: Provisioned = new_stack(self.moto.url)
        self.boto = Boto(self.moto.url)
        self.api = Api(settings_for(self.stack), self.moto.url)
        self.folder = tempfile.TemporaryDirectory(prefix="outbox-property-")
        self.position = Path(self.folder.name) / "position.json"
        self.relay = Outbox(self.stack, self.faults.url, self.moto.url, position=self.position)
        self.crash: str | None = None  # "before" or "after" the publisher's work, once
        self.stored: set[str] = set()
        self.seen: set[str] = set()
        self._source: StreamEventSource | None = None
        self._clients: AwsClients | None = None
        self.loop = LoopRunner()  # the reader's clients live on it, as in its process

    async def _poll(self) -> None:
        if self._source is None:
            self._clients = AwsClients(endpoint_url=self.moto.url)
            self._source = StreamEventSource(
                await self._clients.dynamodbstreams(),
                self.stack.orders_stream_arn,
                self._invoke,
                "order-publisher",
                30,
                PositionFile(self.position),
                batch_size=7,  # small, so that batches split the orders
            )
        await self._source.poll_once()

    async def _invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        crash, self.crash = self.crash, None
        if crash == "before":
            raise RuntimeError("the publisher's container died before publishing")
        result = await self.relay._invoke(event, context)
        if crash == "after":
            raise RuntimeError("the publisher's container died after publishing")
        return result

    @rule(count=st.integers(min_value=1, max_value=4))
    def orders(self, count: int) -> None:
        for _ in range(count):
            response = self.api.post(spec_order())
            assert response.status == 200
            self.stored.add(response.json["orderId"])

    @rule()
    def sns_down(self) -> None:
        self.faults.inject("PublishBatch", "server_error")

    @rule()
    def sns_up(self) -> None:
        self.faults.clear()

    @rule(when=st.sampled_from(["before", "after"]))
    def publisher_crashes_next(self, when: str) -> None:
        self.crash = when

    @rule()
    def poll(self) -> None:
        self.loop.run(self._poll())

    @rule()
    def reader_restarts(self) -> None:
        """A new reader (a new process): only its position file carries over."""
        if self._clients is not None:
            self.loop.run(self._clients.close())
        self._source = self._clients = None

    @invariant()
    def nothing_is_published_that_was_not_stored(self) -> None:
        for queue in (self.stack.email.url,):
            for message in self.boto.receive_all(queue):
                self.seen.add(json.loads(message["Body"])["orderId"])
        assert self.seen <= self.stored

    def teardown(self) -> None:
        try:
            self.faults.clear()
            self.crash = None
            self.relay.drain()  # SNS back, nothing crashing: the reader catches up
            for message in self.boto.receive_all(self.stack.email.url):
                self.seen.add(json.loads(message["Body"])["orderId"])
            missing = self.stored - self.seen
            assert not missing, f"{len(missing)} stored orders never published"
        finally:
            self.reader_restarts()
            self.loop.close()
            self.relay.close()
            self.api.close()
            self.folder.cleanup()


def test_every_stored_order_is_published_at_least_once(
    moto: MotoServer, fault_proxy: FaultProxy
) -> None:
    OutboxMachine.moto = moto
    OutboxMachine.faults = fault_proxy
    run_state_machine_as_test(
        OutboxMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
