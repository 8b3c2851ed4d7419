"""The emulator process: moto's WSGI application, served one request at a time, the API's first.

    python -m local.aws.server --host 127.0.0.1 --port 4566

Why not ``python -m moto.server``: it serves through werkzeug's development server, which
answers every request with ``Connection: close``, so each AWS call opened a TCP connection and
a server thread (100 orders opened ~850).

Here HTTP/1.1 is served with keep-alive (``local.aws.http_connection``: httptools' parser, in
C, and one write per answer), and each request runs moto *inline*, on the event loop's thread,
one after another. moto is written for neither concurrency nor speed: its backends are plain
dicts and lists, a conditional write checks and then writes in two steps, and every call costs
about a millisecond of Python. Threads bought nothing but handing the GIL back and forth:
measured with waitress (a thread pool behind a Python HTTP parser), a PutItem cost 1.4 ms of
emulator CPU, and during a backlog drain an API call's median went from 4 ms to 10 ms and its
p95 to 46-90 ms, while the work inside moto took 1.4 ms.

Two ports, two classes of request. The API uses the main port; the consumers use the second,
and a waiting request from the main port always runs before a waiting one from the second (one
that has waited ``AGE_SECONDS`` goes first). On AWS the API and the consumers scale apart; here
they share one emulator, and the consumers' calls, several per order, queued in front of the
API's. With this the consumers slow down under ingest load, the queues hold the backlog, and
the consumers drain it when there is room, never waiting past their timeouts.

The one kind of request that blocks, an SQS ReceiveMessage (a long poll waits up to 20 s), runs
on a thread instead, taking turns with the loop (``local.aws.turns``) and giving up its turn
while it waits. moto's request router matches the ``Host`` it derives from each request against
every service's URL patterns; ``RoutedOnce`` remembers the answer per host name.

The emulator keeps everything in memory for its lifetime (moto keeps every message it was
sent), so Python's full garbage collections walked an ever larger heap: measured 48 ms, growing
to 182 ms within a minute of load, each one stalling every request (the load plot showed a
latency spike every ~15 s). Every second, what has survived is frozen out of the collector
(``gc.freeze``), so a collection walks only what is new.

It counts the AWS calls it serves by ``service.Action``; ``GET /_emulator/calls`` answers the
counts so far (what a benchmark divides by the orders it sent), and ``GET /_emulator/usage``
what AWS would bill for them (``local.aws.usage_meter``: request units by item size, 64 KB
chunks, empty receives). moto's own handlers run
without Flask around them (``local.aws.moto_dispatch``), and what moto recomputed per request
is kept: parsed DynamoDB conditions (``local.aws.expression_cache``), converted attribute
names (``local.aws.name_cache``), a queue's attributes while it takes a message
(``local.aws.queue_attributes``), each JSON request shape's members
(``local.aws.json_requests``), where each member of an answer is found
(``local.aws.response_keys``); its random ids are drawn at once (``local.aws.random_ids``).

Started by ``local.aws.emulator.MotoProcess`` on a lifeline (``local.child_process``): it exits when
``orders up`` does.
"""

import argparse
import asyncio
import contextlib
import functools
import gc
import io
import json
import os
import re
import signal
import socket
import sys
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local.aws import (
    expression_cache,
    forked_copy,
    held_bytes,
    json_requests,
    moto_dispatch,
    moto_state,
    name_cache,
    queue_attributes,
    random_ids,
    response_keys,
    retention,
    sqs_indexes,
    state_file,
    state_saver,
    stream_iterators,
    ttl_expiry,
    update_expressions,
)
from local.aws.allocators import allocator_bytes
from local.aws.emulator import STATE_REFUSED, StateKeeping
from local.aws.http_connection import Answer, HttpConnection, HttpRequest
from local.aws.turns import AGE_SECONDS, Turns
from local.aws.usage_meter import UsageMeter
from local.child_process import announce_ready, hold_lifeline

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

