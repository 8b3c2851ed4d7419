"""SPEC §12's machine speed (``load.machine.reference_loop_ms``), for the benchmarks.

python -m tests.benchmarks.reference_loop
"""

from load.machine import reference_loop_ms as loop_ms

__all__ = ["loop_ms"]

if __name__ == "__main__":
    print(f"reference loop: {loop_ms():.0f} ms (median of 11)")
