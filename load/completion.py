"""After a load run: was every accepted order stored, emailed and audited, and how long did the
pipeline take? Timestamps are the pipeline's own: the order's ``CreatedAt`` (the API), the audit
record's ``PublishedAt`` (SNS delivered the event: the outbox's publish lag) and ``RecordedAt``
(the Audit consumer) and the email ledger's ``SentAt`` (the Email
consumer, ``email#<orderId>`` in the idempotency table).

Against ``orders up`` (an API on this machine) the tables are read from the emulator, and the
outbox, when there is one, must hold exactly one email per order. Against AWS an order is
looked up with ``GET /order/{id}`` and the audit and idempotency tables are read with the
standard AWS credentials.

While the queues still hold messages only their depths are read (cheap); the tables are read
when both queues are empty, or at the deadline. Reading whole tables every few seconds made
the emulator, which serves one request at a time, spend its time scanning instead of
delivering the backlog.
"""

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import requests

_SUBJECT = re.compile(rb"^Subject: Order Confirmation - Order #([0-9a-f-]{36})", re.MULTILINE)
LOOKUPS_IN_FLIGHT = 8
PEAK_WINDOW = 30.0


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def _scan(client: Any, **query: Any) -> Iterable[dict[str, Any]]:
    for page in client.get_paginator("scan").paginate(**query):
        yield from page.get("Items", [])


@dataclass
class PipelineRecords:
    """What the pipeline wrote: order id -> epoch seconds, per step."""

    created: dict[str, float] = field(default_factory=dict)
    published: dict[str, float] = field(default_factory=dict)  # SNS delivered it (PublishedAt)
    emailed: dict[str, float] = field(default_factory=dict)
    audited: dict[str, float] = field(default_factory=dict)
    outbox: Counter[str] = field(default_factory=Counter)


class PipelineReader:
    """Reads the pipeline's records of ``env``'s tables (and the outbox, if given)."""

    def __init__(
        self,
        env: str,
        aws_endpoint: str | None,
        region: str,
        api: str | None = None,
        api_key: str | None = None,
        outbox: Path | None = None,
    ):
        self._dynamodb = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name=region)
        self._sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name=region)
        self._queue_urls: list[str] = []
        self._env = env
        self._api = api  # set: stored orders are looked up through the API, not the table
        self._api_headers = {"x-api-key": api_key} if api_key else {}
        self._outbox = outbox
        self._read_files: set[str] = set()
        self.records = PipelineRecords()

    def backlog(self) -> int:
        """Messages still on (or in flight from) the email and audit queues."""
        if not self._queue_urls:
            self._queue_urls = [
                self._sqs.get_queue_url(QueueName=f"{self._env}-{name}")["QueueUrl"]
                for name in ("OrderEmailQueue", "OrderAuditQueue")
            ]
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        return sum(
            int(value)
            for url in self._queue_urls
            for value in self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)[
                "Attributes"
            ].values()
        )

    def refresh(self, accepted: set[str]) -> PipelineRecords:
        records = self.records
        if self._api is None:
            for item in _scan(
                self._dynamodb,
                TableName=f"{self._env}-Orders",
                ProjectionExpression="OrderId, CreatedAt",
            ):
                records.created[item["OrderId"]["S"]] = _epoch(item["CreatedAt"]["S"])
        else:
            self._look_up(accepted - records.created.keys())
        for item in _scan(
            self._dynamodb,
            TableName=f"{self._env}-AuditLogs",
            ProjectionExpression="OrderId, RecordedAt, PublishedAt",
        ):
            if "RecordedAt" in item:
                records.audited[item["OrderId"]["S"]] = _epoch(item["RecordedAt"]["S"])
            if "PublishedAt" in item:
                records.published[item["OrderId"]["S"]] = _epoch(item["PublishedAt"]["S"])
        for item in _scan(
            self._dynamodb,
            TableName=f"{self._env}-Idempotency",
            FilterExpression="begins_with(IdempotencyKey, :email) AND #s = :sent",
            ProjectionExpression="IdempotencyKey, SentAt",
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":email": {"S": "email#"}, ":sent": {"S": "SENT"}},
        ):
            order_id = item["IdempotencyKey"]["S"].removeprefix("email#")
            records.emailed[order_id] = float(item["SentAt"]["N"])
        self._read_outbox()
        return records

    def _look_up(self, order_ids: set[str]) -> None:
        def one(order_id: str) -> None:
            response = requests.get(
                f"{self._api}/order/{order_id}", headers=self._api_headers, timeout=30
            )
            if response.status_code == 200:
                self.records.created[order_id] = _epoch(response.json()["createdAt"])

        with ThreadPoolExecutor(LOOKUPS_IN_FLIGHT) as pool:
            list(pool.map(one, sorted(order_ids)))

    def _read_outbox(self) -> None:
        if self._outbox is None or not self._outbox.is_dir():
            return
        for path in self._outbox.glob("*.eml"):
            if path.name in self._read_files:
                continue
            self._read_files.add(path.name)
            with path.open("rb") as stream:
                found = _SUBJECT.search(stream.read(4096))
            if found:
                self.records.outbox[found.group(1).decode()] += 1


