"""The API Gateway-like front over real HTTP: 429 at once above the stage rate, 429 within the
bound when every container stays busy, and no request waiting past that bound.

The containers here are in-process stand-ins that hold a request for a set time: what is under
test is the front's admission, not the function.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from local.http_front import ApiGatewayFront
from local.lambda_container import FunctionFailed
from local.throttle import TokenBucket
from runtime.lambda_context import LocalLambdaContext
from tests.support.moto_server import free_port


class SlowContainer:
    """Answers 200 after ``seconds``; counts how many run at once."""

    running = 0
    most = 0

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def __call__(self, event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
        SlowContainer.running += 1
        SlowContainer.most = max(SlowContainer.most, SlowContainer.running)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            SlowContainer.running -= 1
        return {"statusCode": 200, "headers": {}, "body": '{"ok": true}'}


async def failing(event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
    raise FunctionFailed("order-api: its container ended mid-invocation")


async def serve(front: ApiGatewayFront) -> str:
    port = free_port()
    await front.start("127.0.0.1", port)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def timed_get(http: aiohttp.ClientSession, url: str) -> tuple[int, float, dict[str, str]]:
    started = time.perf_counter()
    async with http.get(url) as response:
        await response.read()
        return response.status, time.perf_counter() - started, dict(response.headers)


async def test_above_capacity_requests_are_refused_within_the_bound(
    http: aiohttp.ClientSession,
) -> None:
    SlowContainer.most = 0
    front = ApiGatewayFront(
        [SlowContainer(1.0), SlowContainer(1.0)], TokenBucket(1000, 1000), max_wait=0.05
    )
    url = await serve(front)
    try:
        answers = await asyncio.gather(*(timed_get(http, f"{url}/order") for _ in range(10)))
    finally:
        await front.stop()
    served = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    assert (len(served), len(refused)) == (2, 8)
    assert SlowContainer.most == 2  # never more in a container than it has
    assert all(seconds < 0.5 for _, seconds, _ in refused)  # the bound, not the 1 s job
    assert {headers["x-amzn-ErrorType"] for _, _, headers in refused} == {
        "TooManyRequestsException"
    }
    assert all(headers["Access-Control-Allow-Origin"] == "*" for _, _, headers in refused)


async def test_a_request_waits_for_a_container_no_longer_than_the_bound(
    http: aiohttp.ClientSession,
) -> None:
    front = ApiGatewayFront([SlowContainer(0.02)], TokenBucket(1000, 1000), max_wait=0.5)
    url = await serve(front)
    try:
        answers = await asyncio.gather(*(timed_get(http, f"{url}/order") for _ in range(5)))
    finally:
        await front.stop()
    # One container, 20 ms a request: the five are served one after another within the bound.
    assert [status for status, _, _ in answers] == [200] * 5
    assert max(seconds for _, seconds, _ in answers) < 0.5


async def test_above_the_stage_rate_requests_are_refused_at_once(
    http: aiohttp.ClientSession,
) -> None:
    front = ApiGatewayFront([SlowContainer(0.0)] * 4, TokenBucket(rate=1, burst=3), max_wait=1.0)
    url = await serve(front)
    try:
        answers = [await timed_get(http, f"{url}/order") for _ in range(6)]
    finally:
        await front.stop()
    assert [status for status, _, _ in answers[:3]] == [200, 200, 200]
    throttled = [a for a in answers[3:] if a[0] == 429]
    assert throttled
    assert all(headers["x-amzn-ErrorType"] == "ThrottlingException" for _, _, headers in throttled)
    assert all(seconds < 0.1 for _, seconds, _ in throttled)


async def test_a_failed_function_is_a_502_without_detail(http: aiohttp.ClientSession) -> None:
    front = ApiGatewayFront([failing], TokenBucket(1000, 1000))
    url = await serve(front)
    try:
        async with http.post(f"{url}/order", data="{}") as response:
            body = await response.json()
            status = response.status
    finally:
        await front.stop()
    assert status == 502
    assert body == {"message": "Internal server error"}
