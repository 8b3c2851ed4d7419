"""Bounded retention in moto: what the emulator kept for every order that nothing reads.

Measured with tracemalloc over 200 orders (moto 5.2.5), the emulator kept 21.7 KB an order,
of which ~10.7 KB was the tables' data. The rest, bounded here:

1. ``BaseModel.__new__`` appends every instance of every moto model to its class's
   ``instances_tracked`` list, copies included: the ``Item`` copies each ``UpdateItem`` makes,
   every deleted SQS message and the copies a receive makes (~9-10 KB an order). Only moto's
   ``/moto-api/data.json`` and ``/moto-api/reset`` read them. Instances of the services the
   pipeline calls for every order (DynamoDB, its streams, SQS, SNS) are no longer tracked:
   ``/moto-api/data.json`` lists none of theirs (their backends still hold every live one, and
   every answer the pipeline or an AWS client gets is unchanged).
2. SNS ``Topic.sent_notifications`` keeps every published message (~0.7-1.6 KB an order),
   read by nothing: its last ``SENT_KEPT`` are kept.
3. SQS ``Queue.deleted_messages`` keeps every receipt handle ever deleted, only so that a
   repeated delete of the same handle succeeds (~0.55 KB an order): the handles of the last
   ``DELETED_KEPT`` deleted messages are kept. A delete repeated after that many others were
   deleted from the same queue is refused as an unknown handle (``ReceiptHandleIsInvalid``),
   where moto and AWS accept it; a client repeats a delete right after a lost answer, not
   thousands of messages later.

DynamoDB stream records are kept (a shard iterator is an offset into them; AWS keeps them
24 hours); shard iterators are bounded by ``local.aws.stream_iterators``.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards it).
"""

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.common_models import BaseModel
from moto.sns.models import Topic
from moto.sqs.models import Queue

from local.aws.sqs_indexes import check_moto_version

# Services whose model instances are created for every order (tracking them grew forever).
UNTRACKED_SERVICES = ("moto.dynamodb.", "moto.dynamodbstreams.", "moto.sqs.", "moto.sns.")
SENT_KEPT = 100  # published messages a topic remembers
DELETED_KEPT = 4096  # deleted messages whose receipt handles a queue remembers


class RecentHandles:
    """The receipt handles of the last ``DELETED_KEPT`` deleted messages: moto's
    ``deleted_messages`` set, bounded (``in``, ``add``, ``update``, ``discard`` and ``len``)."""

    def __init__(self, kept: int = DELETED_KEPT):
        self._kept = kept
        self._handles: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def __len__(self) -> int:
        return len(self._handles)

    def add(self, handle: str) -> None:
        self._handles[handle] = None
        self._handles.move_to_end(handle)
        while len(self._handles) > self._kept:
            self._handles.popitem(last=False)

    def update(self, handles: Iterable[str]) -> None:
        for handle in handles:
            self.add(handle)

    def discard(self, handle: str) -> None:
        self._handles.pop(handle, None)


def _new_model(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``BaseModel.__new__`` without tracking the instances of ``UNTRACKED_SERVICES``."""
    instance: Any = object.__new__(cls)
    if not cls.__module__.startswith(UNTRACKED_SERVICES):
        cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
    return instance


def _after_init(original: Callable[..., None], bound: Callable[[Any], None]) -> Callable[..., None]:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        bound(self)

    init.__wrapped__ = original  # type: ignore[attr-defined]
    return init


def _bound_topic(topic: Any) -> None:
    topic.sent_notifications = deque(topic.sent_notifications, maxlen=SENT_KEPT)


def _bound_queue(queue: Any) -> None:
    queue.deleted_messages = RecentHandles()


_originals: dict[str, Any] = {}


def install(on: bool = True) -> None:
    """Bound the three retentions (``on=False`` puts moto's own code back, for tests)."""
    check_moto_version()
    if not _originals:
        _originals.update(
            model=BaseModel.__dict__["__new__"], topic=Topic.__init__, queue=Queue.__init__
        )
    if on:
        BaseModel.__new__ = staticmethod(_new_model)  # type: ignore[method-assign]
        Topic.__init__ = _after_init(_originals["topic"], _bound_topic)  # type: ignore[method-assign]
        Queue.__init__ = _after_init(_originals["queue"], _bound_queue)  # type: ignore[method-assign]
    else:
        BaseModel.__new__ = _originals["model"]  # type: ignore[method-assign]
        Topic.__init__ = _originals["topic"]  # type: ignore[method-assign]
        Queue.__init__ = _originals["queue"]  # type: ignore[method-assign]
