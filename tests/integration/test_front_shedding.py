"""The API Gateway-like front over real HTTP: 429 at once above the stage rate, 429 within the
bound when every container stays busy, and no request waiting past that bound.

The containers here are in-process stand-ins that hold each request until the test releases
it: what is under test is the front's admission, not the function, and every wait is on an
event, so the tests hold on any machine's speed.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local.gateway.access_log import AccessLog
from local.gateway.front import ApiGatewayFront
from local.gateway.throttle import TokenBucket
from local.lambda_runtime.container import FunctionFailed
from runtime.lambda_context import LocalLambdaContext
from tests.support.cfn import template
from tests.support.moto_server import free_port


class HeldContainer:
    """Holds each request until ``release`` is set, then answers 200; counts how many run at
    once. What a test waits on is the event, never a time."""

    def __init__(self, release: asyncio.Event):
        self.release = release
        self.arrived = asyncio.Event()  # a request is in this container
        self.running = 0
        self.most = 0

    async def __call__(self, event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
        self.running += 1
        self.arrived.set()
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
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


async def answers_while_held(
    tasks: list["asyncio.Task[tuple[int, float, dict[str, str]]]"], count: int
) -> list[tuple[int, float, dict[str, str]]]:
    """The first ``count`` answers, while the containers still hold their requests (bounded
    far above any machine's speed: a request that waited for a container would hang)."""
    done: list[tuple[int, float, dict[str, str]]] = []
    pending = set(tasks)
    async with asyncio.timeout(30):
        while len(done) < count:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            done += [task.result() for task in finished]
    return done


async def test_above_capacity_requests_are_refused_within_the_bound(
    http: aiohttp.ClientSession,
) -> None:
    release = asyncio.Event()
    containers = [HeldContainer(release), HeldContainer(release)]
    front = ApiGatewayFront(containers, TokenBucket(1000, 1000), max_wait=0.05)
    url = await serve(front)
    try:
        tasks = [asyncio.create_task(timed_get(http, f"{url}/order")) for _ in range(10)]
        # Refused while both containers still hold theirs: after the bound, not the job.
        refused = await answers_while_held(tasks, 8)
        release.set()
        answers = await asyncio.gather(*tasks)
    finally:
        release.set()
        await front.stop()
    assert [status for status, _, _ in refused] == [429] * 8
    assert sorted(status for status, _, _ in answers) == [200, 200] + [429] * 8
    assert [c.most for c in containers] == [1, 1]  # never more in a container than it has
    assert {headers["x-amzn-ErrorType"] for _, _, headers in refused} == {
        "TooManyRequestsException"
    }
    assert all(headers["Access-Control-Allow-Origin"] == "*" for _, _, headers in refused)


async def test_a_request_waits_for_a_busy_container_within_the_bound(
    http: aiohttp.ClientSession,
) -> None:
    release = asyncio.Event()
    container = HeldContainer(release)
    front = ApiGatewayFront([container], TokenBucket(1000, 1000), max_wait=60)
    url = await serve(front)
    try:
        tasks = [asyncio.create_task(timed_get(http, f"{url}/order")) for _ in range(5)]
        async with asyncio.timeout(30):
            await container.arrived.wait()  # the first is in the container, the rest wait
        release.set()
        async with asyncio.timeout(30):
            answers = await asyncio.gather(*tasks)
    finally:
        release.set()
        await front.stop()
    # One container: the five are served one after another, none refused while it was busy.
    assert [status for status, _, _ in answers] == [200] * 5
    assert container.most == 1


async def test_above_the_stage_rate_requests_are_refused_at_once(
    http: aiohttp.ClientSession,
) -> None:
    release = asyncio.Event()
    containers = [HeldContainer(release) for _ in range(3)]
    # A bucket of 3 that does not refill within the test; containers held, waits allowed long.
    front = ApiGatewayFront(containers, TokenBucket(rate=0.001, burst=3), max_wait=60)
    url = await serve(front)
    try:
        admitted = [asyncio.create_task(timed_get(http, f"{url}/order")) for _ in range(3)]
        async with asyncio.timeout(30):  # the bucket's three tokens taken, a container each
            await asyncio.gather(*(c.arrived.wait() for c in containers))
        extra = [asyncio.create_task(timed_get(http, f"{url}/order")) for _ in range(3)]
        # Refused while every container holds a request: before, not after, a container.
        throttled = await answers_while_held(extra, 3)
        release.set()
        async with asyncio.timeout(30):
            served = await asyncio.gather(*admitted)
    finally:
        release.set()
        await front.stop()
    assert [status for status, _, _ in served] == [200, 200, 200]
    assert [status for status, _, _ in throttled] == [429, 429, 429]
    assert all(headers["x-amzn-ErrorType"] == "ThrottlingException" for _, _, headers in throttled)


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


async def answering(event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
    return {"statusCode": 201, "headers": {}, "body": '{"orderId": "x"}'}


async def test_every_answer_gets_an_access_log_line_in_the_stages_format(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The lines the stage's AccessLogSetting writes on AWS (their bytes are billed as log
    ingestion): the template's fields, the gateway's refusals with their message."""
    path = tmp_path / "access.log"
    front = ApiGatewayFront(
        [answering], TokenBucket(rate=0.001, burst=2), access_log=AccessLog(path)
    )
    url = await serve(front)
    try:
        async with http.post(f"{url}/order", data=b"{}") as response:
            assert response.status == 201
        async with http.get(f"{url}/order/abc") as response:
            assert response.status == 201
        async with http.get(f"{url}/order/abc") as response:
            assert response.status == 429  # the burst of 2 is spent
    finally:
        await front.stop()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    stage = template("api.yaml")["Resources"]["Stage"]["Properties"]
    fields = json.loads(stage["AccessLogSetting"]["Format"])
    assert [set(line) for line in lines] == [set(fields)] * 3
    assert [(line["httpMethod"], line["resourcePath"], line["status"]) for line in lines] == [
        ("POST", "/order", "201"),
        ("GET", "/order/{orderId}", "201"),
        ("GET", "/order/abc", "429"),
    ]
    assert [line["errorMessage"] for line in lines] == ["-", "-", "Too Many Requests"]
    assert lines[0]["responseLength"] == str(len('{"orderId": "x"}'))
    assert lines[2]["integrationLatency"] == "-"  # refused before any integration
    assert len({line["requestId"] for line in lines}) == 3


async def test_with_a_key_required_a_request_without_it_is_403_and_never_invoked(
    http: aiohttp.ClientSession,
) -> None:
    invoked: list[dict[str, Any]] = []

    async def recording(event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
        invoked.append(event)
        return {"statusCode": 200, "headers": {}, "body": "{}"}

    key = "k" * 20
    front = ApiGatewayFront([recording], TokenBucket(rate=100, burst=100), api_key=key)
    url = await serve(front)
    try:
        answers = []
        for headers in ({}, {"x-api-key": "k" * 19}, {"X-Api-Key": key}):
            async with http.get(f"{url}/order/abc", headers=headers) as response:
                answers.append((response.status, await response.text()))
    finally:
        await front.stop()
    assert answers == [(403, '{"message": "Forbidden"}')] * 2 + [(200, "{}")]
    assert len(invoked) == 1
