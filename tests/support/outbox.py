"""The outbox in tests: the Orders table's stream, read as Lambda's mapping reads it, feeding
the real order publisher handler (in this process, its AWS calls over HTTP to moto)."""

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from api.publisher_function import OrderPublisherFunction, PublisherSettings, make_handler
from local.aws.provision import Provisioned
from local.lambda_runtime.container import in_thread
from local.lambda_runtime.stream_source import PositionFile, StreamBatch, StreamEventSource
from tests.support.aws import aws_clients


def publisher_settings(stack: Provisioned) -> PublisherSettings:
    return PublisherSettings.model_validate(
        {"ORDER_TOPIC_ARN": stack.topic_arn, "POISON_QUEUE_URL": stack.outbox_poison_url}
    )


class Outbox:
    """One publisher 'container' (AWS calls to ``publisher_url``) and the stream reader (to
    ``stream_url``), with its position in a file of its own."""

    def __init__(
        self,
        stack: Provisioned,
        publisher_url: str,
        stream_url: str | None = None,
        position: Path | None = None,
        batch_size: int = 100,
    ):
        self.function = OrderPublisherFunction(
            publisher_settings(stack), clients=aws_clients(publisher_url)
        )
        self.handler = make_handler(lambda: self.function)
        self.stack = stack
        self.stream_url = stream_url or publisher_url
        self._folder = tempfile.TemporaryDirectory(prefix="outbox-")
        self.position = position or Path(self._folder.name) / "position.json"
        self.batch_size = batch_size
        self.batches: list[StreamBatch] = []
        self.results: list[dict[str, Any]] = []

    async def _invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        result = await in_thread(self.handler)(event, context)
        self.results.append(result)
        return result

    def drain(self, max_polls: int = 100) -> int:
        """Poll until the stream has nothing new (or a batch fails); returns the records
        delivered to the publisher."""

        async def run() -> int:
            clients = aws_clients(self.stream_url)
            try:
                source = StreamEventSource(
                    client=await clients.dynamodbstreams(),
                    stream_arn=self.stack.orders_stream_arn,
                    invoke=self._invoke,
                    function_name="order-publisher",
                    function_timeout=30,
                    position_file=PositionFile(self.position),
                    batch_size=self.batch_size,
                )
                delivered = 0
                for _ in range(max_polls):
                    batch = await source.poll_once()
                    self.batches.append(batch)
                    delivered += batch.delivered
                    if batch.error or batch.failed or not batch.records:
                        break
                return delivered
            finally:
                await clients.close()

        return asyncio.run(run())

    def close(self) -> None:
        self.function.close()
        self._folder.cleanup()
