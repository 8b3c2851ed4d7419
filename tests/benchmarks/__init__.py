"""Benchmarks of issue-level performance targets; run with ``make bench``, not part of the suite."""
