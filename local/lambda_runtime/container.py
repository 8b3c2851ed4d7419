"""Lambda containers on one machine: a process per container, one invocation at a time.

A container is a Python process running the function's real Lambda entry point (e.g.
``api.handler.handler``), configured by its environment exactly as Lambda configures it (table
names, ``AWS_ENDPOINT_URL``, ``LOG_LEVEL``), invoking it once per request it reads.

Processes, not threads of ``orders up``: Lambda gives every container a process of its own, and
the handlers rely on it. Powertools keeps metrics in class-level state shared by every
``Metrics`` object of a process, and a logger's appended keys are shared too; with containers as
threads of one process, one container flushed another's metrics mid-invocation (seen under load:
``RuntimeError: dictionary changed size during iteration``, answered 502) and a log line could
carry another request's keys. Processes also give each container a GIL of its own.

Each function has a template process (``ContainerTemplate``), which imports the entry module,
checks the settings (a bad variable fails the start, named) and runs SnapStart's
``before_snapshot``; every container is forked from it and runs ``after_restore`` first, as
Lambda restores SnapStart containers from a snapshot. A container so costs milliseconds to
start, not the ~1.2 CPU-s of importing everything again (``orders up`` starts nine).

The protocol is one JSON line each way on the container's Unix socket: ``{"event": …}`` in,
``{"result": …}`` or ``{"error": "…"}`` out. The socket is also the container's lifeline, as
the template's stdin is its own: when it closes (``orders up`` stopped, or died), the process
exits. What the function prints (Powertools' log lines and EMF metrics) goes to
``functions.log``, as CloudWatch would collect it, between the ``START``, ``END`` and ``REPORT``
lines Lambda writes around each invocation; and each invocation's duration, CPU time and log
bytes go to ``invocations.jsonl`` beside it, which the cost model reads (``load.cost``).

    python -m local.lambda_runtime.container MODULE:ATTRIBUTE FUNCTION_NAME TIMEOUT_SECONDS LOG_FILE
"""

import asyncio
import contextlib
import importlib
import io
import json
import math
import os
import random
import resource
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.lambda_runtime import client_costs
from runtime.functions import FUNCTIONS
from runtime.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# How the local stack invokes a function: the event and the context it would get on Lambda.
Invoke = Callable[[dict[str, Any], LocalLambdaContext], Awaitable[dict[str, Any]]]
READY = b"READY\n"
FORK_SECONDS = 30.0  # for a template to fork a container and the container to connect
LINE_LIMIT = 4 * 1024 * 1024  # a line is one event or one answer; SQS batches are the largest
APP_ID_VARIABLE = "AWS_SDK_UA_APP_ID"
INVOCATIONS_FILE = "invocations.jsonl"  # beside functions.log: one record per invocation
MEMORY_MB = {function.name: function.memory_mb for function in FUNCTIONS}


class FunctionFailed(RuntimeError):
    """The invocation failed outside the handler's own answers (it raised, timed out, or its
    process died): Lambda's "function error"."""


