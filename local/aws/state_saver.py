"""When and how the emulator saves its state (``local.aws.state_file``): every ``every`` seconds
while something changed, and once more as it stops.

A save forks the emulator in a turn of its own (``local.aws.turns``), so no request is half
done in the copy, and the child pickles and writes that copy while the emulator goes on
serving: requests wait for the fork (milliseconds), not for the pickling (measured with
``python -m tests.benchmarks.state_save``: ~100 ms per 1,000 orders, which would have stalled
the API every interval as the data grew). The child runs at a lower priority, and the next save
comes no sooner than ``SPACING`` times the last one's duration after it, so saving takes at most
about a tenth of a core however large the state.

A save that fails (a full disk, a folder made read-only) is said on the emulator's output,
which ``orders up`` shows, once per kind of failure, and tried again at the next interval.
"""

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from local.aws import moto_state, state_file
from local.aws.turns import Turns

NICENESS = 10  # the saving child yields the cores to the pipeline
SPACING = 10.0  # the next save no sooner than this many times the last one's duration
MAX_ERROR_BYTES = 4096


class SaveFailed(RuntimeError):
    pass


# Actions that change nothing moto keeps; a ReceiveMessage changes the messages it returns.
_READS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet")


def changes_state(action: str, answer: bytes) -> bool:
    """Whether a call with this action and answer changed moto's state."""
    if action == "ReceiveMessage":
        return b'"Messages"' in answer or b"<Message>" in answer
    return not action.startswith(_READS)


class StateSaver:
    def __init__(
        self,
        file: state_file.StateFile,
        turns: Turns,
        every: float,
        stream_position: Path | None = None,
    ):
        self.file = file
        self._turns = turns
        self._every = every
        self._stream_position = stream_position
        self.changes = 0  # changes counted so far; the saved state holds the first ``saved``
        self.saved = 0
        self._lock = asyncio.Lock()
        self._last_error = ""
        self.last_seconds = 0.0  # how long the last save took

    def changed(self) -> None:
        self.changes += 1

    def report(self) -> dict[str, Any]:
        """``saved`` of ``changes`` are in the file: equal, nothing would be lost now."""
        return {
            "kept": True,
            "file": str(self.file.path),
            "changes": self.changes,
            "saved": self.saved,
            "last_error": self._last_error or None,
        }

    def _position(self) -> dict[str, Any] | None:
        if self._stream_position is None:
            return None
        try:
            position = json.loads(self._stream_position.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return position if isinstance(position, dict) else None

    def _save_now(self) -> None:
        reader, writer = os.pipe()
        try:
            with self._turns.turn(foreground=False):
                changes, position = self.changes, self._position()
                child = os.fork()
                if child == 0:
                    self._in_child(writer, position)  # never returns
        finally:
            os.close(writer)
        with os.fdopen(reader, "rb") as said:
            error = said.read(MAX_ERROR_BYTES).decode("utf-8", "replace")
        _, status = os.waitpid(child, 0)
        if status != 0:
            raise SaveFailed(error or f"the saving process ended with status {status}")
        self.saved = changes

    def _in_child(self, writer: int, position: dict[str, Any] | None) -> None:
        """In the forked copy: pickle it, write it, exit; a failure is told through
        ``writer``."""
        code = 1
        try:
            os.nice(NICENESS)
            self.file.write(moto_state.capture(), position)
            code = 0
        except BaseException as exc:  # the child ends here, whatever happened
            with contextlib.suppress(OSError):
                os.write(writer, f"{type(exc).__name__}: {exc}".encode()[:MAX_ERROR_BYTES])
        finally:
            os._exit(code)

    async def save(self) -> bool:
        """Save if anything changed since the last save; False when it failed (said)."""
        async with self._lock:
            if self.changes == self.saved:
                return True
            started = time.monotonic()
            try:
                await asyncio.to_thread(self._save_now)
            except Exception as exc:  # the emulator keeps serving; the next interval retries
                error = str(exc) if isinstance(exc, SaveFailed) else f"{type(exc).__name__}: {exc}"
                if error != self._last_error:
                    self._last_error = error
                    print(
                        f"emulator: could not save its state to {self.file.path}: {error}",
                        file=sys.__stdout__,
                        flush=True,
                    )
                return False
            finally:
                self.last_seconds = time.monotonic() - started
            self._last_error = ""
            return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(max(self._every, SPACING * self.last_seconds))
            await self.save()


def restore_position(position: dict[str, Any] | None, path: Path | None) -> None:
    """Put the stream position saved with the state back where the outbox's reader reads it.
    None: nothing had been read when the state was saved, so it reads from the start (a newer
    position would point past the records the state holds)."""
    if path is None:
        return
    if position is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(position), encoding="utf-8")
    temporary.replace(path)
