"""Memory over a run (``orders load soak``): every process's resident memory each second, by
role, and whether any of it grew beyond the data the run stored.

Read from outside, as ``load.machine`` reads CPU: the processes of ``orders up`` from the
process table, the emulator's data from its ``GET /_emulator/memory`` (what the pipeline's
services' data takes in it, ``local.aws.held_bytes``), asked twice: when the warm-up ends
and when the load does. From the warm-up's end to the run's end, a process's RSS may grow by
at most ``max_growth`` of itself, the emulator's once the growth of its data is taken out:
more is memory kept for every order that no table or queue holds, which would grow for as long
as ``orders up`` runs.
"""

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from load.machine import emulator_json, role_of
from load.verdict import VALID_POSTS, Sample, percentile

SAMPLE_SECONDS = 1.0
EMULATOR = "emulator"
# The name of a forked copy of the emulator, saving its state or measuring its data
# (``local.aws.forked_copy``): left out of the samples.
EMULATOR_COPY = "emulator-copy"
MB = 1024 * 1024
# The p95 may drift this much (a share, and at least this many ms) before it counts.
P95_NOISE_MS = 10.0


def warm_up_seconds(run_seconds: float) -> float:
    """The start left out: caches, pools and the collector settle (a minute at most)."""
    return min(60.0, run_seconds / 5)


@dataclass
class EmulatorMemory:
    """The emulator's own account (``GET /_emulator/memory``): the data its services hold,
    and its allocators' live and free bytes (``local.aws.allocators``)."""

    held: int
    allocators: dict[str, dict[str, int]]

    def allocated(self, allocator: str, *kinds: str) -> int | None:
        counts = self.allocators.get(allocator) or {}
        if not all(isinstance(counts.get(kind), int) for kind in kinds):
            return None
        return sum(counts[kind] for kind in kinds)


# (label, allocator, kinds): the parts of the emulator's growth, as its allocators count them
ALLOCATOR_PARTS = (
    ("objects (pymalloc)", "pymalloc", ("live",)),
    ("free in pymalloc's arenas", "pymalloc", ("free_blocks", "unused_pools")),
    ("large blocks (glibc)", "glibc", ("live", "mapped")),
    ("free in glibc's heap", "glibc", ("free",)),
)


def _emulator_memory(aws_url: str | None) -> EmulatorMemory | None:
    # Walked in a forked copy at a low priority: seconds under load.
    answer = emulator_json(aws_url, "/_emulator/memory", timeout=300) if aws_url else None
    if not isinstance(answer, dict) or not isinstance(answer.get("held_bytes"), dict):
        return None
    allocators = {
        name: {k: v for k, v in counts.items() if isinstance(v, int)}
        for name in ("pymalloc", "glibc")
        if isinstance(counts := answer.get(name), dict)
    }
    return EmulatorMemory(sum(int(v) for v in answer["held_bytes"].values()), allocators)


@dataclass
class RoleGrowth:
    role: str
    start_bytes: float
    end_bytes: float
    data_bytes: float = 0.0  # what the data grew by (the emulator's), taken out

    @property
    def net_bytes(self) -> float:
        return self.end_bytes - self.start_bytes - self.data_bytes

    @property
    def share(self) -> float:
        return self.net_bytes / self.start_bytes if self.start_bytes else 0.0