def in_thread(handler: Handler) -> Invoke:
    """A handler of this process, invoked on a worker thread (for tests that look inside)."""

    async def invoke(event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
        return await asyncio.to_thread(handler, event, context)

    return invoke


class ContainerTemplate:
    """A function initialised once, from which its containers are forked.

    The template process imports the function's entry module, checks its settings and runs
    SnapStart's ``before_snapshot`` (botocore's models loaded, no loop, client or connection
    kept: ``runtime/snapstart.py``), then forks a container on each request, which runs
    ``after_restore`` and serves invocations over a Unix socket of its own. Lambda restores
    SnapStart containers from a snapshot in the same way; here it saves each container the
    ~1.2 CPU-s of importing everything again (an ``orders up`` starts nine). The template dies
    with ``orders up`` (its stdin is its lifeline), a container with its socket."""

    def __init__(
        self,
        entry: str,
        function_name: str,
        timeout_seconds: float,
        environment: dict[str, str],
        log_dir: Path,
    ):
        self.function_name = function_name
        self.timeout = timeout_seconds
        self._entry = entry
        self._environment = environment
        self._log_dir = log_dir
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._sockets: tempfile.TemporaryDirectory[str] | None = None
        self._forked = 0

    @property
    def _functions_log(self) -> Path:
        """The function's log, which its containers write and the template writes for them."""
        return self._log_dir / "functions.log"

    @property
    def running(self) -> bool:
        """Whether its process is alive (started and not exited)."""
        return self._process is not None and self._process.returncode is None

    async def _ensure(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is not None and process.returncode is None:
            return process
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with (self._log_dir / "containers.log").open("ab") as stderr:
            process = self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "local.lambda_runtime.container",
                self._entry,
                self.function_name,
                str(self.timeout),
                str(self._functions_log),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=self._environment,
                start_new_session=True,
                limit=LINE_LIMIT,
            )
        if process.stdout is None or process.stdin is None:
            raise FunctionFailed(f"{self.function_name}: its template has no pipes")
        try:
            first = await process.stdout.readline()
        except asyncio.CancelledError:  # a sibling failed to start: nothing is left running
            await self._kill()
            raise
        if first != READY:
            await self._kill()
            raise FunctionFailed(self._start_error(first))
        return process

    def _start_error(self, first: bytes) -> str:
        error = None
        if first.startswith(b"{"):
            with contextlib.suppress(ValueError, AttributeError):
                error = json.loads(first).get("error")
        return f"{self.function_name}: " + (
            error or f"its container ended at start (see {self._log_dir}/containers.log)"
        )

    async def fork(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
        """A new container: its socket's two ends and its pid."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            process = await self._ensure()
            if self._sockets is None:
                self._sockets = tempfile.TemporaryDirectory(prefix="containers-")
            self._forked += 1
            path = Path(self._sockets.name) / f"{self._forked}.sock"
            with socket.socket(socket.AF_UNIX) as listener:
                listener.bind(str(path))
                listener.listen(1)
                listener.setblocking(False)
                if process.stdin is None:
                    raise FunctionFailed(f"{self.function_name}: its template has no pipes")
                process.stdin.write(f"{path}\n".encode())
                try:
                    await process.stdin.drain()
                    connection, _ = await asyncio.wait_for(
                        loop.sock_accept(listener), timeout=FORK_SECONDS
                    )
                except (TimeoutError, ConnectionError, OSError):
                    await self._kill()
                    raise FunctionFailed(
                        f"{self.function_name}: its template did not fork a container "
                        f"(see {self._log_dir}/containers.log)"
                    ) from None
                finally:
                    path.unlink(missing_ok=True)
        reader, writer = await asyncio.open_unix_connection(sock=connection, limit=LINE_LIMIT)
        first = await reader.readline()
        if not first.startswith(b"READY "):
            writer.close()
            raise FunctionFailed(self._start_error(first))
        return reader, writer, int(first.split()[1])

    def log(self, line: str) -> None:
        """A line in the function's log, as Lambda writes one when an invocation times out or
        its runtime dies (the container cannot: it is gone)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with self._functions_log.open("a", encoding="utf-8") as log:
            log.write(f"{stamp}Z {line}\n")

    async def _kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def stop(self, within: float = 10.0) -> None:
        """Close its stdin (the template exits; its containers keep serving until theirs close)."""
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), within)
            except TimeoutError:
                await self._kill()
        if self._sockets is not None:
            self._sockets.cleanup()
            self._sockets = None


async def start_all(containers: "list[LambdaContainer]") -> None:
    """Start the containers together; when one fails, the others' starts are cancelled and
    awaited before its error is raised, so the error is the failing function's own and no
    template is left half-started behind it."""
    try:
        async with asyncio.TaskGroup() as group:
            for container in containers:
                group.create_task(container.start())
    except BaseExceptionGroup as failures:
        raise _first_cause(failures) from None


