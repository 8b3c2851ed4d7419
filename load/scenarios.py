"""The load scenarios: what each offers the API over time, the mix of requests, and the
thresholds that decide its exit code (SPEC §12)."""

from pydantic import BaseModel, ConfigDict, Field

THROTTLE = 100.0  # the stage throttling of the deployed API and of `orders up`, requests/s


class Stage(BaseModel):
    model_config = ConfigDict(frozen=True)

    seconds: float = Field(gt=0)
    rate: float = Field(gt=0, description="tasks started per second")


class Mix(BaseModel):
    """Shares of the tasks; a retry task is two POSTs with one Idempotency-Key."""

    model_config = ConfigDict(frozen=True)

    order: float = 1.0
    invalid: float = 0.0
    retry: float = 0.0
    read: float = 0.0

    def sequence(self, length: int = 20) -> list[str]:
        """``length`` task kinds in their shares, interleaved (smooth weighted round robin), so
        that even a short run does every kind: drawn at random, a few seconds of ``smoke``
        sometimes had no invalid body at all."""
        weights = {"order": self.order, "invalid": self.invalid, "retry": self.retry}
        weights["read"] = self.read
        total = sum(weights.values())
        credit = dict.fromkeys(weights, 0.0)
        kinds = []
        for _ in range(length):
            for kind, weight in weights.items():
                credit[kind] += weight
            chosen = max(credit, key=lambda kind: credit[kind])
            credit[chosen] -= total
            kinds.append(chosen)
        return kinds


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Of the valid POSTs, the share answered 200.
    min_accepted_share: float | None = None
    max_p95_accepted_ms: float | None = None
    max_p95_throttled_ms: float | None = None
    # Accepted POSTs per second over the steady part of the run: (expected, tolerance share).
    accepted_rate: tuple[float, float] | None = None
    # Errors: 5xx, timeouts, dropped connections, and answers that contradict the API's
    # contract (an invalid body accepted, a retry creating a second order, a stored order not
    # found). Any is a failure.
    max_errors: int = 0
    # Every accepted order stored, emailed and audited within this long after the run.
    completion_seconds: float = 180.0
    # After the warm-up, how much any process's resident memory may grow, as a share of itself
    # (the emulator's once its data's growth is taken out: ``load.memory``).
    max_memory_growth: float | None = None
    # How far the accepted POSTs' p95 may drift, last fifth of the run over the first.
    max_p95_drift: float | None = None


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    stages: tuple[Stage, ...]
    mix: Mix = Mix()
    thresholds: Thresholds = Thresholds()

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def rate_at(self, elapsed: float) -> float | None:
        """The rate offered ``elapsed`` seconds in; None once the scenario is over."""
        for stage in self.stages:
            if elapsed < stage.seconds:
                return stage.rate
            elapsed -= stage.seconds
        return None

    def constant(self, rate: float | None, seconds: float | None) -> "Scenario":
        """This scenario at another single rate or duration (for ``--rate``/``--duration``)."""
        if rate is None and seconds is None:
            return self
        stage = Stage(seconds=seconds or self.stages[0].seconds, rate=rate or self.stages[0].rate)
        return self.model_copy(update={"stages": (stage,)})


def _ramp(start: float, step: float, top: float, seconds: float) -> tuple[Stage, ...]:
    count = int((top - start) / step) + 1
    return tuple(Stage(seconds=seconds, rate=start + n * step) for n in range(count))


def scenarios(throttle: float = THROTTLE) -> dict[str, Scenario]:
    return {
        scenario.name: scenario
        for scenario in (
            Scenario(
                name="steady",
                description="half the throttle for 60 s: every order accepted, quickly",
                stages=(Stage(seconds=60, rate=throttle / 2),),
                thresholds=Thresholds(min_accepted_share=1.0, max_p95_accepted_ms=50),
            ),
            Scenario(
                name="throttle",
                description="at the throttle for 60 s: at least 99 % accepted, p95 <= 100 ms",
                stages=(Stage(seconds=60, rate=throttle),),
                thresholds=Thresholds(min_accepted_share=0.99, max_p95_accepted_ms=100),
            ),
            Scenario(
                name="double",
                description="twice the throttle for 60 s: the throttle's rate accepted, the "
                "rest refused with fast 429s",
                stages=(Stage(seconds=60, rate=2 * throttle),),
                thresholds=Thresholds(accepted_rate=(throttle, 0.1), max_p95_throttled_ms=50),
            ),
            Scenario(
                name="ramp",
                description="a step every 15 s, from a quarter of the throttle to three times "
                "it: the knee is the last step still served in full (run `orders up` with a "
                "higher --rate to find the stack's own)",
                stages=_ramp(throttle / 4, throttle / 4, 3 * throttle, 15),
                # Past the knee the consumers fall behind by design: give them time to drain.
                thresholds=Thresholds(completion_seconds=900),
            ),
            Scenario(
                name="mix",
                description="half the throttle for 60 s: 70 % orders, 10 % invalid bodies, "
                "10 % retries with one Idempotency-Key, 10 % reads of accepted orders",
                stages=(Stage(seconds=60, rate=throttle / 2),),
                mix=Mix(order=0.7, invalid=0.1, retry=0.1, read=0.1),
                thresholds=Thresholds(max_p95_accepted_ms=100),
            ),
            Scenario(
                name="soak",
                description="a fifth of the throttle for 30 min (about half of what a 2-core "
                "machine of this kind sustains end to end): no process's memory grows beyond "
                "the data, the p95 does not drift (shorter with --duration)",
                stages=(Stage(seconds=1800, rate=throttle / 5),),
                thresholds=Thresholds(
                    min_accepted_share=0.99, max_memory_growth=0.10, max_p95_drift=1.5
                ),
            ),
            Scenario(
                name="smoke",
                description="a few seconds of every kind of request at a low rate",
                stages=(Stage(seconds=5, rate=8),),
                mix=Mix(order=0.5, invalid=0.2, retry=0.2, read=0.1),
                thresholds=Thresholds(completion_seconds=60),
            ),
        )
    }
