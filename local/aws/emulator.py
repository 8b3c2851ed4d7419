"""The embedded AWS emulator, in a process of its own (``local.aws.server``).

Its own process, not a thread of ``orders up``: moto then does not share an interpreter (and a
GIL) with the API and the consumers calling it.
"""

import socket
import sys
from pathlib import Path

from local.child_process import ChildFailed, ChildProcess


class EmulatorError(RuntimeError):
    pass


class MotoProcess:
    """``url`` is the emulator's main endpoint; ``background_url`` reaches the same emulator
    through the port whose requests yield to the main port's (``local.aws.server``), for
    the consumers. ``module`` is the server run; benchmarks name an older tree's."""

    def __init__(
        self,
        host: str,
        port: int,
        log_path: Path | None = None,
        module: str = "local.aws.server",
    ):
        self.host = host
        self.port = port
        self.background_url = ""
        self._child = ChildProcess(
            "the AWS emulator",
            [
                sys.executable,
                "-m",
                module,
                *("--host", host, "--port", str(port)),
                "--lifeline",
            ],
            log_path,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def _taken(self) -> bool:
        """Something already listens on the port (another emulator, most likely)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self, within: float = 20.0) -> None:
        if self._taken():
            raise EmulatorError(f"port {self.port} already answers; choose another --aws-port")
        try:
            _, self.background_url = self._child.start(within).split()
        except ChildFailed as exc:
            raise EmulatorError(str(exc)) from None

    def stop(self) -> None:
        self._child.stop(timeout=5)
