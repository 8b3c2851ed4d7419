"""The emulator's HTTP/1.1 over a real socket (``local.aws.http_connection``): what its clients
send is answered as HTTP says, and what no client should send gets a clear status, never a
traceback or a request handled twice."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local.aws.http_connection import Answer, HttpConnection, HttpRequest

MAX_BODY = 1000
READ_SECONDS = 10.0  # bounds a wait for an answer that is due at once


class Recorder:
    """The handler: answers with what it was asked, or holds the answer until released."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.held: list[asyncio.Future[Answer]] = []
        self.hold = False
        self.fail = False
        self.arrived = asyncio.Event()  # a held request is waiting

    def __call__(self, request: HttpRequest) -> "asyncio.Future[Answer]":
        self.requests.append(request)
        if self.fail:
            raise RuntimeError("the handler broke")
        done: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        if self.hold:
            self.held.append(done)
            self.arrived.set()
            return done
        text = f"{request.method} {request.path} {request.query_string} {len(request.body)}"
        done.set_result((200, [("Content-Type", "text/plain")], text.encode()))
        return done


@pytest.fixture
async def served() -> AsyncIterator[tuple[Recorder, int]]:
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpConnection(recorder, MAX_BODY), "127.0.0.1", 0)
    yield recorder, server.sockets[0].getsockname()[1]
    server.close()


async def exchange(port: int, raw: bytes, answers: int = 1) -> tuple[list[bytes], bool]:
    """Sends ``raw``, reads ``answers`` answers; also whether the server closed afterwards."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    got = []
    for _ in range(answers):
        got.append(await asyncio.wait_for(read_answer(reader), READ_SECONDS))
    closed = await asyncio.wait_for(reader.read(1), READ_SECONDS) == b"" if answers else False
    writer.close()
    return got, closed


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length and b" 100 " not in head[:13] else b""
    return head + body


async def held(
    recorder: Recorder, port: int, raw: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Sends ``raw`` once the handler holds its answers, and waits until the first is held."""
    recorder.hold = True
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await asyncio.wait_for(recorder.arrived.wait(), READ_SECONDS)
    return reader, writer


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_requests_on_a_kept_connection_are_answered_in_order(served: Any) -> None:
    recorder, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n in range(3):
        writer.write(f"POST /q{n}?a=b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi".encode())
        answer = await asyncio.wait_for(read_answer(reader), READ_SECONDS)
        assert answer.endswith(f"POST /q{n} a=b 2".encode())
        assert b"Connection: close" not in answer
    writer.close()
    assert len(recorder.requests) == 3


