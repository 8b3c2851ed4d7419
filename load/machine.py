"""What a run cost the machine it ran on: CPU per order by process role, the AWS calls per order
the local emulator counted, and the machine's speed (SPEC §12's reference loop).

Read from outside, as a client may: the processes of ``orders up`` from the process table
(found by the port it serves), the calls from the emulator's ``GET /_emulator/calls``. Nothing
of ``local`` is imported.
"""

import json
import statistics
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import psutil

SAMPLE_SECONDS = 0.5
DEFAULT_PORT = 8000  # orders up's, when its command line names none
ROLES = {  # a word of a process's command line → the role it plays
    "local.aws.server": "emulator",
    "local.emulator_server": "emulator",  # trees before local/ had sub-packages
    "order-api": "API containers",
    "order-publisher": "publisher container",
    "email-consumer": "email containers",
    "audit-consumer": "audit containers",
    "local.lambda_runtime.consumer_fleet": "fleet (pollers, SMTP sink)",
    "local.consumer_fleet": "fleet (pollers, SMTP sink)",
    "local.cli": "front (orders up itself)",
    "orders": "front (orders up itself)",
}


def reference_loop_ms(timings: int = 11) -> float:
    """SPEC §12's machine speed: the time of ``sum(i * i for i in range(2_000_000))``, the median
    of 11 timings (the speed of these machines swings from one second to the next)."""
    samples = []
    for _ in range(timings):
        started = time.perf_counter()
        sum(i * i for i in range(2_000_000))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def role_of(command: list[str]) -> str:
    words = [word.rsplit("/", 1)[-1] for word in command]
    for word in reversed(words):  # a container's function name comes after the module
        if word in ROLES:
            return ROLES[word]
    return "other"


def _serves(command: list[str], port: int) -> bool:
    """``orders up`` (or ``python -m local.cli up``) listening on ``port``."""
    words = [word.rsplit("/", 1)[-1] for word in command]
    if "up" not in words or not ({"orders", "local.cli"} & set(words)):
        return False
    given = words[words.index("--port") + 1] if "--port" in words[:-1] else str(DEFAULT_PORT)
    return given == str(port)


def find_orders_up(port: int) -> int | None:
    """The pid of the ``orders up`` serving the API on ``port`` on this machine, if any."""
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = process.info.get("cmdline") or []
        if _serves(command, port):
            return int(process.info["pid"])
    return None


class CpuSampler:
    """CPU seconds of a process and all below it, by role, sampled in the background (so that
    processes started or ended during the run count too)."""

    def __init__(self, root_pid: int):
        self._root = psutil.Process(root_pid)
        self._start: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return  # the stack is gone: its last samples stand
        for process in processes:
            try:
                times = process.cpu_times()
                role = self._last.get(process.pid, ("", 0.0))[0] or role_of(process.cmdline())
            except psutil.Error:
                continue  # gone while we looked: its last sample stands
            self._last[process.pid] = (role, times.user + times.system)

    def start(self) -> "CpuSampler":
        self._sample()
        self._start = {pid: cpu for pid, (_, cpu) in self._last.items()}
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds spent since ``start``, by role."""
        self._stop.set()
        self._thread.join()
        self._sample()
        spent: dict[str, float] = defaultdict(float)
        for pid, (role, cpu) in self._last.items():
            spent[role] += cpu - self._start.get(pid, 0.0)
        return dict(spent)


def emulator_json(aws_url: str, path: str, timeout: float = 10.0) -> Any:
    """What the local emulator answers at ``path`` (``/_emulator/...``); None where the
    endpoint is not that emulator."""
    try:
        with urllib.request.urlopen(f"{aws_url}{path}", timeout=timeout) as answer:  # noqa: S310 - the user's own endpoint
            return json.load(answer)
    except (OSError, ValueError):
        return None


def emulator_calls(aws_url: str) -> dict[str, int] | None:
    """The AWS calls the local emulator has served, by ``service.Action``; None where the
    endpoint is not that emulator."""
    counts = emulator_json(aws_url, "/_emulator/calls")
    if not isinstance(counts, dict):
        return None
    return {str(name): int(count) for name, count in counts.items()}


@dataclass
class MachineCost:
    """A run's cost on this machine, per order."""

    orders: int
    loop_ms: list[float]  # the reference loop before and after
    cpu_ms_per_order: dict[str, float]
    aws_calls_per_order: dict[str, float]

    @property
    def loop(self) -> float:
        return statistics.median(self.loop_ms)

    @property
    def total_cpu_ms(self) -> float:
        return sum(self.cpu_ms_per_order.values())

    @property
    def busiest(self) -> tuple[str, float] | None:
        return max(self.cpu_ms_per_order.items(), key=lambda item: item[1], default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "loop_ms": self.loop_ms,
            "cpu_ms_per_order": self.cpu_ms_per_order,
            "loops_per_order": {role: ms / self.loop for role, ms in self.cpu_ms_per_order.items()},
            "aws_calls_per_order": self.aws_calls_per_order,
        }

    def lines(self) -> list[str]:
        roles = sorted(self.cpu_ms_per_order.items(), key=lambda item: -item[1])
        lines = [
            f"  this machine: reference loop {self.loop:.0f} ms "
            f"({self.loop_ms[0]:.0f} before, {self.loop_ms[-1]:.0f} after); CPU per order "
            f"{self.total_cpu_ms:.1f} ms = {self.total_cpu_ms / self.loop:.3f} loops",
            "    " + ", ".join(f"{role} {ms:.1f}" for role, ms in roles),
        ]
        if self.aws_calls_per_order:
            calls = sum(self.aws_calls_per_order.values())
            lines.append(
                f"  AWS calls per order (the emulator's count): {calls:.2f}: "
                + ", ".join(
                    f"{name} {count:.2f}"
                    for name, count in sorted(self.aws_calls_per_order.items())
                    if count >= 0.005
                )
            )
        return lines


class MachineMeter:
    """Measures a run of the local stack from outside: start before the load, stop after the
    pipeline has finished."""

    def __init__(self, stack_pid: int, aws_url: str | None):
        self._aws_url = aws_url
        self._loops = [reference_loop_ms()]
        self._calls_before = emulator_calls(aws_url) if aws_url else None
        self._sampler = CpuSampler(stack_pid).start()

    def stop(self, orders: int) -> MachineCost:
        spent = self._sampler.stop()
        calls_after = emulator_calls(self._aws_url) if self._aws_url else None
        self._loops.append(reference_loop_ms())
        per_order = max(orders, 1)
        calls: dict[str, float] = {}
        if self._calls_before is not None and calls_after is not None:
            calls = {
                name: (count - self._calls_before.get(name, 0)) / per_order
                for name, count in calls_after.items()
                if count > self._calls_before.get(name, 0)
            }
        return MachineCost(
            orders=orders,
            loop_ms=self._loops,
            cpu_ms_per_order={role: cpu * 1000 / per_order for role, cpu in spent.items()},
            aws_calls_per_order=calls,
        )
