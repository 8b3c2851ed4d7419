"""How many bytes moto's models of the pipeline's services hold: the data, as the emulator keeps
it in memory (``GET /_emulator/memory``).

``orders load soak`` takes it out of the emulator's RSS: what remains must stay flat however
many orders were stored. It is the deep size (``sys.getsizeof`` of every object reachable from
the services' backends, each counted once, as its allocator allocates it) of DynamoDB's tables with their items and stream
records, SQS's queues with their messages, SNS's topics and subscriptions: everything an AWS
account would be billed for keeping, and nothing the emulator keeps beside it (moto's instance
tracking, caches, the interpreter). Walking it costs time and memory in proportion to the data,
so it runs in a forked copy of the emulator (``local.aws.forked_copy``).

An instance's attributes are not in its ``sys.getsizeof`` on CPython 3.11 and 3.12: they sit
in a values array beside it (a "managed dict", 24-100 bytes for moto's models, of which a
DynamoDB item has one per attribute). The walk sizes that array through ``obj.__dict__``, which
makes the dict real: one more object per instance, in the copy only. So ``held_bytes`` and
``deep_size`` change what they walk; call them on a copy, never in the emulator itself.
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
# Py_TPFLAGS_MANAGED_DICT: the type keeps instance attributes in a values array (3.11, 3.12;
# from 3.13 on, ``sys.getsizeof`` counts them).
_MANAGED_DICT = 1 << 4
_SIZES_VALUES_APART = sys.version_info < (3, 13)
_DICT_OBJECT = sys.getsizeof({})  # the dict itself, which only the walk made
_POINTER = 8
# pymalloc serves requests up to 512 bytes in 16-byte steps; glibc adds a word and rounds to 16.
_SMALL = 512
_STEP = 16
_GLIBC_HEADER = 8


def allocated(size: int) -> int:
    """What a request of ``size`` bytes occupies in its allocator."""
    if size <= 0:
        return 0
    if size > _SMALL:
        size += _GLIBC_HEADER
    return -(-size // _STEP) * _STEP


def _attribute_values(obj: Any, referents: list[Any], seen: set[int]) -> tuple[int, list[Any]]:
    """Bytes of an instance's inline attribute values, and the values to walk; (0, []) when
    its attributes are an ordinary dict (already among ``referents``) or it has none."""
    if not (_SIZES_VALUES_APART and type(obj).__flags__ & _MANAGED_DICT):
        return 0, []
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return 0, []
    if any(ref is attributes for ref in referents) or id(attributes) in seen:
        return 0, []  # a real dict: walked as one
    seen.add(id(attributes))
    slots = (sys.getsizeof(attributes) - _DICT_OBJECT) // _POINTER
    prefix = -(-(slots + 2) // _POINTER) * _POINTER  # CPython's new_values: a byte per slot, +2
    return allocated(prefix + slots * _POINTER), gc.get_referents(attributes)


def deep_size(root: Any, seen: set[int]) -> int:
    """Bytes of ``root`` and of everything it reaches that ``seen`` does not already hold, as
    the allocators allocate them (``allocated``)."""
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        referents = gc.get_referents(obj)
        values_bytes, values = _attribute_values(obj, referents, seen)
        total += allocated(sys.getsizeof(obj)) + values_bytes
        stack.extend(referents)
        stack.extend(values)
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