def _first_cause(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    first = failures.exceptions[0]
    return _first_cause(first) if isinstance(first, BaseExceptionGroup) else first


class LambdaContainer:
    """One container: a process forked from its function's template, started on demand and
    again after it died."""

    def __init__(self, template: ContainerTemplate):
        self.template = template
        self.function_name = template.function_name
        self.timeout = template.timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pid: int | None = None

    @classmethod
    def group(
        cls,
        count: int,
        entry: str,
        function_name: str,
        timeout_seconds: float,
        environment: dict[str, str],
        log_dir: Path,
    ) -> list["LambdaContainer"]:
        """``count`` containers of one function, forked from one template."""
        template = ContainerTemplate(entry, function_name, timeout_seconds, environment, log_dir)
        return [cls(template) for _ in range(count)]

    async def start(self) -> None:
        self._reader, self._writer, self._pid = await self.template.fork()

    def _running(self) -> bool:
        return self._reader is not None and not self._reader.at_eof()

    async def invoke(self, event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
        if not self._running():
            await self.start()  # a cold start, as Lambda would make after a crash
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            raise FunctionFailed(f"{self.function_name}: its container is not running")
        request = {"event": event, "requestId": context.aws_request_id}
        writer.write(json.dumps(request).encode() + b"\n")
        try:
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout=self.timeout + 1)
        except TimeoutError:
            await self._kill()
            self.template.log(
                f"{context.aws_request_id} Task timed out after {self.timeout:.2f} seconds"
            )
            raise FunctionFailed(
                f"{self.function_name}: timed out after {self.timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as exc:
            await self._kill()
            self.template.log(f"RequestId: {context.aws_request_id} Error: Runtime exited ({exc})")
            raise FunctionFailed(f"{self.function_name}: its container is gone ({exc})") from None
        if not line:
            await self._kill()
            self.template.log(
                f"RequestId: {context.aws_request_id} Error: Runtime exited without an answer"
            )
            raise FunctionFailed(f"{self.function_name}: its container ended mid-invocation")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise FunctionFailed(f"{self.function_name}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def _kill(self) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        await self._close(within=5.0)

    async def _close(self, within: float) -> None:
        """Close the socket and wait, up to ``within`` seconds, for the container to end (its
        end of the socket closes when it exits)."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if writer is None or reader is None:
            return
        writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            await asyncio.wait_for(reader.read(), within)

    async def stop(self, within: float = 10.0) -> None:
        """Close its socket (the container ends after the invocation it is in) and wait."""
        if self._writer is None:
            return
        if self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()
        reader = self._reader
        try:
            if reader is not None:
                await asyncio.wait_for(reader.read(), within)
        except (TimeoutError, ConnectionError, OSError):
            await self._kill()
            return
        await self._close(within=0)


class CountedLog(io.RawIOBase):
    """The function's log (file descriptor 1), counting the bytes written to it: what
    CloudWatch Logs would ingest from this container."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.write(self._fd, view[done:])
        self.written += done
        return done

    def line(self, text: str) -> None:
        sys.stdout.flush()
        self.write((text + "\n").encode())


class InvocationRecords:
    """One JSON line per invocation in ``invocations.jsonl`` beside the log, and Lambda's own
    platform lines (``START``, ``END``, ``REPORT``) in the log, as Lambda writes them: what the
    cost model (``load.cost``) bills for duration, requests and log bytes."""

    def __init__(self, function_name: str, log: CountedLog, path: Path, init_ms: float):
        self._function = function_name
        self._log = log
        self._path = path
        self._records: int | None = None  # opened at the first invocation, kept open
        self._init_ms: float | None = init_ms
        self.memory_mb = MEMORY_MB.get(function_name, 128)

    @contextlib.contextmanager
    def invocation(self, request_id: str) -> Iterator[None]:
        logged = self._log.written
        self._log.line(f"START RequestId: {request_id} Version: $LATEST")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            duration = (time.perf_counter() - wall) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            sys.stdout.flush()
            used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            init = "" if self._init_ms is None else f"\tInit Duration: {self._init_ms:.2f} ms"
            self._log.line(f"END RequestId: {request_id}")
            self._log.line(
                f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
                f"Billed Duration: {math.ceil(duration)} ms\tMemory Size: {self.memory_mb} MB\t"
                f"Max Memory Used: {used} MB{init}\t"
            )
            record = {
                "function": self._function,
                "requestId": request_id,
                "durationMs": round(duration, 3),
                "cpuMs": round(cpu_ms, 3),
                "memoryMb": self.memory_mb,
                "logBytes": self._log.written - logged,
                "initMs": self._init_ms,
            }
            self._init_ms = None
            if self._records is None:
                self._records = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._records, (json.dumps(record) + "\n").encode())


def _serve(
    handler: Handler,
    function_name: str,
    timeout: float,
    requests: IO[bytes],
    answers: IO[bytes],
    records: InvocationRecords,
) -> None:
    for line in requests:
        request = json.loads(line)
        context = LocalLambdaContext(
            function_name,
            timeout_seconds=timeout,
            memory_limit_in_mb=records.memory_mb,
            aws_request_id=request["requestId"],
        )
        with records.invocation(request["requestId"]):
            try:
                answer: dict[str, Any] = {"result": handler(request["event"], context)}
            except Exception as exc:  # Lambda reports a raising handler as a function error
                # and logs it in the function's log, as one line here (one log event there)
                print(
                    json.dumps(
                        {
                            "level": "ERROR",
                            "requestId": request["requestId"],
                            "errorType": type(exc).__name__,
                            "errorMessage": str(exc),
                            "stackTrace": traceback.format_exception(exc),
                        }
                    ),
                    flush=True,
                )
                answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer).encode() + b"\n")
        answers.flush()


