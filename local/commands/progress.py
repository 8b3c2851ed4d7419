"""Progress of a long CLI step: a live bar on a terminal (rich), plain lines when the output is
piped or logged, where a redrawn bar would be one garbled line."""

from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress

PLAIN_STEPS = 10  # lines printed for a whole run when not on a terminal


class StepProgress:
    """``with StepProgress("submitting", 100, out) as progress: progress.advance()``."""

    def __init__(self, label: str, total: int, out: TextIO):
        self._label = label
        self._total = max(total, 1)
        self._out = out
        self._done = 0
        self._live: Progress | None = None
        if out.isatty():
            # Imported only here: `orders` commands that draw no bar work without rich.
            from rich import progress
            from rich.console import Console

            self._live = progress.Progress(
                progress.TextColumn("{task.description}"),
                progress.BarColumn(),
                progress.MofNCompleteColumn(),
                progress.TimeElapsedColumn(),
                console=Console(file=out),
            )
            self._task = self._live.add_task(label, total=self._total)

    def __enter__(self) -> "StepProgress":
        if self._live is not None:
            self._live.start()
        return self

    def advance(self) -> None:
        before = self._done * PLAIN_STEPS // self._total
        self._done += 1
        if self._live is not None:
            self._live.update(self._task, completed=self._done)
        elif self._done * PLAIN_STEPS // self._total > before or self._done == self._total:
            print(f"{self._label} {self._done}/{self._total}", file=self._out, flush=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
