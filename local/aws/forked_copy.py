"""Work on a copy of the emulator, made in a turn: a fork.

Saving the state (``local.aws.state_saver``) and measuring what moto holds
(``local.aws.held_bytes``) both read all of the data, which takes time and memory in
proportion to it. Forked in a turn (``local.aws.turns``), the child sees the data as it was
between two requests, and does the work at a lower priority while the emulator serves on: the
emulator waits for the fork (milliseconds), and none of the work's memory stays in it.

The child names itself ``CHILD_NAME`` (Linux's process name, what ``ps -o comm`` and psutil's
``name()`` show), so that the load harness's memory samples leave it out: its resident pages
are mostly the emulator's own, shared.
"""

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable

from local.aws.turns import Turns

CHILD_NAME = b"emulator-copy"
NICENESS = 10  # the child yields the cores to the pipeline
MAX_ERROR_BYTES = 4096
_PR_SET_NAME = 15


class CopyFailed(RuntimeError):
    pass


def _name_this_process(name: bytes) -> None:
    with contextlib.suppress(OSError, AttributeError, TypeError):
        # the C library this process already runs on (``find_library`` runs ``ldconfig``)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _own_signals() -> None:
    """The copy shares the emulator's signal wakeup socket (asyncio's): a signal sent to the
    copy reached the emulator's loop as its own, and a ``kill`` of a copy stopped the emulator.
    The copy takes the signals' default actions instead."""
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_DFL)


def _child(work: Callable[[], bytes], writer: int) -> None:
    """In the copy: do the work, send its answer (or its failure), exit. Never returns."""
    code = 1
    try:
        _own_signals()
        _name_this_process(CHILD_NAME)
        os.nice(NICENESS)
        answer = work()
        view = memoryview(answer)
        while view:
            view = view[os.write(writer, view) :]
        code = 0
    except BaseException as exc:  # the child ends here, whatever happened
        with contextlib.suppress(OSError):
            os.write(writer, f"{type(exc).__name__}: {exc}".encode()[:MAX_ERROR_BYTES])
    finally:
        os._exit(code)


def on_a_copy(turns: Turns, work: Callable[[], bytes]) -> bytes:
    """``work()``'s answer, computed in a child forked in a turn; ``CopyFailed`` with the
    child's error. Blocks: call it from a thread."""
    reader, writer = os.pipe()
    try:
        with turns.turn(foreground=False):
            child = os.fork()
            if child == 0:
                os.close(reader)
                _child(work, writer)
    finally:
        os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        said = answer.read()
    _, status = os.waitpid(child, 0)
    if status != 0:
        error = said[:MAX_ERROR_BYTES].decode("utf-8", "replace")
        raise CopyFailed(error or f"the copy ended with status {status}")
    return said
