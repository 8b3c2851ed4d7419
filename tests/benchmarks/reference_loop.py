"""SPEC §12's machine speed: the time of ``sum(i * i for i in range(2_000_000))``, the median of
11 timings (the speed of these machines swings from one second to the next)."""

import statistics
import time


def loop_ms(timings: int = 11) -> float:
    samples = []
    for _ in range(timings):
        started = time.perf_counter()
        sum(i * i for i in range(2_000_000))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


if __name__ == "__main__":
    print(f"reference loop: {loop_ms():.0f} ms (median of 11)")