LONG_POLL_THREADS = 32
MAX_REMEMBERED_HOSTS = 256
MAX_BODY_BYTES = 1024**3  # S3 uploads from `aws cloudformation package` are megabytes
YIELDS_BEFORE_BACKGROUND = 3
CALLS_PATH = "/_emulator/calls"  # GET: the AWS calls served so far, by ``service.Action``
USAGE_PATH = "/_emulator/usage"  # GET: what they would be billed for (``local.aws.usage_meter``)
MEMORY_PATH = "/_emulator/memory"  # GET: its resident bytes and what moto holds of them
STATE_PATH = "/_emulator/state"  # GET: whether every change is saved (``local.aws.state_saver``)
FREEZE_SECONDS = 1.0


class RoutedOnce(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves each host name it has resolved."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backend_by_host: dict[str, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None:
            return None
        backend = self._backend_by_host.get(host)
        if backend is None:
            backend = super().get_backend_for_host(host)
            # Host names come from request headers: remember a bounded number of real ones.
            if backend is not None and len(self._backend_by_host) < MAX_REMEMBERED_HOSTS:
                self._backend_by_host[host] = backend
        return backend


@functools.lru_cache(maxsize=MAX_REMEMBERED_HOSTS)
def _connection_environ(sockname: Any, peername: Any) -> dict[str, Any]:
    """What every request on one connection has in its environ (copied, never changed)."""
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": str(sockname[0]),
        "SERVER_PORT": str(sockname[1]),
        "REMOTE_ADDR": str(peername[0]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


@functools.lru_cache(maxsize=1024)
def _environ_key(name: str) -> str | None:
    """A header's key in the environ; ``None`` for those WSGI servers leave out (``X_Foo``
    must not pass for ``X-Foo``) or give keys of their own (the content's type and length)."""
    key = name.upper().replace("-", "_")
    if "_" in name or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return None
    return f"HTTP_{key}"


def wsgi_environ(request: HttpRequest) -> "WSGIEnvironment":
    connection = request.connection
    body = request.body
    environ = dict(_connection_environ(connection.sockname, connection.peername))
    environ["REQUEST_METHOD"] = request.method
    environ["PATH_INFO"] = request.path
    environ["QUERY_STRING"] = request.query_string
    environ["RAW_URI"] = environ["REQUEST_URI"] = request.raw_path
    environ["SERVER_PROTOCOL"] = f"HTTP/{request.version}"
    environ["CONTENT_TYPE"] = request.header("content-type")
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in request.headers:
        key = _environ_key(name)
        if key is not None:
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(app: "WSGIApplication", environ: "WSGIEnvironment") -> Answer:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, headers = started
    return int(status.split(" ", 1)[0]), list(headers), body


def json_answer(value: Any) -> Answer:
    return 200, [("Content-Type", "application/json; charset=utf-8")], json.dumps(value).encode()


_QUERY_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")


# What moto recomputed on every request, kept or done once; each module puts moto's own back
# with ``install(on=False)`` (``tests.benchmarks.emulator_dispatch``'s baseline).
PER_REQUEST_FIXES = (
    moto_dispatch,
    expression_cache,
    random_ids,
    name_cache,
    response_keys,
    queue_attributes,
    json_requests,
    update_expressions,
)


def install_per_request_fixes(on: bool = True) -> None:
    for fix in PER_REQUEST_FIXES:
        fix.install(on)


class AwsCall(NamedTuple):
    """What a request asks, read once: the service from its signature's scope, and its
    ``X-Amz-Target`` or, in the query protocol, the body's ``Action``."""

    service: str
    target: str
    action: str
    region: str

    @classmethod
    def of(cls, request: HttpRequest, body: bytes) -> "AwsCall":
        _, _, credential = request.header("authorization").partition("Credential=")
        scope = credential.split(",", 1)[0].split("/")
        target = request.header("x-amz-target")
        if target:
            action = target.rpartition(".")[2]
        else:
            found = _QUERY_ACTION.search(body)
            action = found.group(1).decode() if found else ""
        return cls(
            scope[3] if len(scope) > 3 else "", target, action, scope[2] if len(scope) > 2 else ""
        )

    @property
    def name(self) -> str:
        """``service.Action`` (``sns.Publish``, ``dynamodb.PutItem``); ``other`` for anything
        else."""
        return f"{self.service}.{self.action}" if self.service and self.action else "other"

    @property
    def blocks(self) -> bool:
        """An SQS ReceiveMessage, which may long-poll (JSON protocol, or the older query one)."""
        if self.target:
            return self.target == "AmazonSQS.ReceiveMessage"
        return self.action == "ReceiveMessage"


class OneAtATime:
    """Runs the WSGI app inline on the loop's thread, one request after another, requests on
    ``background_port`` only when no other request waits (or after ``AGE_SECONDS``)."""

    def __init__(
        self,
        app: "WSGIApplication",
        turns: Turns,
        background_port: int,
        direct: moto_dispatch.DirectDispatch | None = None,
    ):
        self._app = app
        self._direct = direct
        self._turns = turns
        self._background_port = background_port
        self._waiting: tuple[deque[Any], deque[Any]] = (deque(), deque())  # foreground, background
        self._work = asyncio.Event()
        self._threads = ThreadPoolExecutor(LONG_POLL_THREADS, thread_name_prefix="long-poll")
        self._runner: asyncio.Task[None] | None = None
        self.calls: Counter[str] = Counter()
        self.meter = UsageMeter()
        self.saver: state_saver.StateSaver | None = None  # told of each call that changes state

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _in_turn(
        self,
        environ: "WSGIEnvironment",
        foreground: bool,
        call: AwsCall | None = None,
        body: bytes = b"",
    ) -> Answer:
        with self._turns.turn(foreground):
            before = (
                None
                if call is None
                else self.meter.before(call.service, call.action, call.region, body)
            )
            answer = None if self._direct is None else self._direct(environ)
            if answer is None:
                answer = call_wsgi(self._app, environ)
            status, _, content = answer
            if self.saver is not None and (
                call is None or state_saver.changes_state(call.action, content)
            ):
                self.saver.changed()
            if call is not None and call.service:
                self.meter.after(
                    call.service,
                    call.action,
                    status,
                    body,
                    content,
                    before,
                    environ.get("HTTP_USER_AGENT", ""),
                )
        return answer

    def submit(self, request: HttpRequest) -> "asyncio.Future[Answer]":
        """The answer to ``request``, when its turn has come and gone."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Answer] = loop.create_future()
        path = request.path
        if path == MEMORY_PATH:
            return asyncio.ensure_future(
                _as_json(loop.run_in_executor(self._threads, self._memory))
            )
        report = self._report(path)
        if report is not None:
            done.set_result(json_answer(report))
            return done
        body = request.body
        call = AwsCall.of(request, body)
        self.calls[call.name] += 1
        environ = wsgi_environ(request)
        foreground = environ["SERVER_PORT"] != str(self._background_port)
        if call.blocks:
            polled = loop.run_in_executor(
                self._threads, self._in_turn, environ, foreground, call, body
            )
            polled.add_done_callback(
                functools.partial(self._polled, done, request.connection, environ, body, foreground)
            )
            return done
        self._waiting[0 if foreground else 1].append((environ, done, time.monotonic(), call, body))
        self._work.set()
        return done

    def _report(self, path: str) -> Any:
        """What ``GET`` on one of the emulator's own paths answers; ``None`` for moto's paths."""
        if path == CALLS_PATH:
            return dict(sorted(self.calls.items()))
        if path == USAGE_PATH:
            return self.meter.as_json()
        if path == STATE_PATH:
            return self.saver.report() if self.saver else {"kept": False}
        return None

    def _polled(
        self,
        done: "asyncio.Future[Answer]",
        connection: HttpConnection,
        environ: "WSGIEnvironment",
        body: bytes,
        foreground: bool,
        polled: "asyncio.Future[Answer]",
    ) -> None:
        """A long poll's answer to its client or, where the client went away meanwhile, its
        messages back to the queue."""
        if polled.exception() is not None:
            if not done.done():
                done.set_exception(polled.exception())  # type: ignore[arg-type]
            return
        if done.done() or connection.closing:  # the connection is gone
            asyncio.get_running_loop().run_in_executor(
                self._threads, self._return_unsent, environ, body, polled.result(), foreground
            )
            return
        done.set_result(polled.result())

    def _memory(self) -> dict[str, Any]:
        """The process's resident bytes, what its allocators count (``local.aws.allocators``)
        and what of it the services' data takes (``local.aws.held_bytes``), both on a forked
        copy: the measuring empties the services, and its own memory stays out."""

        def counted() -> bytes:
            # the allocators first, as they were at the fork
            allocators = allocator_bytes()
            return json.dumps({"allocators": allocators, "held": held_bytes.held_bytes()}).encode()

        rss = resident_bytes()
        copy = json.loads(forked_copy.on_a_copy(self._turns, counted))
        return {"rss_bytes": rss, "held_bytes": copy["held"], **copy["allocators"]}

    def _return_unsent(
        self, environ: "WSGIEnvironment", body: bytes, answer: Answer, foreground: bool
    ) -> None:
        """A long poll whose client went away (a poller stopping) still took messages off the
        queue in moto; no one will delete them, so they are made visible again at once instead
        of after the visibility timeout (a restarted ``orders up`` would wait 40-70 s for them)."""
        if environ.get("HTTP_X_AMZ_TARGET") != "AmazonSQS.ReceiveMessage":
            return  # the older query protocol: no poller of this project speaks it
        try:
            messages = json.loads(answer[2] or b"{}").get("Messages") or []
            queue_url = json.loads(body)["QueueUrl"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            payload = json.dumps({"QueueUrl": queue_url, "Entries": entries}).encode()
            again = dict(environ)
            again.update(
                {
                    "HTTP_X_AMZ_TARGET": "AmazonSQS.ChangeMessageVisibilityBatch",
                    "CONTENT_LENGTH": str(len(payload)),
                    "wsgi.input": io.BytesIO(payload),
                }
            )
            self._in_turn(again, foreground)

    def _next(self) -> tuple[Any, bool]:
        foreground, background = self._waiting
        aged = background and time.monotonic() - background[0][2] > AGE_SECONDS
        if foreground and not aged:
            return foreground.popleft(), True
        return background.popleft(), False

    async def _run(self) -> None:
        while True:
            await self._work.wait()
            self._work.clear()
            while any(self._waiting):
                for _ in range(YIELDS_BEFORE_BACKGROUND):
                    if self._waiting[0]:
                        break
                    # Let the loop read what arrived meanwhile (the socket read, the
                    # connection's request loop, then the handler that queues it): a foreground
                    # request may be next.
                    await asyncio.sleep(0)
                (environ, done, _, call, body), foreground = self._next()
                if done.cancelled():
                    continue  # the client went away
                try:
                    done.set_result(self._in_turn(environ, foreground, call, body))
                except Exception as exc:  # moto's own 500 handling failed: answer it anyway
                    done.set_exception(exc)
                await asyncio.sleep(0)


async def _as_json(measuring: "asyncio.Future[dict[str, Any]]") -> Answer:
    return json_answer(await measuring)


def resident_bytes() -> int:
    """This process's resident set size (Linux's /proc; 0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _exit_now() -> None:
    sys.stderr.flush()
    os._exit(0)


class EmulatorServer:
    """Both ports, the scheduler and the WSGI bridge around ``app``."""

    def __init__(
        self,
        app: "WSGIApplication",
        turns: Turns,
        host: str,
        port: int,
        saver: state_saver.StateSaver | None = None,
    ):
        self._app = app
        self._saver = saver
        self._turns = turns
        self.host = host
        self.port = port
        self.background_port = 0
        self._servers: list[asyncio.Server] = []
        self._connections: weakref.WeakSet[HttpConnection] = weakref.WeakSet()
        self._scheduler: OneAtATime | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        main_socket = socket.create_server((self.host, self.port), family=family)
        background_socket = socket.create_server((self.host, 0), family=family)
        self.port = main_socket.getsockname()[1]
        self.background_port = background_socket.getsockname()[1]
        direct = (
            moto_dispatch.DirectDispatch(self._app)
            if isinstance(self._app, DomainDispatcherApplication)
            else None
        )
        scheduler = self._scheduler = OneAtATime(
            self._app, self._turns, self.background_port, direct
        )
        scheduler.saver = self._saver
        loop = asyncio.get_running_loop()
        for sock in (main_socket, background_socket):
            self._servers.append(
                await loop.create_server(lambda: self._connected(scheduler.submit), sock=sock)
            )
        scheduler.start()

    def _connected(
        self, handle: "Callable[[HttpRequest], asyncio.Future[Answer]]"
    ) -> HttpConnection:
        connection = HttpConnection(handle, MAX_BODY_BYTES)
        self._connections.add(connection)
        return connection

    @property
    def urls(self) -> str:
        return f"http://{self.host}:{self.port} http://{self.host}:{self.background_port}"

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._scheduler is not None:
            await self._scheduler.stop()


async def _freeze_survivors(every: float = FREEZE_SECONDS) -> None:
    while True:
        await asyncio.sleep(every)
        # Every garbage cycle first, so that none is frozen with the rest (a frozen cycle is
        # never freed: werkzeug's requests, each a cycle, leaked so). Frozen objects are not
        # walked, so this full collection walks only what survived since the last freeze.
        gc.collect()
        gc.freeze()


def install_fixes(turns: Turns, bounded_retention: bool = True) -> None:
    """Every fix module the emulator runs moto with (``bounded_retention=False`` leaves moto's
    own retention, for the memory benchmark's figure before)."""
    sqs_indexes.install(while_waiting=turns.suspended)
    stream_iterators.install()
    if bounded_retention:
        retention.install()
    install_per_request_fixes()


def restore(keeping: StateKeeping) -> None:
    """Restore the saved state, if there is one; ``StateRefused`` when it cannot be."""
    found = state_file.StateFile(keeping.state).read()
    if found is None:
        state_saver.restore_position(None, keeping.stream_position)
        return
    header, payload = found
    try:
        restored = moto_state.restore(payload, str(header.get("saved_at", "")))
    except Exception as exc:  # a payload its checksum vouches for that moto cannot take back
        raise state_file.StateRefused(
            f"{keeping.state} cannot be restored ({type(exc).__name__}: {exc}); "
            f"{state_file.FRESH_HINT}"
        ) from None
    state_saver.restore_position(header.get("stream_position"), keeping.stream_position)
    print(restored.line(), file=sys.__stdout__, flush=True)


async def _serve(host: str, port: int, keeping: StateKeeping | None = None) -> None:
    turns = Turns()
    install_fixes(turns)
    saver = None
    if keeping is not None:
        restore(keeping)
        saver = state_saver.StateSaver(
            state_file.StateFile(keeping.state), turns, keeping.save_every, keeping.stream_position
        )
    server = EmulatorServer(RoutedOnce(), turns, host, port, saver)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    announce_ready(server.urls)
    background = [
        asyncio.create_task(_freeze_survivors()),
        asyncio.create_task(ttl_expiry.run(turns, on_delete=saver.changed if saver else None)),
    ]
    if saver is not None:
        background.append(asyncio.create_task(saver.run()))
    await stopping.wait()
    for task in background:
        task.cancel()
    if saver is not None:
        await saver.save()  # the last changes, before the state goes with the process
    _exit_now()


def seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError(text)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.aws.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument(
        "--lifeline", action="store_true", help="exit when stdin closes (the parent is gone)"
    )
    parser.add_argument("--state", type=Path, help="keep the state in this file across restarts")
    parser.add_argument(
        "--save-every", type=seconds, default=5.0, help="seconds between saves (default 5)"
    )
    parser.add_argument(
        "--stream-position", type=Path, help="the outbox reader's position, kept with the state"
    )
    args = parser.parse_args(argv)
    try:
        sqs_indexes.check_moto_version()
    except sqs_indexes.UnsupportedMoto as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    keeping = (
        StateKeeping(args.state, args.save_every, args.stream_position) if args.state else None
    )
    if args.lifeline:
        hold_lifeline()
    try:
        asyncio.run(_serve(args.host, args.port, keeping))
    except state_file.StateRefused as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return STATE_REFUSED
    except OSError as exc:
        print(f"emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
