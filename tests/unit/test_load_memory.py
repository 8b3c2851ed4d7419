"""The soak's judgement of memory and latency (``load.memory``), from made-up samples, and the
emulator's measure of the data it holds (``local.aws.held_bytes``, ``local.aws.allocators``) and
its forked copies."""

import asyncio
import gc
import json
import os
import signal

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
from local.aws.allocators import allocator_bytes
from local.aws.forked_copy import CopyFailed, on_a_copy
from local.aws.held_bytes import held_bytes, live_bytes
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


def test_the_data_is_what_emptying_the_services_frees_and_nothing_else() -> None:
    """moto in process (``mock_aws``) on a forked copy: the measure empties the services. With
    the emulator's retention bounds, as it runs: moto's own instance tracking would keep every
    item beside its table."""

    def work() -> bytes:
        import boto3
        from moto import mock_aws

        from local.aws import retention

        retention.install()
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            dynamodb.list_tables()  # the client's model, loaded before counting
            gc.collect()
            # from before the table: the reset frees it with its items
            before = live_bytes()
            dynamodb.create_table(
                TableName="Orders",
                KeySchema=[{"AttributeName": "OrderId", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "OrderId", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for n in range(2000):
                dynamodb.put_item(
                    TableName="Orders",
                    Item={"OrderId": {"S": f"order-{n}"}, "Body": {"S": "x" * 400 + str(n)}},
                )
            gc.collect()
            grown = live_bytes() - before
            kept_beside = ["y" * 400 + str(n) for n in range(2000)]  # not the services' data
            held = held_bytes()
        return json.dumps([grown, held, len(kept_beside)]).encode()

    grown, held, _ = json.loads(on_a_copy(Turns(), work))
    assert held["dynamodb"] > 2000 * 400
    # the table and its items, as their allocators hold them: what the calls grew the live
    # bytes by, less what the client and moto kept of them besides
    assert 0.8 * grown < held["dynamodb"] <= grown
    # empty services free next to nothing
    assert held["sqs"] < 50_000
    assert held["sns"] < 50_000


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


def test_a_signal_to_a_copy_is_the_copys_not_the_emulators() -> None:
    """The emulator stops on SIGTERM through asyncio's handler; a copy killed by someone ends
    alone (it once shared the handler's wakeup socket and stopped the emulator)."""
    loop = asyncio.new_event_loop()
    received: list[int] = []
    loop.add_signal_handler(signal.SIGTERM, received.append, signal.SIGTERM)
    try:

        def killed() -> bytes:
            os.kill(os.getpid(), signal.SIGTERM)
            return b"lived on"

        with pytest.raises(CopyFailed, match="status"):
            on_a_copy(Turns(), killed)
        # a byte on the wakeup socket would be here already: the copy has exited
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.run_until_complete(asyncio.sleep(0.05))
        assert received == []
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        loop.close()
