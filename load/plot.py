"""The run over time, as a PNG: answers per second by kind (accepted, 429, errors) above, and
the accepted orders' p50/p95 latency per second below, with the scenario's offered rate."""

import csv
import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib
from pydantic import ValidationError

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from load.scenarios import Scenario
from load.verdict import VALID_POSTS, Sample, is_error, percentile


class SamplesUnreadable(ValueError):
    """A line of the run's samples is not one (the file cut short, or written to twice)."""


def read_samples(path: Path) -> list[Sample]:
    samples = []
    with path.open(encoding="utf-8", newline="") as stream:
        rows = csv.DictReader(stream)
        for row in rows:
            try:
                samples.append(Sample.model_validate(row))
            except ValidationError as exc:
                fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
                raise SamplesUnreadable(
                    f"{path}, line {rows.line_num}, is not a sample ({fields}): "
                    "was the run cut short, or did two runs write to the same --out?"
                ) from None
    return samples


def timeline(samples: list[Sample], scenario: Scenario, began: float, out: Path) -> Path:
    seconds = int(scenario.seconds)  # whole seconds: a last partial one would mislead
    accepted, throttled, errors = [0] * seconds, [0] * seconds, [0] * seconds
    latencies: dict[int, list[float]] = defaultdict(list)
    for sample in samples:
        second = int(sample.started - began)
        if not 0 <= second < seconds:
            continue
        if is_error(sample):
            errors[second] += 1
        elif sample.status == 429:
            throttled[second] += 1
        elif sample.status == 200 and sample.kind in VALID_POSTS:
            accepted[second] += 1
            latencies[second].append(sample.ms)
    x = list(range(seconds))
    offered = [scenario.rate_at(t + 0.5) or 0.0 for t in x]
    figure, (rates, latency) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    rates.plot(x, offered, color="0.6", linestyle="--", label="offered (tasks/s)")
    rates.plot(x, accepted, color="tab:green", label="accepted (200)/s")
    rates.plot(x, throttled, color="tab:orange", label="throttled (429)/s")
    if any(errors):
        rates.plot(x, errors, color="tab:red", label="errors/s")
    rates.set_ylabel("requests per second")
    rates.legend(loc="upper left")
    rates.grid(alpha=0.3)
    title = textwrap.fill(f"orders load {scenario.name}: {scenario.description}", width=110)
    rates.set_title(title, fontsize=9)
    p50 = [percentile(latencies[t], 0.5) for t in x]
    p95 = [percentile(latencies[t], 0.95) for t in x]
    latency.plot(x, [v if v is not None else float("nan") for v in p50], label="p50")
    latency.plot(x, [v if v is not None else float("nan") for v in p95], label="p95")
    return finish(figure, latency, out / "timeline.png")


def finish(figure: Figure, latency: Axes, path: Path) -> Path:
    """The latency panel's labels, then the figure written to ``path`` as a PNG."""
    latency.set_ylabel("accepted POST /order latency (ms)")
    latency.set_xlabel("seconds into the run")
    latency.legend(loc="upper left")
    latency.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