async def test_pipelined_requests_are_answered_in_the_order_sent(served: Any) -> None:
    _, port = served
    raw = b"".join(f"GET /p{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in range(5))
    answers, _ = await exchange(port, raw + b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n", 6)
    assert [a.rsplit(b"\r\n\r\n", 1)[1] for a in answers] == [
        *(f"GET /p{n}  0".encode() for n in range(5)),
        b"GET /last  0",
    ]


async def test_connection_close_and_http_1_0_close_after_the_answer(served: Any) -> None:
    _, port = served
    for raw in (
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /b HTTP/1.0\r\n\r\n",
    ):
        (answer,), closed = await exchange(port, raw)
        assert status(answer) == 200
        assert b"Connection: close" in answer
        assert closed


async def test_expect_100_continue_is_answered_before_the_body(served: Any) -> None:
    recorder, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"data")
    answer = await asyncio.wait_for(read_answer(reader), READ_SECONDS)
    assert answer.endswith(b"PUT /up  4")
    writer.close()
    assert recorder.requests[0].body == b"data"


async def test_a_chunked_body_arrives_whole(served: Any) -> None:
    recorder, port = served
    raw = (
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    answers, _ = await exchange(port, raw + b"GET /end HTTP/1.1\r\nConnection: close\r\n\r\n", 2)
    assert answers[0].endswith(b"POST /c  7")
    assert recorder.requests[0].body == b"abcdefg"


async def test_the_path_is_percent_decoded_as_wsgi_reads_it(served: Any) -> None:
    recorder, port = served
    raw = b"GET /bucket/a%20b%2Fc%C3%A9?x=%20 HTTP/1.1\r\nConnection: close\r\n\r\n"
    await exchange(port, raw)
    request = recorder.requests[0]
    assert request.path == "/bucket/a b/c\xc3\xa9"  # UTF-8's bytes, as Latin-1 (PEP 3333)
    assert request.query_string == "x=%20"
    assert request.raw_path == "/bucket/a%20b%2Fc%C3%A9?x=%20"


async def test_head_is_answered_with_the_length_and_no_body(served: Any) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
    assert b"Content-Length: 10" in head  # "HEAD /h  0", as a GET would have had it
    following = await asyncio.wait_for(read_answer(reader), READ_SECONDS)
    assert following.startswith(b"HTTP/1.1 200 OK")
    assert following.endswith(b"GET /next  0")
    writer.close()


async def test_a_body_over_the_limit_is_refused_unread(served: Any) -> None:
    recorder, port = served
    too_long = b"x" * (MAX_BODY + 1)
    for raw in (
        b"POST /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(too_long) + too_long,
        b"POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(too_long)
        + too_long
        + b"\r\n0\r\n\r\n",
    ):
        (answer,), closed = await exchange(port, raw)
        assert status(answer) == 413
        assert b"bodies over 1000 bytes" in answer
        assert closed
    assert recorder.requests == []


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
    ],
    ids=["no-request-line", "negative-length", "space-in-name", "length-and-chunked", "nul"],
)
async def test_a_malformed_request_is_a_400_and_nothing_handled(served: Any, raw: bytes) -> None:
    recorder, port = served
    (answer,), closed = await exchange(port, raw)
    assert status(answer) == 400
    assert b"malformed HTTP request" in answer
    assert b"Traceback" not in answer
    assert closed
    assert recorder.requests == []


async def test_an_upgrade_is_answered_as_http_and_the_connection_closed(served: Any) -> None:
    """Nothing here speaks another protocol: what follows the request is not read."""
    recorder, port = served
    raw = b"GET /u HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /not HTTP/1.1\r\n\r\n"
    (answer,), closed = await exchange(port, raw)
    assert answer.endswith(b"GET /u  0")
    assert closed
    assert [r.path for r in recorder.requests] == ["/u"]


async def test_a_malformed_request_after_good_ones_waits_for_their_answers(served: Any) -> None:
    recorder, port = served
    raw = b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n"
    reader, writer = await held(recorder, port, raw)
    recorder.held[0].set_result((200, [], b"first"))
    first = await asyncio.wait_for(read_answer(reader), READ_SECONDS)
    refused = await asyncio.wait_for(read_answer(reader), READ_SECONDS)
    assert first.endswith(b"first")
    assert status(refused) == 400
    assert await asyncio.wait_for(reader.read(1), READ_SECONDS) == b""
    writer.close()


async def test_a_client_that_leaves_has_its_pending_answer_cancelled(served: Any) -> None:
    recorder, port = served
    _, writer = await held(recorder, port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    ended = asyncio.Event()
    recorder.held[0].add_done_callback(lambda _: ended.set())
    writer.close()
    await asyncio.wait_for(ended.wait(), READ_SECONDS)
    assert recorder.held[0].cancelled()


async def test_a_failing_handler_is_a_500_and_the_connection_serves_on(served: Any) -> None:
    recorder, port = served
    recorder.fail = True
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await asyncio.wait_for(read_answer(reader), READ_SECONDS)
    assert status(answer) == 500
    assert answer.endswith(b"RuntimeError: the handler broke")
    recorder.fail = False
    writer.write(b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await asyncio.wait_for(read_answer(reader), READ_SECONDS)).endswith(b"GET /y  0")
    writer.close()
