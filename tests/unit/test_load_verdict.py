"""The load harness's judgement of a run, from made-up requests (pure: no locust, no HTTP)."""

import argparse
from collections import Counter

import pytest

from load import cli as load_cli
from load.machine import MachineCost, find_orders_up, role_of
from load.runner import busy_lines, capacity_lines
from load.scenarios import Mix, Scenario, Stage, Thresholds, scenarios
from load.verdict import CAPACITY_REFUSAL, STAGE_THROTTLE, Sample, judge, percentile

BEGAN = 1_000_000.0


def run(
    seconds: int,
    rate: int,
    status: int = 200,
    ms: float = 10.0,
    kind: str = "order",
    start: float = 0.0,
    refusal: str = "",
) -> list[Sample]:
    """``rate`` requests a second for ``seconds``, evenly spread, all answered alike."""
    return [
        Sample(
            started=BEGAN + start + n / rate,
            kind=kind,
            status=status,
            ms=ms,
            order_id=f"o{start}-{n}" if status == 200 else "",
            refusal=refusal,
        )
        for n in range(seconds * rate)
    ]


def scenario(thresholds: Thresholds, *stages: tuple[float, float]) -> Scenario:
    return Scenario(
        name="t",
        description="test",
        stages=tuple(Stage(seconds=s, rate=r) for s, r in stages or ((20, 50),)),
        thresholds=thresholds,
    )


def test_a_clean_run_passes_with_its_figures() -> None:
    samples = run(20, 50, ms=12.0)
    verdict = judge(samples, scenario(Thresholds(min_accepted_share=1.0)), BEGAN)
    assert verdict.passed
    assert verdict.accepted == 1000
    assert verdict.accepted_rate == pytest.approx(50, rel=0.02)
    assert verdict.p95_accepted_ms == 12.0
    assert verdict.statuses == {"200": 1000}


@pytest.mark.parametrize(
    ("thresholds", "extra", "missed"),
    [
        (Thresholds(min_accepted_share=0.99), run(20, 1, status=429), "accepted 98.04%"),
        (Thresholds(max_p95_accepted_ms=50), run(20, 5, ms=80.0), "p95 80.0 ms (at most 50 ms)"),
        (
            Thresholds(max_p95_throttled_ms=50),
            run(20, 10, status=429, ms=120.0),
            "429 answers' p95 120.0 ms",
        ),
        (Thresholds(), run(1, 1, status=502), "1 errors"),
        (Thresholds(), run(1, 1, status=0), "no answer"),
        (Thresholds(accepted_rate=(100.0, 0.1)), [], "accepted 50.0 orders/s (expected 100/s"),
    ],
)
def test_each_threshold_fails_the_run_with_a_reason(
    thresholds: Thresholds, extra: list[Sample], missed: str
) -> None:
    verdict = judge(run(20, 50) + extra, scenario(thresholds), BEGAN)
    assert not verdict.passed
    assert any(missed in failure for failure in verdict.failures), verdict.failures


def test_a_wrong_answer_is_an_error_even_with_a_2xx_or_4xx_status() -> None:
    wrong = Sample(
        started=BEGAN + 1, kind="invalid", status=200, ms=5, error="an invalid body answered 200"
    )
    verdict = judge([*run(20, 10), wrong], scenario(Thresholds()), BEGAN)
    assert verdict.errors == 1
    assert "an invalid body answered 200" in verdict.failures[0]


def test_nothing_accepted_fails() -> None:
    verdict = judge(run(5, 10, status=429, ms=1), scenario(Thresholds()), BEGAN)
    assert "no order was accepted" in verdict.failures


def test_the_knee_is_the_last_step_served_in_full() -> None:
    samples = (
        run(10, 50)
        + run(10, 100, start=10)
        + run(10, 100, start=20)  # the 150/s step: 100 accepted...
        + run(10, 50, start=20, status=429)  # ...and 50 refused
    )
    verdict = judge(samples, scenario(Thresholds(), (10, 50), (10, 100), (10, 150)), BEGAN)
    assert [round(s.accepted) for s in verdict.stages] == [50, 100, 100]
    assert verdict.knee is not None
    assert verdict.knee.rate == 100


def test_percentiles_are_nearest_rank_and_none_when_empty() -> None:
    assert percentile([], 0.95) is None
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([3.0], 0.5) == 3.0


def test_scenarios_scale_to_the_throttle_and_take_overrides() -> None:
    known = scenarios(throttle=40)
    assert known["steady"].stages[0].rate == 20
    assert known["double"].thresholds.accepted_rate == (40, 0.1)
    assert known["ramp"].stages[-1].rate == 120
    custom = known["throttle"].constant(rate=7, seconds=3)
    assert (custom.stages[0].rate, custom.seconds) == (7, 3)
    assert custom.rate_at(2.9) == 7
    assert custom.rate_at(3.0) is None
    assert Mix().order == 1.0


