"""What a run of the local stack counted for its bill, read from outside as a client may: the
emulator's ``GET /_emulator/usage`` and the records its Lambda containers append to
``invocations.jsonl`` in ``orders up``'s log folder. Nothing of ``local`` is imported."""

from pathlib import Path
from typing import Any

import psutil

from load.cost import RunCounts, functions_from, metrics_from, prod_architecture, usage_delta
from load.machine import emulator_json

INVOCATIONS = Path("var/logs/invocations.jsonl")  # under orders up's working folder
ACCESS_LOG = "access.log"  # beside it: the front's API Gateway access log, a line a request
FUNCTIONS_LOG = "functions.log"  # and what the functions printed (their EMF metrics among it)


def emulator_usage(aws_url: str) -> list[dict[str, Any]] | None:
    """The emulator's billable units so far, by caller, call and resource; None where the
    endpoint is not that emulator."""
    rows = emulator_json(aws_url, "/_emulator/usage")
    return rows if isinstance(rows, list) else None


def invocations_file(stack_pid: int) -> Path | None:
    try:
        return Path(psutil.Process(stack_pid).cwd()) / INVOCATIONS
    except (psutil.Error, OSError):
        return None


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _appended(path: Path | None, offset: int) -> list[str]:
    """The lines written to ``path`` after ``offset``."""
    if path is None:
        return []
    try:
        with path.open("rb") as appended:
            appended.seek(offset)
            return appended.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


class UsageRecorder:
    """Start before the load, stop after the pipeline has finished: the run's ``RunCounts``."""

    def __init__(self, stack_pid: int, aws_url: str):
        self._aws_url = aws_url
        self._file = invocations_file(stack_pid)
        self._offset = _size(self._file)
        self._access_log = self._file.with_name(ACCESS_LOG) if self._file is not None else None
        self._access_offset = _size(self._access_log)
        self._log = self._file.with_name(FUNCTIONS_LOG) if self._file is not None else None
        self._log_offset = _size(self._log)
        self._before = emulator_usage(aws_url)

    def stop(self, orders: int, emails: int, loop_ms: float) -> RunCounts | None:
        after = emulator_usage(self._aws_url)
        if self._before is None or after is None or self._file is None or orders <= 0:
            return None
        lines = _appended(self._file, self._offset)
        return RunCounts(
            orders=orders,
            emails=emails,
            loop_ms=loop_ms,
            functions=functions_from(lines),
            aws=usage_delta(self._before, after),
            architecture=prod_architecture(),
            access_log_bytes=max(0, _size(self._access_log) - self._access_offset),
            metrics=metrics_from(_appended(self._log, self._log_offset)),
        )
