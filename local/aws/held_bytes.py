"""How many bytes moto's models of the pipeline's services hold: the data, as the emulator keeps
it in memory (``GET /_emulator/memory``).

``orders load soak`` takes it out of the emulator's RSS: what remains must stay flat however
many orders were stored. It is the deep size (``sys.getsizeof`` of every object reachable from
the services' backends, each counted once) of DynamoDB's tables with their items and stream
records, SQS's queues with their messages, SNS's topics and subscriptions: everything an AWS
account would be billed for keeping, and nothing the emulator keeps beside it (moto's instance
tracking, caches, the interpreter). Walking it costs time and memory in proportion to the data,
so it runs in a forked copy of the emulator (``local.aws.forked_copy``).
"""

import gc
import sys
import types
from typing import Any

from local.aws.moto_state import BACKENDS

# Shared by everything, owned by nothing held: never walked into.
_SHARED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
)


def deep_size(root: Any, seen: set[int]) -> int:
    """Bytes of ``root`` and of everything it reaches that ``seen`` does not already hold."""
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def held_bytes() -> dict[str, int]:
    """Bytes held per service; a backend reached from another (SNS's queues) counts once."""
    seen: set[int] = set()
    return {
        service: sum(
            deep_size(backend, seen)
            for regions in backends.values()
            for backend in list(regions.values())
        )
        for service, backends in BACKENDS.items()
    }