def test_orders_load_without_its_extra_says_which_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(load_cli, "NEEDS", ("locust", "a_package_that_is_not_installed"))
    code = load_cli.run(argparse.Namespace(scenario="smoke"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "orders load needs a_package_that_is_not_installed: "
        "pip install 'order-pipeline[load]' (or the dev extra)"
    ]


CAPACITY = Thresholds(min_accepted_share=0.99, max_p95_accepted_ms=50, max_p95_throttled_ms=50)


def test_thresholds_missed_for_want_of_containers_are_the_machines_not_the_apis() -> None:
    samples = run(20, 45, ms=80.0) + run(20, 5, status=429, ms=100.0, refusal=CAPACITY_REFUSAL)
    verdict = judge(samples, scenario(CAPACITY), BEGAN)
    assert not verdict.passed
    assert verdict.failures == []
    assert len(verdict.capacity_bound) == 3
    assert (verdict.capacity_refused, verdict.stage_throttled) == (100, 0)
    cost = MachineCost(10, [150.0, 150.0], {"emulator": 30.0, "API containers": 6.0}, {})
    lines = capacity_lines(verdict, 100.0, cost)
    assert "this machine serves about 45 orders/s" in lines[0]
    assert "stage throttle (100/s) was never reached" in lines[0]
    assert "busiest process: emulator, 30.0 CPU-ms per order" in lines[1]


def test_the_stage_throttle_and_errors_stay_failures_whatever_the_capacity() -> None:
    samples = (
        run(20, 45, ms=80.0)
        + run(20, 5, status=429, ms=100.0, refusal=STAGE_THROTTLE)
        + run(1, 1, status=502)
    )
    verdict = judge(samples, scenario(CAPACITY), BEGAN)
    assert verdict.capacity_bound == []
    assert any("errors" in failure for failure in verdict.failures)
    assert any("accepted 89" in failure for failure in verdict.failures)
    with_capacity = judge(
        samples + run(1, 1, status=429, refusal=CAPACITY_REFUSAL, start=5),
        scenario(CAPACITY),
        BEGAN,
    )
    assert any("errors" in failure for failure in with_capacity.failures)
    assert capacity_lines(verdict, 100.0, None) == []


def test_processes_are_told_apart_by_their_command_lines() -> None:
    python = "/repo/.venv/bin/python"
    assert role_of([python, "-m", "local.aws.server", "--port", "4566"]) == "emulator"
    assert role_of([python, "-m", "local.lambda_runtime.container", "api.handler:handler", "order-api",
                    "30", "var/logs/functions.log"]) == "API containers"  # fmt: skip
    assert role_of([python, "/repo/.venv/bin/orders", "up", "--demo"]) == "front (orders up itself)"
    assert role_of(["/usr/bin/bash"]) == "other"


def test_no_orders_up_on_a_port_nothing_serves() -> None:
    assert find_orders_up(1) is None


def test_a_mix_is_done_in_its_shares_every_kind_early() -> None:
    kinds = Mix(order=0.5, invalid=0.2, retry=0.2, read=0.1).sequence()
    assert Counter(kinds) == {"order": 10, "invalid": 4, "retry": 4, "read": 2}
    assert set(kinds[:10]) == {"order", "invalid", "retry", "read"}
    assert Mix().sequence(5) == ["order"] * 5


def test_a_latency_missed_on_a_machine_kept_busy_says_so_and_still_fails() -> None:
    """No capacity refusal: the verdict stays FAIL, and says how busy the stack kept the
    machine when that was most of it."""
    verdict = judge(run(20, 50, ms=80.0), scenario(CAPACITY), BEGAN)
    assert verdict.failures
    assert not verdict.capacity_bound
    busy = MachineCost(10, [200.0, 200.0], {"emulator": 10.0, "email containers": 26.0}, {})
    lines = busy_lines(verdict, busy, cores=2)
    assert lines[0].startswith("  MACHINE: the stack kept 1.8 of this machine's 2 cores busy")
    assert "36.0 CPU-ms an order at 50 orders/s" in lines[0]
    assert "busiest process: email containers, 26.0 CPU-ms per order" in lines[1]
    idle = MachineCost(10, [200.0, 200.0], {"emulator": 10.0}, {})
    assert busy_lines(verdict, idle, cores=2) == []  # 0.5 of 2 cores: the pipeline's miss
    assert busy_lines(verdict, None, cores=2) == []
    passed = judge(run(20, 50, ms=10.0), scenario(CAPACITY), BEGAN)
    assert passed.passed
    assert busy_lines(passed, busy, cores=2) == []