@dataclass
class Completion:
    accepted: int
    stored: int
    emailed: int
    audited: int
    in_outbox: int | None  # orders with at least one email there; None: no outbox read
    duplicate_emails: int
    to_audited: list[float]  # seconds from CreatedAt, per audited order
    to_emailed: list[float]
    # Publish lag: seconds from CreatedAt (the stream record's write) until SNS delivered the
    # event to the audit queue, per audited order that says when (the outbox's own delay).
    to_published: list[float]
    last_done_after_run: float | None  # seconds after the run ended; None: not all done
    orders_per_second: float | None  # first accepted -> last completed
    peak_orders_per_second: float | None  # completions in the busiest PEAK_WINDOW seconds

    @property
    def all_done(self) -> bool:
        return self.stored == self.emailed == self.audited == self.accepted and (
            self.in_outbox is None or self.in_outbox == self.accepted
        )

    @property
    def complete(self) -> bool:
        """Every step done, once: no order emailed twice."""
        return self.all_done and self.duplicate_emails == 0


def summarize(accepted: set[str], records: PipelineRecords, run_ended: float) -> Completion:
    stored = accepted & records.created.keys()
    emailed = accepted & records.emailed.keys()
    audited = accepted & records.audited.keys()
    done = stored & emailed & audited
    finished = {order: max(records.emailed[order], records.audited[order]) for order in done}
    complete = done == accepted
    first = min((records.created[order] for order in stored), default=None)
    return Completion(
        accepted=len(accepted),
        stored=len(stored),
        emailed=len(emailed),
        audited=len(audited),
        in_outbox=len(accepted & records.outbox.keys()) if records.outbox else None,
        duplicate_emails=sum(count - 1 for count in records.outbox.values() if count > 1),
        to_audited=[records.audited[o] - records.created[o] for o in audited & stored],
        to_emailed=[records.emailed[o] - records.created[o] for o in emailed & stored],
        to_published=[
            records.published[o] - records.created[o]
            for o in accepted & stored & records.published.keys()
        ],
        last_done_after_run=max(finished.values()) - run_ended if complete and finished else None,
        orders_per_second=(
            len(done) / (max(finished.values()) - first) if finished and first else None
        ),
        peak_orders_per_second=_peak_rate(sorted(finished.values())),
    )


def _peak_rate(moments: list[float]) -> float | None:
    """The most completions in any PEAK_WINDOW seconds, per second: the pipeline's sustained
    end-to-end rate, even while it still has a backlog."""
    if not moments or moments[-1] - moments[0] < PEAK_WINDOW:
        return None
    best, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] > PEAK_WINDOW:
            start += 1
        best = max(best, end - start + 1)
    return best / PEAK_WINDOW


def wait_for_completion(
    reader: PipelineReader,
    accepted: set[str],
    run_ended: float,
    within: float,
    say: Callable[[str], None],
) -> Completion:
    """Until every accepted order is done or ``within`` seconds after the run have passed:
    the queue depths while they hold messages, then the records (bounded polling with
    backoff); a line at most every 10 s while the figures move."""
    pause, shown, said_at = 0.5, "", 0.0
    while True:
        expired = time.time() > run_ended + within
        backlog = reader.backlog()
        if backlog and not expired:
            line = f"  completion: {backlog} messages still queued for the consumers"
        else:
            completion = summarize(accepted, reader.refresh(accepted), run_ended)
            if completion.all_done or expired:
                say(f"  completion: {'all' if completion.all_done else 'not all'} done")
                return completion
            line = (
                f"  completion: stored {completion.stored}/{completion.accepted}, "
                f"emailed {completion.emailed}, audited {completion.audited}"
            )
        if line != shown and time.monotonic() - said_at >= 10:
            say(line)
            shown, said_at = line, time.monotonic()
        time.sleep(pause)
        pause = min(pause * 1.5, 5.0)
