"""When the emulator saves its state (``local.aws.state_file``): every ``every`` seconds while
something changed, and once more as it stops.

A save pickles and writes a forked copy of the emulator (``local.aws.forked_copy``) while the
emulator serves on: requests wait for the fork (~30 ms with 5,000 orders stored), not for the
pickling (~100 ms per 1,000 orders; ``python -m tests.benchmarks.state_save``). The next save
comes no sooner than ``SPACING`` times the last one's duration after it, so saving takes at
most about a tenth of a core however large the state grows.

A save that fails (a full disk, a folder made read-only) is said on the emulator's output,
which ``orders up`` shows, once per kind of failure, and tried again at the next interval.
"""

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from local.aws import forked_copy, moto_state, state_file
from local.aws.forked_copy import CopyFailed
from local.aws.turns import Turns

SPACING = 10.0  # the next save no sooner than this many times the last one's duration


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
        # Read just before the copy is made: they never claim more than it holds.
        with self._turns.turn(foreground=False):
            changes, position = self.changes, self._position()

        def write() -> bytes:
            self.file.write(moto_state.capture(), position)
            return b""

        forked_copy.on_a_copy(self._turns, write)
        self.saved = changes

    async def save(self) -> bool:
        """Save if anything changed since the last save; False when it failed (said)."""
        async with self._lock:
            if self.changes == self.saved:
                return True
            started = time.monotonic()
            try:
                await asyncio.to_thread(self._save_now)
            except Exception as exc:  # the emulator keeps serving; the next interval retries
                error = str(exc) if isinstance(exc, CopyFailed) else f"{type(exc).__name__}: {exc}"
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
