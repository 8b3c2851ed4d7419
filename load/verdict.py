"""What a load run's requests say: the figures, and whether the scenario's thresholds held.

Pure: the locustfile calls ``judge`` when locust quits (to set its exit code) and writes the
result beside the run's other reports; the tests call it on made-up samples.
"""

import math
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel

from load.scenarios import Scenario

VALID_POSTS = ("order", "retry")
SETTLE_SECONDS = 3.0  # the start of a stage, while the rate changes, is left out of its figures
# What a 429 says in x-amzn-ErrorType: the stage's throttle, or no function container free
# (Lambda's concurrency limit on AWS; on one machine, the machine's capacity).
STAGE_THROTTLE = "ThrottlingException"
CAPACITY_REFUSAL = "TooManyRequestsException"


class Sample(BaseModel):
    """One request: when it started (epoch seconds), what it was, how it ended."""

    started: float
    kind: str  # order | invalid | retry | read
    status: int  # 0: no answer (timeout, refused, dropped)
    ms: float
    order_id: str = ""
    error: str = ""  # a contract the answer broke, or the network failure
    refusal: str = ""  # a 429's x-amzn-ErrorType


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def is_error(sample: Sample) -> bool:
    return sample.status == 0 or sample.status >= 500 or bool(sample.error)


class StageFigures(BaseModel):
    rate: float
    offered: float  # valid POSTs per second, measured
    accepted: float
    throttled: float
    p95_accepted_ms: float | None
    errors: int


class Verdict(BaseModel):
    requests: int
    statuses: dict[str, int]
    accepted: int
    accepted_share: float | None
    accepted_rate: float
    p50_accepted_ms: float | None
    p95_accepted_ms: float | None
    p50_throttled_ms: float | None
    p95_throttled_ms: float | None
    errors: int
    error_examples: list[str]
    stages: list[StageFigures]
    knee: StageFigures | None
    failures: list[str]
    stage_throttled: int = 0  # 429s of the stage's throttle
    capacity_refused: int = 0  # 429s because no container was free
    # Thresholds missed because the containers were all busy, not because of the API: the
    # machine's capacity, below the stage throttle (empty when nothing was refused so).
    capacity_bound: list[str] = []

    @property
    def passed(self) -> bool:
        return not self.failures and not self.capacity_bound


@dataclass
class _Window:
    start: float
    end: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 1e-9)


def _stage_figures(rate: float, window: _Window) -> StageFigures:
    posts = [s for s in window.samples if s.kind in VALID_POSTS]
    accepted = [s.ms for s in posts if s.status == 200]
    return StageFigures(
        rate=rate,
        offered=len(posts) / window.seconds,
        accepted=len(accepted) / window.seconds,
        throttled=sum(s.status == 429 for s in window.samples) / window.seconds,
        p95_accepted_ms=percentile(accepted, 0.95),
        errors=sum(is_error(s) for s in window.samples),
    )


def _stage_windows(samples: list[Sample], scenario: Scenario, began: float) -> list[_Window]:
    windows, offset = [], began
    for stage in scenario.stages:
        settle = min(SETTLE_SECONDS, stage.seconds / 4)
        windows.append(_Window(offset + settle, offset + stage.seconds))
        offset += stage.seconds
    for sample in samples:
        for window in windows:
            if window.start <= sample.started < window.end:
                window.samples.append(sample)
    return windows


def judge(samples: list[Sample], scenario: Scenario, began: float) -> Verdict:
    """The run's figures and the thresholds it missed (``began``: when the first user started)."""
    posts = [s for s in samples if s.kind in VALID_POSTS]
    accepted = [s.ms for s in posts if s.status == 200]
    throttled = [s.ms for s in samples if s.status == 429]
    errors = [s for s in samples if is_error(s)]
    windows = _stage_windows(samples, scenario, began)
    stages = [
        _stage_figures(stage.rate, window)
        for stage, window in zip(scenario.stages, windows, strict=True)
    ]
    served = [
        figures
        for figures in stages
        if figures.errors == 0 and figures.offered and figures.accepted >= 0.95 * figures.offered
    ]
    steady = [sample for window in windows for sample in window.samples]
    steady_seconds = sum(w.seconds for w in windows)
    verdict = Verdict(
        requests=len(samples),
        statuses={
            str(status or "no answer"): count
            for status, count in sorted(Counter(s.status for s in samples).items())
        },
        accepted=len(accepted),
        accepted_share=len(accepted) / len(posts) if posts else None,
        accepted_rate=sum(s.kind in VALID_POSTS and s.status == 200 for s in steady)
        / steady_seconds,
        p50_accepted_ms=percentile(accepted, 0.5),
        p95_accepted_ms=percentile(accepted, 0.95),
        p50_throttled_ms=percentile(throttled, 0.5),
        p95_throttled_ms=percentile(throttled, 0.95),
        errors=len(errors),
        error_examples=sorted({s.error or f"HTTP {s.status or 'no answer'}" for s in errors})[:5],
        stages=stages,
        knee=served[-1] if served and len(stages) > 1 else None,
        failures=[],
        stage_throttled=sum(s.status == 429 and s.refusal == STAGE_THROTTLE for s in samples),
        capacity_refused=sum(s.status == 429 and s.refusal == CAPACITY_REFUSAL for s in samples),
    )
    for machine_bound, line in _missed(verdict, scenario):
        if machine_bound and verdict.capacity_refused:
            verdict.capacity_bound.append(line)
        else:
            verdict.failures.append(line)
    return verdict


def _missed(verdict: Verdict, scenario: Scenario) -> list[tuple[bool, str]]:
    """The thresholds missed, each with whether a machine short of capacity misses it too (how
    much is accepted, how fast it and the refusals are answered); errors and "no order was
    accepted" are failures on any machine."""
    limits = scenario.thresholds
    missed: list[tuple[bool, str]] = []
    if verdict.errors > limits.max_errors:
        missed.append(
            (
                False,
                f"{verdict.errors} errors (5xx, timeouts, dropped connections or wrong answers; "
                f"at most {limits.max_errors}): {'; '.join(verdict.error_examples)}",
            )
        )
    if verdict.accepted == 0:
        missed.append((False, "no order was accepted"))
    share, got = limits.min_accepted_share, verdict.accepted_share
    if share is not None and got is not None and got < share:
        missed.append((True, f"accepted {got:.2%} of the orders (at least {share:.0%})"))
    limit, p95 = limits.max_p95_accepted_ms, verdict.p95_accepted_ms
    if limit is not None and p95 is not None and p95 > limit:
        missed.append((True, f"accepted orders' p95 {p95:.1f} ms (at most {limit:g} ms)"))
    limit, p95 = limits.max_p95_throttled_ms, verdict.p95_throttled_ms
    if limit is not None and p95 is not None and p95 > limit:
        missed.append((True, f"429 answers' p95 {p95:.1f} ms (at most {limit:g} ms)"))
    if limits.accepted_rate is not None:
        expected, tolerance = limits.accepted_rate
        if abs(verdict.accepted_rate - expected) > tolerance * expected:
            missed.append(
                (
                    True,
                    f"accepted {verdict.accepted_rate:.1f} orders/s "
                    f"(expected {expected:g}/s ± {tolerance:.0%})",
                )
            )
    return missed
