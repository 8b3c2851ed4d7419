"""The processes ``orders up`` starts, and how they end with it, however it ends.

Each child's stdin is a pipe whose write end only the parent holds, and never writes to. When
the parent exits for any reason (Ctrl-C, SIGTERM, ``kill -9``, a closed terminal), the kernel
closes that end, the child's read returns end-of-file and the child stops itself (the
*lifeline*). Nothing polls, no process id can be mistaken for another, and it works alike on
Linux and macOS (Linux's ``PR_SET_PDEATHSIG`` fires when the parent *thread* that started the
child ends, and macOS has nothing like it).

A child reports readiness with one line on its stdout (``READY`` and whatever it wants the
parent to know); later lines are forwarded to the parent's console. Its stderr goes to a log
file, whose last line explains a child that failed to start.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

READY = "READY"


class ChildFailed(RuntimeError):
    def __init__(self, message: str, returncode: int | None = None, last_words: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.last_words = last_words


def hold_lifeline(grace_seconds: float = 10.0) -> threading.Thread:
    """In a child: when the parent is gone, stop as if sent SIGTERM; end the process outright
    if that has not ended it within ``grace_seconds``."""

    def watch() -> None:
        try:
            # The file descriptor, not sys.stdin: a thread blocked inside the buffered reader
            # holds its lock, and the interpreter aborts at exit when it cannot take it.
            while os.read(sys.stdin.fileno(), 4096):
                pass  # the parent never writes; anything read is ignored
        except (OSError, ValueError):
            pass
        # To the main thread itself: a signal the kernel hands to this thread would wait for
        # the main thread's next bytecode, after whatever system call it is blocked in.
        main = threading.main_thread().ident
        if main is not None:
            signal.pthread_kill(main, signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(1)

    thread = threading.Thread(target=watch, name="lifeline", daemon=True)
    thread.start()
    return thread


def announce_ready(details: str = "") -> None:
    """In a child: the one line the parent waits for."""
    print(f"{READY} {details}".rstrip(), file=sys.__stdout__, flush=True)


class ChildProcess:
    """A child on a lifeline, in a session of its own (a Ctrl-C at the terminal reaches only
    ``orders up``, which stops its children in order)."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path | None = None):
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[bytes] | None = None
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, within: float = 30.0, on_line: Callable[[str], None] | None = None) -> str:
        """Start the child and wait for its ready line; returns what follows ``READY``.
        Later lines go to ``on_line``."""
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a+b")
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the child's life
        self._log_start = self._log.seek(0, os.SEEK_END)  # the log may hold earlier runs
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        answer: list[str] = []
        stdout = self._process.stdout

        def read() -> None:
            for line in stdout or ():
                if not answer and line.startswith(READY):
                    answer.append(line[len(READY) :].strip())
                elif on_line is not None:
                    on_line(line.rstrip("\n"))

        threading.Thread(target=read, name=f"{self.name}-stdout", daemon=True).start()
        deadline = time.monotonic() + within
        while not answer:
            if self._process.poll() is not None:
                code, words = self._process.returncode, self._last_words()
                raise ChildFailed(f"{self.name} exited with code {code}: {words}", code, words)
            if time.monotonic() > deadline:
                self.stop()
                raise ChildFailed(f"{self.name} was not ready within {within:.0f} s")
            time.sleep(0.02)
        return answer[0]

    def _last_words(self) -> str:
        """The last line this run of the child wrote to its log (its error, as a rule)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(self._log_start)
        return last_words(self._log.read().decode("utf-8", "replace"))

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process is not None and process.stdin is not None:
            process.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def last_words(log: str) -> str:
    """The last line a child wrote, leaving out what Python prints as it exits about objects it
    collects ("Exception ignored in: ..." and that exception's traceback): such a line once
    stood in for the error that named a bad setting."""
    kept: list[str] = []
    ignored = False
    for line in log.strip().splitlines():
        if line.startswith("Exception ignored in"):
            ignored = True
        elif ignored and (line.startswith(("Traceback", " ", "\t")) or not line.strip()):
            continue
        elif ignored:
            ignored = False  # that exception's own line ends its block
        else:
            kept.append(line)
    return kept[-1] if kept else "(nothing on stderr)"
