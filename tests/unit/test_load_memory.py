"""The soak's judgement of memory and latency (``load.memory``), from made-up samples, and the
emulator's measure of the data it holds (``local.aws.held_bytes``) and its forked copies."""

import json
import os
import sys

import pytest

from load.memory import (
    MB,
    EmulatorMemory,
    MemoryTrend,
    RoleGrowth,
    drift_failure,
    p95_drift,
    warm_up_seconds,
)
from load.scenarios import scenarios
from load.verdict import Sample
from local.aws import held_bytes
from local.aws.allocators import allocator_bytes
from local.aws.forked_copy import CopyFailed, on_a_copy
from local.aws.held_bytes import deep_size
from local.aws.turns import Turns

BEGAN = 1_000_000.0


def _trend(*growth: RoleGrowth) -> MemoryTrend:
    return MemoryTrend(
        seconds=[],
        rss={},
        warm_up=60,
        growth=list(growth),
        orders=1000,
        emulator_start=EmulatorMemory(0, {}),
    )


def test_memory_that_grows_only_with_the_data_passes() -> None:
    trend = _trend(
        RoleGrowth("emulator", 100 * MB, 150 * MB, data_bytes=45 * MB),
        RoleGrowth("API containers", 300 * MB, 310 * MB),
    )
    assert trend.failures(0.10) == []
    lines = trend.lines()
    assert "emulator 100 -> 150 MB (data +45.0 MB), +5.0%" in lines[0]
    assert lines[1] == "  emulator: 47186 bytes of data an order, +5243 bytes beyond it"


def test_memory_that_grows_beyond_the_data_fails_naming_the_process() -> None:
    trend = _trend(
        RoleGrowth("emulator", 100 * MB, 150 * MB, data_bytes=20 * MB),
        RoleGrowth("email containers", 200 * MB, 230 * MB),
        RoleGrowth("front (orders up itself)", 80 * MB, 80 * MB),
    )
    assert trend.failures(0.10) == [
        "emulator memory grew 30.0 MB (30.0%) beyond its data after the warm-up (at most 10%)",
        "email containers memory grew 30.0 MB (15.0%) beyond its start after the warm-up "
        "(at most 10%)",
    ]


def _answers(start: float, seconds: float, ms: float) -> list[Sample]:
    return [
        Sample(started=BEGAN + start + n / 10, kind="order", status=200, ms=ms)
        for n in range(int(seconds * 10))
    ]


def test_the_p95_drift_compares_the_first_and_last_fifth_after_the_warm_up() -> None:
    samples = [
        *_answers(0, 60, 500.0),  # the warm-up: left out
        *_answers(60, 300, 20.0),
        *_answers(360, 1140, 25.0),
        *_answers(1500, 300, 40.0),
    ]
    assert warm_up_seconds(1800) == 60
    drift = p95_drift(samples, BEGAN, 1800, 60)
    assert drift == (20.0, 40.0)
    assert drift_failure(drift, 1.5) == (
        "the accepted POSTs' p95 drifted from 20.0 ms to 40.0 ms (first and last fifth after "
        "the warm-up; at most 1.5x)"
    )
    assert drift_failure((20.0, 29.0), 1.5) is None
    assert drift_failure((4.0, 9.0), 1.5) is None  # more than 1.5x, but within the noise
    assert p95_drift(_answers(0, 10, 5.0), BEGAN, 1800, 60) is None  # nothing to compare


def test_the_soak_scenario_sets_the_memory_and_drift_thresholds() -> None:
    soak = scenarios()["soak"]
    assert soak.seconds == 1800
    assert soak.stages[0].rate == 20
    assert soak.thresholds.max_memory_growth == 0.10
    assert soak.thresholds.max_p95_drift == 1.5
    assert soak.constant(None, 120).seconds == 120
    assert warm_up_seconds(120) == 24


def test_deep_size_counts_each_object_once_and_leaves_shared_ones_out() -> None:
    shared = "x" * 1000
    data = {"a": [shared, shared], "b": (shared,), "f": len, "t": int}
    seen: set[int] = set()
    size = deep_size(data, seen)
    assert sys.getsizeof(shared) < size < 2 * sys.getsizeof(shared) + 1000
    assert deep_size(data, seen) == 0  # already counted


class _Record:
    """An instance whose attributes CPython 3.11 and 3.12 keep beside it (a managed dict)."""

    def __init__(self, n: int):
        self.name = f"record {n}"
        self.count = n
        self.tags = ["a", "b"]


def _live() -> int:
    counts = allocator_bytes()
    return counts["pymalloc"]["live"] + counts["glibc"]["live"]


def _measured_on_a_copy(count: int, values_apart: bool = True) -> tuple[int, int]:
    """(the allocators' live bytes grown by ``count`` records, their deep size), both in a
    forked copy: the walk makes the records' dicts real, which this process must not keep."""

    def work() -> bytes:
        held_bytes._SIZES_VALUES_APART = values_apart and held_bytes._SIZES_VALUES_APART
        before = _live()
        records = [_Record(n) for n in range(count)]
        grown = _live() - before
        return json.dumps([grown, deep_size(records, set())]).encode()

    grown, deep = json.loads(on_a_copy(Turns(), work))
    return grown, deep


def test_deep_size_counts_what_the_allocators_hold_for_the_objects() -> None:
    grown, deep = _measured_on_a_copy(5000)
    assert 0.95 * grown < deep < 1.05 * grown
    if sys.version_info < (3, 13):  # the attribute values kept beside each instance count
        grown, deep = _measured_on_a_copy(5000, values_apart=False)
        assert deep < 0.9 * grown


def test_the_allocators_count_live_bytes_that_grow_with_the_objects_kept() -> None:
    def work() -> bytes:
        before = allocator_bytes()
        kept = [f"item {n}" * 4 for n in range(50_000)]
        after = allocator_bytes()
        return json.dumps([before, after, len(kept)]).encode()

    before, after, _ = json.loads(on_a_copy(Turns(), work))
    assert set(before["pymalloc"]) == {"live", "free_blocks", "unused_pools", "arenas"}
    assert set(before["glibc"]) == {"live", "free", "mapped"}
    grew = after["pymalloc"]["live"] - before["pymalloc"]["live"]
    assert 50_000 * 60 < grew < 50_000 * 120  # ~70-byte strings and the list's pointers


def test_work_on_a_copy_answers_or_says_why_it_failed() -> None:
    turns = Turns()
    assert on_a_copy(turns, lambda: b"pid %d" % os.getpid()) != b"pid %d" % os.getpid()
    assert on_a_copy(turns, lambda: b"x" * 1_000_000) == b"x" * 1_000_000  # beyond a pipe's

    def fails() -> bytes:
        raise ValueError("no room on the disk")

    with pytest.raises(CopyFailed, match="ValueError: no room on the disk"):
        on_a_copy(turns, fails)
    assert turns.waiting == (0, 0)  # the turn was given back
