"""A message sent to a queue without building all of the queue's attributes: installed in the
emulator.

moto's SQS ``send_message`` asks ``queue.attributes.get("ContentBasedDeduplication")`` for every
message (and, for a FIFO queue, again while it validates and adds it). ``Queue.attributes``
builds every attribute of the queue to answer: its message counts, its policy as JSON, its
redrive policy dumped again. Measured with py-spy in the emulator (moto 5.2.5, sequential SNS
Publishes fanning out to two queues): a ninth of its busy time went there, more than the rest
of the two deliveries.

While a queue takes a message, its ``attributes`` answer only what is read then: the content
based deduplication setting of a FIFO queue, as ``Queue.attributes`` would give it (a bool as
``"true"``/``"false"``); a standard queue has no such attribute, as in moto's dict. Everywhere
else (GetQueueAttributes, a queue's description) the queue answers with moto's own.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

import threading
from typing import Any

from moto.sqs.models import Queue, SQSBackend

_moto_attributes: Any = Queue.attributes  # a property
_moto_send_message = SQSBackend.send_message
_sending = threading.local()  # the queue a message is being sent to, on this thread


def _attributes(self: Queue) -> dict[str, Any]:
    if getattr(_sending, "queue", None) is not self:
        return _moto_attributes.fget(self)  # type: ignore[no-any-return]
    if not self.fifo_queue:
        return {}
    value = self.content_based_deduplication
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def _send_message(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
    queue = self.get_queue(queue_name)  # moto's first step: an unknown queue raises as before
    outer = getattr(_sending, "queue", None)
    _sending.queue = queue
    try:
        return _moto_send_message(self, queue_name, *args, **kwargs)
    finally:
        _sending.queue = outer


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    Queue.attributes = property(_attributes) if on else _moto_attributes  # type: ignore[method-assign,assignment]
    SQSBackend.send_message = _send_message if on else _moto_send_message  # type: ignore[method-assign]
