"""An HTTP front that behaves like API Gateway's REST proxy integration, for one machine.

Each request becomes a real proxy event and goes to the real Order API handler in one of a pool
of containers (``local.lambda_runtime.container``: a process each, one request at a time, as Lambda
runs them). Like API Gateway it refuses bodies over the limit (413) and throttles the
stage with a token bucket, taken as each request arrives (429 ``{"message": "Too Many
Requests"}``, ``x-amzn-ErrorType: ThrottlingException``).

No request queues without bound: when every container stays busy for ``max_wait`` seconds,
the request is refused at once with the same 429 body and ``x-amzn-ErrorType:
TooManyRequestsException``. That is Lambda refusing an invocation when the function is at its
concurrency limit; behind a REST API on AWS, API Gateway answers such a throttle through its
``INTEGRATION_FAILURE`` gateway response (a 5xx unless the API maps it), and here it is a 429
so that a client backs off and retries, as from the stage throttle. Overload is then a fast
answer, never a 30 s timeout.
"""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from local.gateway.access_log import AccessLog
from local.gateway.proxy_event import proxy_event
from local.gateway.throttle import TokenBucket
from local.lambda_runtime.container import FunctionFailed, Invoke
from runtime.lambda_context import LocalLambdaContext

log = logging.getLogger(__name__)
PAYLOAD_LIMIT_BYTES = 10 * 1024
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type,Idempotency-Key,X-Api-Key,X-Amz-Date,Authorization",
    "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
}


STAGE_THROTTLED = "ThrottlingException"
CONCURRENCY_THROTTLED = "TooManyRequestsException"


class AllContainersBusy(Exception):
    pass


def _gateway_error(status: int, message: str, error_type: str = "Error") -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"message": message}),
        content_type="application/json",
        headers={**CORS, "x-amzn-ErrorType": error_type},
    )


@dataclass
class Answer:
    """What the front answered, with what its access log line says of it."""

    response: web.Response
    request_id: str | None = None
    resource: str | None = None
    integration_ms: float | None = None
    error: str | None = None  # the gateway's own refusals: the access log's errorMessage


def _refused(
    status: int,
    message: str,
    error_type: str = "Error",
    request_id: str | None = None,
    resource: str | None = None,
) -> Answer:
    return Answer(_gateway_error(status, message, error_type), request_id, resource, error=message)


class ApiGatewayFront:
    def __init__(
        self,
        containers: Iterable[Invoke],
        bucket: TokenBucket,
        function_timeout: float = 30.0,
        max_wait: float = 0.1,
        access_log: AccessLog | None = None,
        api_key: str | None = None,
    ):
        self._idle: asyncio.Queue[Invoke] = asyncio.Queue()
        for container in containers:
            self._idle.put_nowait(container)
        self._bucket = bucket
        self._timeout = function_timeout
        self._max_wait = max_wait
        self._access_log = access_log
        self._api_key = api_key.encode() if api_key else None
        self._runner: web.AppRunner | None = None

    async def _container(self) -> Invoke:
        if not self._idle.empty():
            return self._idle.get_nowait()
        try:
            return await asyncio.wait_for(self._idle.get(), self._max_wait)
        except TimeoutError:
            raise AllContainersBusy from None

    async def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        invoke = await self._container()
        try:
            return await invoke(event, LocalLambdaContext("order-api", self._timeout))
        finally:
            self._idle.put_nowait(invoke)

    async def warm(self, event: dict[str, Any]) -> None:
        """Invoke every container once (its cold start: clients, connections), so the first
        requests a user sends are not refused while all containers start at once."""
        containers = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        try:
            await asyncio.gather(
                *(invoke(event, LocalLambdaContext("order-api")) for invoke in containers)
            )
        finally:
            for invoke in containers:
                self._idle.put_nowait(invoke)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        answer = await self._answer(request)
        if self._access_log is not None:
            response = answer.response
            self._access_log.write(
                request_id=answer.request_id,
                ip=request.remote or "127.0.0.1",
                method=request.method,
                resource=answer.resource or request.path,
                status=response.status,
                response_length=len(response.body) if isinstance(response.body, bytes) else 0,
                latency_ms=(time.perf_counter() - started) * 1000,
                integration_ms=answer.integration_ms,
                error=answer.error,
            )
        return answer.response

    async def _answer(self, request: web.Request) -> "Answer":
        if self._api_key is not None and not hmac.compare_digest(
            request.headers.get("x-api-key", "").encode(), self._api_key
        ):
            # API Gateway's answer to a missing or wrong key on a method that requires one.
            return _refused(403, "Forbidden", "ForbiddenException")
        if not self._bucket.take():
            return _refused(429, "Too Many Requests", STAGE_THROTTLED)
        if request.content_length is not None and request.content_length > PAYLOAD_LIMIT_BYTES:
            return _refused(413, "Request Too Long")
        body = await request.content.read(PAYLOAD_LIMIT_BYTES + 1)
        if len(body) > PAYLOAD_LIMIT_BYTES:
            return _refused(413, "Request Too Long")
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
        context = event["requestContext"]
        request_id, resource = context["requestId"], context["resourcePath"]
        invoked = time.perf_counter()
        try:
            result = await self._invoke(event)
        except AllContainersBusy:
            return _refused(429, "Too Many Requests", CONCURRENCY_THROTTLED, request_id, resource)
        except FunctionFailed as failed:
            # Lambda itself failed (not the handler's 500): API Gateway answers 502.
            log.error("the Order API function failed (answered 502): %s", failed)
            return Answer(
                _gateway_error(502, "Internal server error"),
                request_id,
                resource,
                (time.perf_counter() - invoked) * 1000,
                "Internal server error",
            )
        payload = result.get("body") or ""
        response = web.Response(
            status=int(result.get("statusCode", 502)),
            body=payload.encode("utf-8"),
            headers=result.get("headers") or {},
        )
        return Answer(response, request_id, resource, (time.perf_counter() - invoked) * 1000)

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=PAYLOAD_LIMIT_BYTES * 2)
        # Any path, newlines in it too (API Gateway passes them on, percent-decoded).
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._access_log is not None:
            self._access_log.close()
