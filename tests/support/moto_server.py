"""A real moto server on a free loopback port, for tests that talk to AWS over HTTP."""

import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def use_local_credentials() -> None:
    """Credentials and a region for a local moto or emulator (which take any), where the
    environment names none: the benchmarks call this before they start a stack."""
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        os.environ.setdefault(name, value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DynamoDbOneAtATime:
    """moto's application, its DynamoDB calls one at a time.

    moto checks a write's condition and then writes, in two steps; DynamoDB does both at once.
    On moto's threaded server two conditional writes of one key could both pass their check
    (seen: the email ledger claimed twice by two copies of one message in one batch, on a busy
    machine). The emulator of ``orders up`` serves every call one at a time; here only DynamoDB
    calls are, so that SQS long polls still wait side by side."""

    def __init__(self, app: Any):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            result: Iterable[bytes] = self._app(environ, start_response)
            return result
        with self._lock:
            return list(self._app(environ, start_response))


class _Server(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = DynamoDbOneAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class MotoServer:
    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = free_port()
        self._server = _Server(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