@dataclass
class MemoryTrend:
    """The samples (seconds into the run, RSS by role) and the growth from the warm-up's end."""

    seconds: list[float]
    rss: dict[str, list[float]]  # bytes, one per sample (nan before a role appeared)
    warm_up: float
    growth: list[RoleGrowth] = field(default_factory=list)
    orders: int = 0  # accepted between the warm-up's end and the run's end
    emulator_start: EmulatorMemory | None = None
    emulator_end: EmulatorMemory | None = None

    @property
    def held_start(self) -> int | None:
        return self.emulator_start.held if self.emulator_start else None

    @property
    def held_end(self) -> int | None:
        return self.emulator_end.held if self.emulator_end else None

    def allocator_growth(self) -> dict[str, int]:
        """Each part of the emulator's growth after the warm-up, in bytes."""
        start, end = self.emulator_start, self.emulator_end
        if start is None or end is None:
            return {}
        growth = {}
        for label, allocator, kinds in ALLOCATOR_PARTS:
            before, after = start.allocated(allocator, *kinds), end.allocated(allocator, *kinds)
            if before is not None and after is not None:
                growth[label] = after - before
        return growth

    def failures(self, max_growth: float) -> list[str]:
        return [
            f"{g.role} memory grew {g.net_bytes / MB:.1f} MB ({g.share:.1%}) beyond "
            f"{'its data' if g.role == EMULATOR else 'its start'} after the warm-up "
            f"(at most {max_growth:.0%})"
            for g in self.growth
            if g.share > max_growth
        ]

    def lines(self) -> list[str]:
        lines = [
            f"  memory after the warm-up ({self.warm_up:.0f} s), {self.orders} orders: "
            + ", ".join(
                f"{g.role} {g.start_bytes / MB:.0f} -> {g.end_bytes / MB:.0f} MB"
                + (f" (data {g.data_bytes / MB:+.1f} MB)" if g.data_bytes else "")
                + f", {g.share:+.1%}"
                for g in self.growth
            )
        ]
        emulator = next((g for g in self.growth if g.role == EMULATOR), None)
        if emulator is not None and self.orders and self.held_start is not None:
            lines.append(
                f"  emulator: {emulator.data_bytes / self.orders:.0f} bytes of data an order, "
                f"{emulator.net_bytes / self.orders:+.0f} bytes beyond it"
            )
            if parts := self.allocator_growth():
                lines.append(
                    "  the emulator's growth as its allocators count it, an order: "
                    + ", ".join(
                        f"{label} {grew / self.orders:+.0f} B" for label, grew in parts.items()
                    )
                )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "warm_up_seconds": self.warm_up,
            "orders": self.orders,
            "held_bytes": [self.held_start, self.held_end],
            "allocator_growth_bytes": self.allocator_growth(),
            "growth": [
                {**vars(g), "net_bytes": g.net_bytes, "share": g.share} for g in self.growth
            ],
        }


class RssSampler:
    """RSS by role each second in the background, from ``start`` until ``stop``."""

    def __init__(self, root_pid: int, aws_url: str | None, warm_up: float):
        self._root = psutil.Process(root_pid)
        self._aws_url = aws_url
        self._warm_up = warm_up
        self._roles: dict[int, str] = {}
        self._samples: list[tuple[float, dict[str, float]]] = []
        self._emulator_start: EmulatorMemory | None = None
        self._marked: int | None = None  # the sample at the warm-up's end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = 0.0

    def _sample(self) -> None:
        by_role: dict[str, float] = defaultdict(float)
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return  # the stack is gone
        emulators = {pid for pid, role in self._roles.items() if role == EMULATOR}
        for process in processes:
            try:
                if process.name() == EMULATOR_COPY or process.ppid() in emulators:
                    continue  # a copy: its pages are the emulator's, shared
                role = self._roles.get(process.pid) or role_of(process.cmdline())
                by_role[role] += process.memory_info().rss
            except psutil.Error:
                continue  # gone while we looked
            self._roles[process.pid] = role
        self._samples.append((time.monotonic() - self._began, dict(by_role)))

    def start(self) -> "RssSampler":
        self._began = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()
            if self._marked is None and self._samples[-1][0] >= self._warm_up:
                self._emulator_start = _emulator_memory(self._aws_url)
                self._marked = len(self._samples) - 1

    def stop(self, orders_after_warm_up: int) -> MemoryTrend:
        self._stop.set()
        self._thread.join()
        self._sample()  # before the emulator measures its data on a forked copy
        emulator_end = _emulator_memory(self._aws_url)
        roles = sorted({role for _, sample in self._samples for role in sample})
        trend = MemoryTrend(
            seconds=[t for t, _ in self._samples],
            rss={r: [s.get(r, float("nan")) for _, s in self._samples] for r in roles},
            warm_up=self._warm_up,
            orders=orders_after_warm_up,
            emulator_start=self._emulator_start,
            emulator_end=emulator_end,
        )
        if self._marked is None:
            return trend  # the run ended within its warm-up: nothing to compare
        start, end = self._samples[self._marked][1], self._samples[-1][1]
        data = (
            trend.held_end - trend.held_start
            if trend.held_end is not None and trend.held_start is not None
            else 0
        )
        trend.growth = [
            RoleGrowth(role, start[role], end[role], data if role == EMULATOR else 0.0)
            for role in roles
            if role in start and role in end
        ]
        return trend


