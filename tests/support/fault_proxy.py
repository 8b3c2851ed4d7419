"""An HTTP proxy in front of moto that can answer chosen AWS operations with faults.

moto has no fault injection, and aioboto3 cannot be patched in-process reliably, so throttling,
5xx answers and dropped connections are produced on the wire: the code under test sees exactly
what it would see from AWS. Every request is counted per operation, so tests can assert how many
attempts a retry policy made.
"""

import asyncio
import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from aiohttp import ClientError, ClientSession, web

from tests.support.moto_server import free_port

FaultKind = Literal["throttle", "server_error", "disconnect", "slow", "unprocessed"]
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class Fault:
    kind: FaultKind
    remaining: int | None  # None: every time
    delay: float = 0.0
    match: bytes | None = None  # only requests whose body contains this


def _operation(request: web.Request, body: bytes) -> str:
    target = request.headers.get("X-Amz-Target")
    if target:  # JSON protocol: "DynamoDB_20120810.PutItem", "AmazonSQS.SendMessage"
        return target.rsplit(".", 1)[-1]
    if body and request.content_type == "application/x-www-form-urlencoded":
        return parse_qs(body.decode()).get("Action", ["?"])[0]  # query protocol: SNS
    return f"{request.method} {request.path}"


def _leave_unprocessed(body: bytes) -> tuple[bytes, dict[str, Any]]:
    """A BatchWriteItem body reduced to each table's first request, and the rest: what
    DynamoDB answers as ``UnprocessedItems`` when a table's throughput is exceeded."""
    requests = json.loads(body)["RequestItems"]
    kept = {table: writes[:1] for table, writes in requests.items()}
    left = {table: writes[1:] for table, writes in requests.items() if writes[1:]}
    return json.dumps({"RequestItems": kept}).encode(), left


def _error(request: web.Request, kind: FaultKind) -> web.Response:
    status = 400 if kind == "throttle" else 500
    if request.headers.get("X-Amz-Target"):
        code = (
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            if kind == "throttle"
            else "com.amazonaws.dynamodb.v20120810#InternalServerError"
        )
        return web.Response(
            status=status,
            body=f'{{"__type": "{code}", "message": "injected {kind}"}}'.encode(),
            content_type="application/x-amz-json-1.0",
        )
    code = "Throttling" if kind == "throttle" else "InternalError"
    xml = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>injected {kind}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
    )
    return web.Response(status=status, body=xml.encode(), content_type="text/xml")


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.seen: Counter[str] = Counter()
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(
        self,
        operation: str,
        kind: FaultKind,
        times: int | None = None,
        delay: float = 0.0,
        match: str | None = None,
    ) -> None:
        """Answer ``operation`` with a fault (``times`` times, or always); with ``match``, only
        requests whose body contains that text (an order id, a table name)."""
        with self._lock:
            self._faults[operation] = Fault(kind, times, delay, match.encode() if match else None)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.seen.clear()

    def _take_fault(self, operation: str, body: bytes) -> Fault | None:
        with self._lock:
            self.seen[operation] += 1
            fault = self._faults.get(operation)
            if fault is None or (fault.match is not None and fault.match not in body):
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[operation]
            return fault

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self._take_fault(_operation(request, body), body)
        unprocessed: dict[str, Any] | None = None
        if fault is not None and fault.kind == "unprocessed":
            body, unprocessed = _leave_unprocessed(body)  # moto checks no signature
        elif fault is not None:
            if fault.kind == "disconnect":
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            else:
                return _error(request, fault.kind)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self._session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as upstream:
                payload = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
                if unprocessed is not None and upstream.status == 200:
                    answer = json.loads(payload) | {"UnprocessedItems": unprocessed}
                    payload = json.dumps(answer).encode()
                    # botocore checks the body's CRC32 only when the header is there
                    out = {k: v for k, v in out.items() if k.lower() != "x-amz-crc32"}
                return web.Response(status=upstream.status, body=payload, headers=out)
        except ClientError:  # moto went away (shutdown): answer as a gateway would
            return web.Response(status=502, text="upstream unavailable")

    async def _start(self) -> None:
        self._session = ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # In-flight requests (long polls held open by moto) must not hold up a stop.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def start(self) -> "FaultProxy":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
