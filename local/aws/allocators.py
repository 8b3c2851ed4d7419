"""Where the emulator's memory sits: in objects, or free but kept by the allocators.

A process's resident size counts every page its allocators took, and CPython hands few back:
pymalloc frees a 1 MiB arena only when no object is left in it, and glibc's heap shrinks only
from its top. So ``orders load soak`` asks, beside the resident size, what the allocators
themselves count (``GET /_emulator/memory``): bytes in live blocks (objects), bytes free in
pymalloc's arenas (available blocks and unused pools) and in glibc's heap. Growth in live
blocks beyond the data is memory kept per order; growth in free bytes is fragmentation.

Read on a forked copy (``local.aws.forked_copy``) before anything else runs there: the copy's
allocators are the emulator's, page for page, at the moment of the fork.
"""

import contextlib
import ctypes
import os
import re
import sys
import tempfile

_PYMALLOC_LINES = {
    "live": re.compile(r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
    "free_blocks": re.compile(r"# bytes in available blocks\s*=\s*([\d,]+)"),
    "unused_pools": re.compile(r"\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)"),
    "arenas": re.compile(r"\d+ arenas \* \d+ bytes/arena\s*=\s*([\d,]+)"),
}


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def pymalloc_bytes() -> dict[str, int]:
    """pymalloc's own count (``sys._debugmallocstats``, which writes to the C stderr):
    ``live``, ``free_blocks``, ``unused_pools`` and ``arenas`` bytes; {} when not available."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    found = {}
    for name, pattern in _PYMALLOC_LINES.items():
        match = pattern.search(text)
        if match:
            found[name] = int(match.group(1).replace(",", ""))
    return found


def glibc_bytes() -> dict[str, int]:
    """glibc malloc's count (``mallinfo2``): ``live`` (in use), ``free`` (kept in its heap),
    ``mapped`` (large blocks, each its own mapping); {} on another C library."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        mallinfo2 = ctypes.CDLL(None).mallinfo2  # the C library this process already runs on
        mallinfo2.restype = _MallInfo2
        info = mallinfo2()
        return {"live": info.uordblks, "free": info.fordblks, "mapped": info.hblkhd}
    return {}


def allocator_bytes() -> dict[str, dict[str, int]]:
    """Both allocators' counts, read now (call it first thing on a forked copy)."""
    return {"pymalloc": pymalloc_bytes(), "glibc": glibc_bytes()}