def p95_drift(
    samples: list[Sample], began: float, seconds: float, warm_up: float
) -> tuple[float, float] | None:
    """The accepted POSTs' p95 (ms) in the first and the last fifth after the warm-up (five
    minutes at most each); None when either has no answer."""
    window = min(300.0, (seconds - warm_up) / 5)

    def p95(start: float) -> float | None:
        return percentile(
            [
                s.ms
                for s in samples
                if s.kind in VALID_POSTS
                and s.status == 200
                and start <= s.started - began < start + window
            ],
            0.95,
        )

    first, last = p95(warm_up), p95(seconds - window)
    return None if first is None or last is None else (first, last)


def drift_failure(drift: tuple[float, float] | None, max_drift: float) -> str | None:
    if drift is None:
        return None
    first, last = drift
    if last > first * max_drift and last - first > P95_NOISE_MS:
        return (
            f"the accepted POSTs' p95 drifted from {first:.1f} ms to {last:.1f} ms "
            f"(first and last fifth after the warm-up; at most {max_drift:g}x)"
        )
    return None


def plot(trend: MemoryTrend, samples: list[Sample], began: float, title: str, out: Path) -> Path:
    """``memory.png``: RSS by role over the run, and the accepted POSTs' p95 per 10 s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from load.plot import finish

    figure, (memory, latency) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    for role, values in sorted(trend.rss.items(), key=lambda item: -max(item[1] or [0.0])):
        memory.plot(trend.seconds, [v / MB for v in values], label=role)
    emulator = next((g for g in trend.growth if g.role == EMULATOR), None)
    if emulator is not None and emulator.data_bytes and trend.seconds:
        # where the emulator would end had it grown by its data alone (measured at both ends)
        memory.plot(
            [trend.warm_up, trend.seconds[-1]],
            [emulator.start_bytes / MB, (emulator.start_bytes + emulator.data_bytes) / MB],
            color="0.3",
            linestyle=":",
            label="emulator at its start + its data",
        )
    memory.axvline(trend.warm_up, color="0.6", linestyle="--", label="end of warm-up")
    memory.set_ylabel("resident memory (MB)")
    memory.legend(loc="upper left", fontsize=8)
    memory.grid(alpha=0.3)
    memory.set_title(title, fontsize=9)
    last = int(trend.seconds[-1]) if trend.seconds else 0
    windows: dict[int, list[float]] = defaultdict(list)
    for sample in samples:
        if sample.kind in VALID_POSTS and sample.status == 200:
            windows[int((sample.started - began) // 10) * 10].append(sample.ms)
    x = [t for t in range(0, last + 1, 10) if windows.get(t)]
    latency.plot(x, [percentile(windows[t], 0.95) or 0.0 for t in x], label="p95 per 10 s")
    latency.plot(x, [statistics.median(windows[t]) for t in x], label="median per 10 s", alpha=0.7)
    return finish(figure, latency, out / "memory.png")