@dataclass(frozen=True)
class Initialised:
    """What a template holds for the containers it forks."""

    handler: Handler
    function_name: str
    timeout: float
    built: Any  # the function object, with SnapStart's hooks, where the entry module has one
    log: CountedLog
    records_path: Path


def _container(path: str, template: Initialised) -> int:
    """A forked container: restore (``after_restore``: a new loop; ``random`` reseeded), then
    serve invocations on the socket at ``path`` until it closes."""
    started = time.perf_counter()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the template's stdin is not this container's
    os.close(null)
    connection = socket.socket(socket.AF_UNIX)
    connection.connect(path)
    random.seed()
    after_restore = getattr(template.built, "after_restore", None)
    if after_restore is not None:
        after_restore()
    requests, answers = connection.makefile("rb"), connection.makefile("wb")
    records = InvocationRecords(
        template.function_name,
        template.log,
        template.records_path,
        (time.perf_counter() - started) * 1000,
    )
    answers.write(f"READY {os.getpid()}\n".encode())
    answers.flush()
    with contextlib.suppress(KeyboardInterrupt, ConnectionError):
        _serve(
            template.handler, template.function_name, template.timeout, requests, answers, records
        )
    return 0


def _fork_containers(template: Initialised) -> None:
    """One container per socket path read on stdin, until stdin closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the containers
    for line in sys.stdin.buffer:
        path = line.decode().strip()
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            code = 1
            try:
                code = _container(path, template)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """The template of one function (``ContainerTemplate``): initialise, then fork."""
    entry, function_name, timeout, log_file = sys.argv[1:] if argv is None else argv
    # Answers go out on the original stdout; everything the function prints (its log lines,
    # its EMF metrics) goes to the log file, one whole line per write.
    answers = os.fdopen(os.dup(1), "wb")
    log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.close(log)
    counted = CountedLog(1)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(counted), encoding="utf-8", line_buffering=True)
    module_name, attribute = entry.split(":")
    client_costs.install()
    # The function's name in its AWS calls' User-Agent (``app/NAME``): the emulator's usage
    # meter counts each function's calls apart. Set by the local stack only, never on Lambda.
    os.environ[APP_ID_VARIABLE] = function_name
    try:
        module = importlib.import_module(module_name)
        handler: Handler = getattr(module, attribute)
        # The entry modules read and check their configuration once per container; doing it
        # now makes a bad variable fail the start, named, rather than every invocation.
        cold_start = getattr(module, "function_from_environment", None)
        built = cold_start() if cold_start is not None else None
        before_snapshot = getattr(built, "before_snapshot", None)
        if before_snapshot is not None:
            before_snapshot()
    except Exception as exc:
        traceback.print_exc()
        answers.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        answers.flush()
        return 1
    template = Initialised(
        handler,
        function_name,
        float(timeout),
        built,
        counted,
        Path(log_file).with_name(INVOCATIONS_FILE),
    )
    answers.write(READY)
    # Closed now, so that no container forked later holds the pipe open: orders up's end of it
    # would stay open until the last container ended (one outlived orders up's event loop).
    answers.close()
    with contextlib.suppress(KeyboardInterrupt):
        _fork_containers(template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
