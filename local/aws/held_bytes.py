"""How many bytes the pipeline's data takes in the emulator: what emptying the services frees
(``GET /_emulator/memory``).

``orders load soak`` takes it out of the emulator's RSS: what remains must stay flat however
many orders were stored. On a forked copy of the emulator (``local.aws.forked_copy``), moto's
backends of DynamoDB (with its streams), SQS and SNS are reset one after another, and the live
bytes their allocators count (``local.aws.allocators``) before and after each are the bytes
that service's data took: tables with their items and stream records, queues with their
messages, topics and subscriptions, each with everything the allocators spent on them. What
the emulator keeps beside the data (caches, bounded records, the interpreter) is not freed by
a reset, so it is not counted.

Why not add up the objects' sizes: ``sys.getsizeof`` leaves out an instance's attribute
values on CPython 3.11 (kept beside it), every allocation's rounding, and the separate blocks
of lists and dicts; summed over moto's models it came to 10-13 % less than what a reset frees.

A reset empties the copy it runs in: call ``held_bytes`` on a copy, never in the emulator.
"""

import gc
from collections.abc import Callable
from typing import Any

from moto.core.base_backend import BackendDict
from moto.dynamodbstreams.models import dynamodbstreams_backends

from local.aws.allocators import allocator_bytes
from local.aws.moto_state import BACKENDS

# Reset together: the streams' shard iterators reach the tables they read.
_WITH = {"dynamodb": (dynamodbstreams_backends,)}


def live_bytes() -> int:
    """Bytes in live blocks: pymalloc's, and glibc's in its heap and in mappings of their own."""
    counts = allocator_bytes()
    pymalloc, glibc = counts["pymalloc"], counts["glibc"]
    return pymalloc.get("live", 0) + glibc.get("live", 0) + glibc.get("mapped", 0)


def _reset(backends: BackendDict[Any]) -> None:
    for regions in list(backends.values()):
        for backend in list(regions.values()):
            backend.reset()


def held_bytes(live: Callable[[], int] = live_bytes) -> dict[str, int]:
    """Bytes each service's data takes, as ``live`` counts the process's bytes (the allocators'
    live bytes, or tracemalloc's traced ones); empties the services (on a copy only)."""
    gc.unfreeze()  # what the emulator froze would otherwise outlive the reset
    gc.collect()
    held = {}
    before = live()
    for service, backends in BACKENDS.items():
        for reached in (backends, *_WITH.get(service, ())):
            _reset(reached)
        gc.collect()
        after = live()
        held[service] = before - after
        before = after
    return held
