"""What keeping the emulator's state costs (``local.aws.state_file``): its size per order; the
time of a capture (the pickling) and a write, of a whole save as the emulator makes it (in a
forked child) and of the fork alone (all the emulator waits for); and of a restore, after
``--orders`` orders.

The emulator runs in this process (``tests.benchmarks.emulator_memory``'s, driven over HTTP
with the calls an order causes); each figure is the median of ``--runs`` runs, beside the
reference loop (SPEC §12) measured in the same run.

    python -m tests.benchmarks.state_save [--orders 5000] [--runs 5]
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.aws import moto_state
from local.aws.state_file import StateFile
from local.aws.state_saver import StateSaver
from local.aws.turns import Turns
from tests.benchmarks.emulator_memory import Pipeline, start_emulator
from tests.benchmarks.reference_loop import loop_ms
from tests.support.moto_server import use_local_credentials


def timed_ms(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def fork_only() -> None:
    """What a save holds the emulator for: the fork (the child pickles on its own time)."""
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    use_local_credentials()
    loops = [loop_ms()]
    turns = Turns()
    pipeline = Pipeline(start_emulator(moto_retention=False, turns=turns))
    pipeline.orders_placed(args.orders)
    payload = moto_state.capture()
    file = StateFile(Path(tempfile.mkdtemp(prefix="state-save-")) / "aws.state")
    capture = timed_ms(args.runs, moto_state.capture)
    write = timed_ms(args.runs, lambda: file.write(payload, None))
    read = timed_ms(args.runs, file.read)
    saver = StateSaver(file, turns, every=3600)

    def save() -> None:
        saver.changed()
        asyncio.run(saver.save())

    saved = timed_ms(args.runs, save)
    fork = timed_ms(args.runs, fork_only)
    restore = timed_ms(args.runs, lambda: moto_state.restore(payload))
    loops.append(loop_ms())
    result = {
        "orders": args.orders,
        "reference_loop_ms": [round(loop) for loop in loops],
        "state_bytes_per_order": round(file.path.stat().st_size / args.orders),
        "capture_ms": round(capture, 1),
        "fork_ms_the_emulator_stalls": round(fork, 1),
        "forked_save_ms": round(saved, 1),
        "write_ms": round(write, 1),
        "read_ms": round(read, 1),
        "restore_ms": round(restore, 1),
        "capture_ms_per_1000_orders": round(capture * 1000 / args.orders, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
