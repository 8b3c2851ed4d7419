"""An HTTP front that behaves like API Gateway's REST proxy integration, for one machine.

Each request becomes a real proxy event and goes to the real Order API handler, run by one of
a pool of "containers" (each with its own event loop and clients, one request at a time, as
Lambda runs them). Like API Gateway it refuses bodies over the limit (413) and throttles the
stage with a token bucket (429 ``{"message": "Too Many Requests"}``).
"""

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from local.apigateway import proxy_event
from local.throttle import TokenBucket
from runtime.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
PAYLOAD_LIMIT_BYTES = 10 * 1024
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type,Idempotency-Key,X-Api-Key,X-Amz-Date,Authorization",
    "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
}


def _gateway_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"message": message}),
        content_type="application/json",
        headers={**CORS, "x-amzn-ErrorType": "ThrottlingException" if status == 429 else "Error"},
    )


class ApiGatewayFront:
    def __init__(
        self, containers: list[Handler], bucket: TokenBucket, function_timeout: float = 30.0
    ):
        self._idle: asyncio.Queue[Handler] = asyncio.Queue()
        for container in containers:
            self._idle.put_nowait(container)
        self._bucket = bucket
        self._timeout = function_timeout
        self._runner: web.AppRunner | None = None
        # A thread per container, of its own: in asyncio's shared default pool (6 threads on
        # 2 cores) API requests waited behind consumer batches.
        self._threads = ThreadPoolExecutor(max_workers=len(containers), thread_name_prefix="api")

    async def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        container = await self._idle.get()
        try:
            context = LocalLambdaContext("order-api", timeout_seconds=self._timeout)
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, container, event, context
            )
        finally:
            self._idle.put_nowait(container)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self._bucket.take():
            return _gateway_error(429, "Too Many Requests")
        if request.content_length is not None and request.content_length > PAYLOAD_LIMIT_BYTES:
            return _gateway_error(413, "Request Too Long")
        body = await request.content.read(PAYLOAD_LIMIT_BYTES + 1)
        if len(body) > PAYLOAD_LIMIT_BYTES:
            return _gateway_error(413, "Request Too Long")
        try:
            text: str | bytes | None = body.decode("utf-8") if body else None
        except UnicodeDecodeError:
            text = body  # binary: passed base64-encoded, as API Gateway does
        headers = {name: value for name, value in request.headers.items()}
        event = proxy_event(
            request.method,
            request.path,
            text,
            headers,
            dict(request.query) or None,
            source_ip=request.remote or "127.0.0.1",
        )
        try:
            result = await self._invoke(event)
        except Exception:
            # Lambda itself failed (not the handler's 500): API Gateway answers 502.
            return _gateway_error(502, "Internal server error")
        payload = result.get("body") or ""
        return web.Response(
            status=int(result.get("statusCode", 502)),
            body=payload.encode("utf-8"),
            headers=result.get("headers") or {},
        )

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=PAYLOAD_LIMIT_BYTES * 2)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._threads.shutdown(wait=True)
