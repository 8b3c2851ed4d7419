"""Lambda's DynamoDB-stream event-source mapping, for one machine: the outbox's reader.

Reads the Orders table's stream in order and hands the order publisher batches shaped as
Lambda shapes them, with the mapping's settings: only ``INSERT`` records (its filter), up to
``batch_size`` a batch, partial batch failures by sequence number. After a batch:

- every record done: the position moves past the batch;
- some records failed (``batchItemFailures``): the position moves to the lowest failed one, so
  that record and every one after it come again (published ones are published again, which the
  consumers deduplicate; none is ever skipped);
- the invocation failed (raised, timed out, its container died): the same batch comes again,
  after a pause that doubles up to ``MAX_RETRY_PAUSE``.

The position is written to a file (atomically) after every batch, so a restarted poller resumes
where the last one stopped. It names its stream: a position of another stream (the emulator
started afresh) is not used. An expired or unknown iterator is replaced by one from the
position, never fatal. Idle, the stream is read four times a second; after a full batch, at once.
"""

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local.lambda_runtime.container import Invoke
from runtime.aws import error_code
from runtime.lambda_context import LocalLambdaContext

IDLE_POLL_SECONDS = 0.25
MAX_RETRY_PAUSE = 8.0
# Answers after which a new iterator is made from the position.
_RENEW = {"ExpiredIteratorException", "TrimmedDataAccessException", "ResourceNotFoundException"}
INSERT_ONLY = "INSERT"


@dataclass(frozen=True)
class Position:
    """Where reading resumes: ``AT`` or ``AFTER`` a sequence number, or the shard's start."""

    stream_arn: str
    shard_id: str
    kind: str  # TRIM_HORIZON, AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER
    sequence_number: str | None = None


class PositionFile:
    """The stream position on disk, replaced atomically; unreadable means "from the start"."""

    def __init__(self, path: Path):
        self.path = path

    def load(self, stream_arn: str) -> Position | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            position = Position(**data)
        except (OSError, ValueError, TypeError):
            return None
        return position if position.stream_arn == stream_arn else None

    def save(self, position: Position) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(position.__dict__), encoding="utf-8")
        os.replace(temporary, self.path)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it (JSON: the creation time as epoch seconds)."""
    dynamodb = dict(record.get("dynamodb") or {})
    if "ApproximateCreationDateTime" in dynamodb:
        dynamodb["ApproximateCreationDateTime"] = _epoch(dynamodb["ApproximateCreationDateTime"])
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", stream_arn.split(":")[3]),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


@dataclass
class StreamBatch:
    records: int = 0  # read from the stream
    delivered: int = 0  # handed to the function (the INSERTs)
    failed: list[str] = field(default_factory=list)
    error: str | None = None
    full: bool = False


class StreamEventSource:
    def __init__(
        self,
        client: Any,
        stream_arn: str,
        invoke: Invoke,
        function_name: str,
        function_timeout: float,
        position_file: PositionFile,
        batch_size: int = 100,
    ):
        self._client = client
        self.stream_arn = stream_arn
        self._invoke = invoke
        self.function_name = function_name
        self._timeout = function_timeout
        self._positions = position_file
        self.batch_size = batch_size
        self._position: Position | None = None
        self._iterator: str | None = None

    async def _start_position(self) -> Position:
        saved = self._positions.load(self.stream_arn)
        if saved is not None:
            return saved
        described = await self._client.describe_stream(StreamArn=self.stream_arn)
        shards = described["StreamDescription"]["Shards"]
        if not shards:
            raise RuntimeError(f"the stream {self.stream_arn} has no shard yet")
        return Position(self.stream_arn, shards[0]["ShardId"], "TRIM_HORIZON")

    async def _new_iterator(self) -> str:
        if self._position is None:
            self._position = await self._start_position()
        position = self._position
        request: dict[str, Any] = {
            "StreamArn": position.stream_arn,
            "ShardId": position.shard_id,
            "ShardIteratorType": position.kind,
        }
        if position.sequence_number is not None:
            request["SequenceNumber"] = position.sequence_number
        iterator: str = (await self._client.get_shard_iterator(**request))["ShardIterator"]
        return iterator

    def _move(self, kind: str, sequence_number: str) -> None:
        """Only after a batch was read, so from a known position."""
        if self._position is not None:
            self._position = Position(
                self._position.stream_arn, self._position.shard_id, kind, sequence_number
            )
            self._positions.save(self._position)

    async def poll_once(self) -> StreamBatch:
        """Read one batch and deliver it; the position follows the outcome (module docstring)."""
        if self._iterator is None:
            self._iterator = await self._new_iterator()
        try:
            answer = await self._client.get_records(
                ShardIterator=self._iterator, Limit=self.batch_size
            )
        except ClientError as exc:
            if error_code(exc) in _RENEW:
                self._iterator = None  # renewed from the position on the next poll
                return StreamBatch()
            raise
        records: list[dict[str, Any]] = answer.get("Records", [])
        batch = StreamBatch(records=len(records), full=len(records) >= self.batch_size)
        if not records:
            self._iterator = answer.get("NextShardIterator") or None
            return batch
        inserts = [
            lambda_record(record, self.stream_arn)
            for record in records
            if record.get("eventName") == INSERT_ONLY
        ]
        batch.delivered = len(inserts)
        if inserts:
            context = LocalLambdaContext(self.function_name, timeout_seconds=self._timeout)
            try:
                result = await self._invoke({"Records": inserts}, context)
                batch.failed = [
                    str(item["itemIdentifier"]) for item in result.get("batchItemFailures") or []
                ]
            except Exception as exc:  # the whole invocation failed: the same batch again
                batch.error = f"{type(exc).__name__}: {exc}"
                self._iterator = None
                return batch
        if batch.failed:
            lowest = min(batch.failed, key=int)
            self._move("AT_SEQUENCE_NUMBER", lowest)
            self._iterator = None
            return batch
        self._move("AFTER_SEQUENCE_NUMBER", records[-1]["dynamodb"]["SequenceNumber"])
        self._iterator = answer.get("NextShardIterator") or None
        return batch


@dataclass
class StreamPollerStats:
    batches: int = 0
    delivered: int = 0
    failed_batches: int = 0
    last_error: str | None = None


class StreamPoller:
    """Drives a ``StreamEventSource``: at once after a full batch, four times a second idle, a
    growing pause after a failure. Stopping lets the batch in the function finish."""

    def __init__(
        self,
        source: StreamEventSource,
        on_error: Callable[[str], None] | None = None,
        idle_seconds: float = IDLE_POLL_SECONDS,
    ):
        self.source = source
        self.stats = StreamPollerStats()
        self._on_error = on_error
        self._idle = idle_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _report(self, error: str) -> None:
        self.stats.failed_batches += 1
        self.stats.last_error = error
        if self._on_error is not None:
            self._on_error(error)

    async def _run(self) -> None:
        retry_pause = self._idle
        while not self._stopping.is_set():
            try:
                batch = await self.source.poll_once()
            except Exception as exc:  # the emulator went away, a network blip: try again
                batch = StreamBatch(error=f"{type(exc).__name__}: {exc}")
            if batch.records:
                self.stats.batches += 1
                self.stats.delivered += batch.delivered
            if batch.error is not None or batch.failed:
                self._report(batch.error or f"{len(batch.failed)} record(s) to publish again")
                await self._pause(retry_pause)
                retry_pause = min(retry_pause * 2, MAX_RETRY_PAUSE)
                continue
            retry_pause = self._idle
            if not batch.full:
                await self._pause(self._idle)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
