"""HTTP/1.1 for the emulator: requests parsed by httptools (llhttp, in C), answered in one write.

Why not aiohttp's server, which the emulator used before: for every request it creates a task,
a request and a response object, matches its router and runs its handler chain. Measured with
py-spy on the emulator under sequential PutItems and Publishes, that was a quarter to a third
of the emulator's busy time, more than moto's own work on the item. The emulator's clients are
AWS SDKs that send one request at a time on a kept connection; this protocol parses a request
in C, hands it to the emulator's scheduler (which answers with a future) and writes the answer
with its headers in one ``transport.write``.

What it keeps of HTTP/1.1: keep-alive (closed after an answer when the client or HTTP/1.0 asks),
``Expect: 100-continue`` (botocore sends it with S3 uploads), chunked request bodies, pipelined
requests answered in order, ``HEAD`` answered without a body, a body larger than
``max_body_bytes`` refused with 413 and malformed requests with 400, then closed. A request
whose client goes away before its answer has its future cancelled (the scheduler skips it).
"""

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools

Header = tuple[str, str]


Answer = tuple[int, list[Header], bytes]  # status, headers, body


class HttpRequest:
    """One request as read: the target as sent, headers in order (names as sent), the body."""

    __slots__ = ("_named", "body", "connection", "headers", "method", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[Header],
        body: bytes,
        connection: "HttpConnection",
    ):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.connection = connection
        self._named: dict[str, str] | None = None

    def header(self, name: str, default: str = "") -> str:
        """The first header of that name, ignoring case (``name`` in lower case)."""
        if self._named is None:
            named: dict[str, str] = {}
            for key, value in self.headers:
                named.setdefault(key.lower(), value)
            self._named = named
        return self._named.get(name, default)

    @property
    def path(self) -> str:
        """The target's path, percent-decoded as WSGI wants it (bytes read as Latin-1)."""
        raw = self.target.partition("?")[0]
        return unquote_to_bytes(raw).decode("latin-1") if "%" in raw else raw

    @property
    def raw_path(self) -> str:
        return self.target

    @property
    def query_string(self) -> str:
        return self.target.partition("?")[2]


Handler = Callable[[HttpRequest], "asyncio.Future[Answer]"]

_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
_NO_BODY = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_PIPELINED = 16  # requests read ahead of their answers before reading pauses


@functools.cache
def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Date:
    """The ``Date`` header's value, formatted once a second."""

    second = -1
    value = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True)
        return cls.value


def encode_answer(answer: Answer, keep_alive: bool, head: bool = False) -> bytes:
    """The status line, the headers (the answer's own but those of the connection), and the
    body unless the request was a ``HEAD`` or the status has none."""
    status, headers, body = answer
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers if name.lower() not in _HOP_BY_HOP)
    if status not in _NO_BODY and not 100 <= status < 200:
        lines.append(f"Content-Length: {len(body)}")
    else:
        body = b""
    lines.append(f"Date: {_Date.now()}")
    if not keep_alive:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head_bytes if head or not body else head_bytes + body


def plain_answer(status: int, text: str) -> Answer:
    return status, [("Content-Type", "text/plain; charset=utf-8")], text.encode()


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests, answers them in order through ``handle``."""

    def __init__(self, handle: Handler, max_body_bytes: int):
        self._handle = handle
        self._max_body = max_body_bytes
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.sockname: Any = ("", 0)  # (host, port, ...) as the socket gives them
        self.peername: Any = ("", 0)
        self._ready: deque[tuple[HttpRequest, bool]] = deque()  # parsed, not yet answered
        self._answering: asyncio.Future[Answer] | None = None
        # the request being read
        self._target = bytearray()
        self._headers: list[Header] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._refusing: Answer | None = None  # set by a callback that stops the parser
        self._refused: Answer | None = None  # what a request that could not be read gets
        self._closing_after = False  # close once the requests read are answered
        self._paused = False

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream socket's
        self.sockname = transport.get_extra_info("sockname") or ("", 0)
        self.peername = transport.get_extra_info("peername") or ("", 0)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._answering is not None:
            self._answering.cancel()
        self._ready.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No other protocol is spoken here: the request is answered, what follows unread.
            self._refuse(None)
        except httptools.HttpParserError as exc:
            refused, self._refusing = self._refusing, None  # raised in a callback: it says why
            self._refuse(refused or plain_answer(400, f"malformed HTTP request: {exc}"))

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self._target.clear()
        self._headers = []
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        for name, value in self._headers:
            lower = name.lower()
            if lower == "content-length" and value.strip().isdigit():
                if int(value) > self._max_body:
                    self._too_large()
            elif (
                lower == "expect"
                and value.lower() == "100-continue"
                and self.transport is not None
                and not self._ready
                and self._answering is None
            ):
                self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._max_body:  # a chunked body, whose size no header gave
            self._too_large()
        self._body.append(body)

    def _too_large(self) -> None:
        """Stops the parser (httptools wraps what a callback raises in a parser error)."""
        self._refusing = plain_answer(413, f"bodies over {self._max_body} bytes")
        raise ValueError(self._refusing[2])

    def on_message_complete(self) -> None:
        parser = self._parser
        request = HttpRequest(
            parser.get_method().decode("ascii", "replace"),
            self._target.decode("latin-1"),
            parser.get_http_version(),
            self._headers,
            b"".join(self._body),
            self,
        )
        self._ready.append((request, parser.should_keep_alive()))
        if len(self._ready) >= MAX_PIPELINED:
            self._pause()  # read on once the client has read its answers
        if self._answering is None:
            self._answer_next()

    # answering

    def _answer_next(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if not self._ready:
            if self._closing_after:
                if self._refused is not None:
                    self.transport.write(encode_answer(self._refused, keep_alive=False))
                self.transport.close()
            elif self._paused:
                self._paused = False
                self.transport.resume_reading()
            return
        request, _ = self._ready[0]
        try:
            future = self._handle(request)
        except Exception as exc:  # the handler's own failure: a 500, not a dropped connection
            future = asyncio.get_running_loop().create_future()
            future.set_result(plain_answer(500, f"{type(exc).__name__}: {exc}"))
        self._answering = future
        future.add_done_callback(self._answered)

    def _answered(self, future: "asyncio.Future[Answer]") -> None:
        self._answering = None
        if future.cancelled() or self.transport is None:
            return
        request, keep_alive = self._ready.popleft()
        last = self._closing_after and not self._ready and self._refused is None
        keep_alive = keep_alive and not last
        exc = future.exception()
        answer = plain_answer(500, f"{type(exc).__name__}: {exc}") if exc else future.result()
        self.transport.write(encode_answer(answer, keep_alive, request.method == "HEAD"))
        if not keep_alive:
            self.transport.close()
            return
        self._answer_next()

    def _pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _refuse(self, answer: Answer | None) -> None:
        """Reads no more: answers the requests read, then ``answer`` (if any), and closes."""
        self._refused = answer
        self._closing_after = True
        self._pause()
        if self._answering is None:
            self._answer_next()
