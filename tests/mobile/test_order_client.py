"""The app's API client against a real HTTP server with injected faults: how many attempts,
after which delays, and always the one idempotency key."""

import json
import time
import uuid
from decimal import Decimal
from email.utils import formatdate

import httpx
import pytest

from orders_mobile.client import OrderClient, encode, retry_after
from tests.support.scripted_http import Reply, ScriptedServer

BODY = {
    "customerName": "John Doe",
    "customerEmail": "john.doe@example.com",
    "items": [{"productId": "P-1", "quantity": 3, "price": Decimal("0.1")}],
}
ACCEPTED = Reply(
    200,
    {"orderId": "0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10", "createdAt": "2026-11-25T18:00:00.000Z"},
)


class Delays:
    """Stands in for asyncio.sleep, so the test records the delays instead of waiting them."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


def client(server: ScriptedServer, delays: Delays, timeout: float = 5.0) -> OrderClient:
    return OrderClient(server.url, "k" * 24, timeout=timeout, sleep=delays)


def keys(server: ScriptedServer) -> set[str]:
    return {r.headers["idempotency-key"] for r in server.requests}


async def test_two_server_errors_then_success_takes_three_attempts_under_one_key() -> None:
    delays = Delays()
    async with ScriptedServer([Reply(500), Reply(503), ACCEPTED]) as server:
        key = str(uuid.uuid4())
        outcome = await client(server, delays).submit(BODY, key)
    assert outcome.kind == "accepted"
    assert outcome.attempts == 3
    assert delays.seen == [1.0, 2.0]
    assert keys(server) == {key}
    first = server.requests[0]
    assert (first.method, first.path) == ("POST", "/order")
    assert first.headers["x-api-key"] == "k" * 24
    assert first.headers["content-type"] == "application/json"
    # Money leaves the app as exact JSON numbers, every attempt the same bytes.
    assert json.loads(first.body, parse_float=Decimal)["items"][0]["price"] == Decimal("0.1")
    assert b'"price":0.1' in first.body
    assert {r.body for r in server.requests} == {first.body}


async def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    delays = Delays()
    async with ScriptedServer(
        [Reply(429, {"message": "Too Many Requests"}, {"Retry-After": "7"}), ACCEPTED]
    ) as server:
        outcome = await client(server, delays).submit(BODY, str(uuid.uuid4()))
    assert outcome.kind == "accepted"
    assert delays.seen == [7.0]


async def test_a_short_retry_after_does_not_shorten_the_backoff_and_a_huge_one_is_capped() -> None:
    delays = Delays()
    replies = [
        Reply(429, headers={"Retry-After": "0"}),
        Reply(503, headers={"Retry-After": "86400"}),
    ]
    async with ScriptedServer([*replies, ACCEPTED]) as server:
        await client(server, delays).submit(BODY, str(uuid.uuid4()))
    assert delays.seen == [1.0, 60.0]


async def test_timeouts_are_retried_then_reported_unavailable() -> None:
    delays = Delays()
    async with ScriptedServer([Reply(delay=3.0), Reply(delay=3.0), Reply(delay=3.0)]) as server:
        started = time.monotonic()
        outcome = await client(server, delays, timeout=0.2).submit(BODY, str(uuid.uuid4()))
        elapsed = time.monotonic() - started
    assert outcome.kind == "unavailable"
    assert outcome.status is None
    assert "Timeout" in outcome.detail
    assert outcome.attempts == 3
    assert len(server.requests) == 3
    assert len(keys(server)) == 1
    assert delays.seen == [1.0, 2.0]
    # Each attempt was cut at the client's timeout: one uncut attempt alone would take 3 s.
    assert elapsed < 3.0


async def test_dropped_connections_are_retried() -> None:
    delays = Delays()
    async with ScriptedServer([Reply(drop=True), Reply(drop=True), ACCEPTED]) as server:
        outcome = await client(server, delays).submit(BODY, str(uuid.uuid4()))
    assert outcome.kind == "accepted"
    assert len(server.requests) == 3
    assert len(keys(server)) == 1


async def test_three_failures_are_all_it_tries() -> None:
    delays = Delays()
    async with ScriptedServer([Reply(502), Reply(502), Reply(502), ACCEPTED]) as server:
        outcome = await client(server, delays).submit(BODY, str(uuid.uuid4()))
    assert (outcome.kind, outcome.status, outcome.attempts) == ("unavailable", 502, 3)
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (
            Reply(
                400,
                {
                    "error": "Validation failed",
                    "errors": [{"field": "items[0].price", "message": "must be at most 999999.99"}],
                },
            ),
            "invalid",
        ),
        (Reply(413, {"message": "Request Too Long"}), "rejected"),
        (Reply(415, {"error": "Unsupported media type"}), "rejected"),
        (Reply(422, {"error": "Idempotency key reused with a different body"}), "rejected"),
        (Reply(403, {"message": "Forbidden"}), "rejected"),
    ],
)
async def test_answers_that_sending_again_cannot_change_are_not_retried(
    reply: Reply, kind: str
) -> None:
    delays = Delays()
    async with ScriptedServer([reply, ACCEPTED]) as server:
        outcome = await client(server, delays).submit(BODY, str(uuid.uuid4()))
    assert outcome.kind == kind
    assert outcome.status == reply.status
    assert len(server.requests) == 1
    assert delays.seen == []
    if kind == "invalid":
        assert outcome.errors == [("items[0].price", "must be at most 999999.99")]


async def test_a_200_without_an_order_id_is_not_taken_for_success() -> None:
    async with ScriptedServer([Reply(200, {"hello": "proxy"})]) as server:
        outcome = await client(server, Delays()).submit(BODY, str(uuid.uuid4()))
    assert outcome.kind == "unavailable"


async def test_nothing_listening_is_a_network_failure_after_three_attempts() -> None:
    async with ScriptedServer([]) as server:
        url = server.url
    delays = Delays()
    outcome = await OrderClient(url, sleep=delays).submit(BODY, str(uuid.uuid4()))
    assert (outcome.kind, outcome.status, outcome.attempts) == ("unavailable", None, 3)
    assert "ConnectError" in outcome.detail


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("12") == 12.0
    now = time.time()
    assert retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "-5", "1e9"):
        assert retry_after(bad) is None


def test_money_is_encoded_exactly() -> None:
    assert encode({"a": [Decimal("0.10"), Decimal("999999.99"), 3, "x\u00e9", None, True]}) == (
        '{"a":[0.10,999999.99,3,"x\u00e9",null,true]}'
    )
    with pytest.raises(ValueError, match="not a JSON number"):
        encode({"a": Decimal("NaN")})


async def test_status_reads_an_order_and_a_404() -> None:
    async with ScriptedServer(
        [
            Reply(200, {"orderId": "x", "totalAmount": "0.30"}),
            Reply(404, {"error": "Order not found"}),
        ]
    ) as server:
        http = client(server, Delays())
        assert await http.order("x") == (200, {"orderId": "x", "totalAmount": "0.30"})
        assert await http.order("y") == (404, {"error": "Order not found"})
    with pytest.raises(httpx.TransportError):
        await http.order("z")
