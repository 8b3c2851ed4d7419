"""The embedded AWS emulator, in a process of its own (``local.aws.server``).

Its own process, not a thread of ``orders up``: moto then does not share an interpreter (and a
GIL) with the API and the consumers calling it.
"""

import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local.child_process import ChildFailed, ChildProcess

STATE_REFUSED = 3  # the emulator's exit code when its saved state cannot be restored


class EmulatorError(RuntimeError):
    pass


@dataclass(frozen=True)
class StateKeeping:
    """The emulator keeps its state in ``state`` across restarts (``local.aws.state_file``),
    saved every ``save_every`` seconds and as it stops, with the outbox reader's position."""

    state: Path
    save_every: float = 5.0
    stream_position: Path | None = None

    def arguments(self) -> list[str]:
        position = ["--stream-position", str(self.stream_position)] if self.stream_position else []
        return ["--state", str(self.state), "--save-every", f"{self.save_every:g}", *position]


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
        keeping: StateKeeping | None = None,
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
                *(keeping.arguments() if keeping else ()),
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

    def start(self, within: float = 60.0, on_line: Callable[[str], None] | None = None) -> None:
        """``within``: restoring a large saved state takes seconds. ``on_line`` gets what the
        emulator says (what it restored, a save that failed)."""
        if self._taken():
            raise EmulatorError(f"port {self.port} already answers; choose another --aws-port")
        try:
            _, self.background_url = self._child.start(within, on_line).split()
        except ChildFailed as exc:
            if exc.returncode == STATE_REFUSED:  # its one line says what to do
                raise EmulatorError(exc.last_words.removeprefix("emulator: ")) from None
            raise EmulatorError(str(exc)) from None

    def stop(self, timeout: float = 60.0) -> None:
        """``timeout``: it saves its state before it exits."""
        self._child.stop(timeout=timeout)
