"""``orders up`` as a child process, the way a user runs it, for e2e tests and benchmarks."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.moto_server import free_port

ROOT = Path(__file__).resolve().parents[2]
# One container per function and one poller per queue: for tests whose subject is not
# concurrency. It boots on about half the CPU of the default stack (9 containers).
ONE_OF_EACH = ("--containers", "1", "--pollers", "1")


@dataclass
class StackProcess:
    process: "subprocess.Popen[str]"
    api: str
    lines: list[str]

    @property
    def ready_line(self) -> str:
        return self.lines[-1]

    def stop(self, timeout: float = 30.0) -> tuple[int, str, float]:
        """SIGTERM, then (exit code, remaining output, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, output, time.monotonic() - started


def start_orders_up(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    within: float = 60.0,
    api_port: int | None = None,
    root: Path = ROOT,
) -> StackProcess:
    """Start ``orders up`` with ``args`` on ``api_port`` (default: a free one) and wait for its
    ``ready:`` line; ``root``: the source tree it runs from (another checkout, for A/B runs)."""
    api_port = api_port or free_port()
    environment = {**(env if env is not None else os.environ), "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.cli", "up", "--port", str(api_port), *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("ready: "):
            return StackProcess(process, f"http://127.0.0.1:{api_port}", lines)
    process.kill()
    raise AssertionError("orders up did not become ready:\n" + "\n".join(lines))


def start_with_emulator(cwd: Path, *args: str) -> tuple[StackProcess, str]:
    """``orders up`` with an emulator of its own on a free port (whatever ``AWS_ENDPOINT_URL``
    says) and its outbox under ``cwd``: (the stack, the emulator's URL)."""
    aws_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    started = start_orders_up(
        cwd, "--aws-port", str(aws_port), "--outbox", str(cwd / "outbox"), *args, env=env
    )
    return started, f"http://127.0.0.1:{aws_port}"


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def function_containers(root: int, entry: str) -> list[int]:
    """Pids of the running containers of one function (its entry point, ``module:attribute``)
    below ``root``: the processes forked from its template, which has the same command line."""

    def runs(pid: int) -> bool:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return b"local.lambda_runtime.container" in command and entry.encode() in command

    def parent(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0

    return [pid for pid in descendants(root) if runs(pid) and runs(parent(pid))]
