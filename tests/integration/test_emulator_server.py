"""The emulator server over real HTTP: the API's port served first, requests one at a time, a
long poll whose client left gives its messages back, and the start-up guard against a moto
version its SQS indexes were not written for."""

import asyncio
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from local.aws.emulator import EmulatorError, MotoProcess
from local.aws.server import EmulatorServer
from local.aws.sqs_indexes import UnsupportedMoto, check_moto_version
from local.aws.turns import Turns
from tests.support.commands import run
from tests.support.moto_server import free_port


class SlowApp:
    """A WSGI app taking 20 ms per request, noting who ran when and whether two overlapped."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.running = 0
        self.overlapped = False
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            self.running += 1
            self.overlapped |= self.running > 1
        time.sleep(0.02)
        with self._lock:
            self.running -= 1
            self.order.append(environ["PATH_INFO"].strip("/"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]


class ServerThread:
    """The server on an event loop of its own, as in its own process: the client's loop must
    not be the one the server blocks while it runs a request."""

    def __init__(self, app: Any):
        self.server = EmulatorServer(app, Turns(), "127.0.0.1", 0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> EmulatorServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self.server

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def test_a_foreground_request_runs_before_queued_background_ones() -> None:
    app = SlowApp()
    with ServerThread(app) as server:
        async with aiohttp.ClientSession() as http:

            async def get(port: int, name: str) -> str:
                async with http.get(f"http://127.0.0.1:{port}/{name}") as response:
                    return await response.text()

            await get(server.port, "warm")  # the API keeps its connections: so does this client
            background = [
                asyncio.create_task(get(server.background_port, f"bg{n}")) for n in range(8)
            ]
            await asyncio.sleep(0.03)  # the first background one is running, the rest wait
            answers = await asyncio.gather(get(server.port, "fg"), *background)
    assert answers == ["done"] * 9
    app.order.remove("warm")
    assert app.order.index("fg") <= 2, app.order
    assert not app.overlapped


def test_the_guard_names_the_versions_it_was_written_for() -> None:
    check_moto_version("5.2.5")
    with pytest.raises(UnsupportedMoto, match=r"moto 5\.2\.5's SQS, but moto 5\.3\.0 is installed"):
        check_moto_version("5.3.0")


def test_the_emulator_refuses_to_start_on_another_moto_version() -> None:
    port = free_port()
    code = (
        "import sys, moto; moto.__version__ = '9.9.9'\n"
        "from local.aws.server import main\n"
        f"sys.exit(main(['--port', '{port}']))\n"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 2
    assert "moto 9.9.9 is installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_already_taken_is_a_clear_error() -> None:
    first = MotoProcess("127.0.0.1", free_port())
    first.start()
    try:
        with pytest.raises(EmulatorError, match="already answers"):
            MotoProcess("127.0.0.1", first.port).start()
    finally:
        first.stop()


def test_a_long_poll_whose_client_left_gives_its_messages_back_at_once() -> None:
    """A poller that stops cancels its long poll, but moto's receive goes on and takes the next
    message: the emulator makes it visible again at once, not after the visibility timeout."""
    emulator = MotoProcess("127.0.0.1", free_port())
    emulator.start()
    try:
        client = boto3.client("sqs", endpoint_url=emulator.url, region_name="us-east-1")
        url = client.create_queue(QueueName="left", Attributes={"VisibilityTimeout": "60"})[
            "QueueUrl"
        ]
        impatient = boto3.client(
            "sqs",
            endpoint_url=emulator.url,
            region_name="us-east-1",
            config=Config(read_timeout=1, retries={"total_max_attempts": 1}),
        )
        with pytest.raises(ReadTimeoutError):
            impatient.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        impatient.close()  # the connection goes; moto's long poll is still waiting
        client.send_message(QueueUrl=url, MessageBody="taken by a poll no one reads")

        started = time.monotonic()
        got: list[dict[str, Any]] = []
        while not got and time.monotonic() - started < 20:
            got = client.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        assert [m["Body"] for m in got] == ["taken by a poll no one reads"]
        assert time.monotonic() - started < 20  # not the queue's 60 s visibility timeout
    finally:
        emulator.stop()
