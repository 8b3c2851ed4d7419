"""moto's SQS with indexes, so that no call scans the queue: installed in the emulator process.

moto 5.2 keeps a queue's messages in a list, and its hot paths walk all of it. Every
SendMessage builds the queue's attributes, whose three ``ApproximateNumberOf*`` counts read the
clock once per message; ReceiveMessage lists every visible message, then re-reads the queue's
attributes once per message it returns; DeleteMessage and ChangeMessageVisibility search every
message's receipt handles, and delete then rebuilds the list. Measured against moto's own
server: 121 publishes/s to an empty pair of queues, 24/s with 1,000 messages waiting, 9/s with
3,000. A load test makes a backlog, the backlog slowed the emulator, and the emulator grew the
backlog.

Here each queue's messages live in a ``MessageLog``: send order, an index by receipt handle,
and the set of members that may be invisible or delayed. Then:

- send appends; the attribute counts walk only the hidden members (received and not yet
  deleted, or delayed), never the waiting ones;
- receive walks from the oldest message and stops at the batch size, skipping hidden ones;
  it reads the clock and the retention period once per call, not per message;
- delete and change-visibility find the message by its receipt handle.

Behaviour is moto's: the same order, receive counts, visibility rules, redrive to the
dead-letter queue after ``maxReceiveCount`` receives, graceful repeated deletes,
``ReceiptHandleIsInvalid`` for unknown handles, the same quirks (a receive with visibility 0
leaves the message's visibility as it was). FIFO queues keep moto's own receive. Only the
emulator process installs this (``local.aws.server``); tests compare it with moto's own
server over HTTP (``tests/integration/test_emulator_parity.py``).

Written against moto 5.2.5: ``install()`` refuses any other version, since each replaced
function mirrors that version's code.
"""

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from copy import deepcopy
from typing import Any

import moto
from moto.core.utils import unix_time, unix_time_millis
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend, _filter_message_attributes

WRITTEN_FOR_MOTO = ("5.2.5",)


class UnsupportedMoto(RuntimeError):
    pass


def check_moto_version(version: str = moto.__version__) -> None:
    if version not in WRITTEN_FOR_MOTO:
        raise UnsupportedMoto(
            f"local.aws.sqs_indexes replaces parts of moto {', '.join(WRITTEN_FOR_MOTO)}'s SQS, "
            f"but moto {version} is installed: compare Queue.delete_message, "
            "SQSBackend.receive_message and SQSBackend.change_message_visibility with that "
            "version's, adapt the module, then add the version to WRITTEN_FOR_MOTO"
        )


def _now_ms() -> float:
    return float(unix_time_millis())


def _ready(message: Message, now_ms: float) -> bool:
    """moto's ``message.visible and not message.delayed``, at one instant."""
    return now_ms > message.visible_at and not now_ms < message.delayed_until


# The log each live message belongs to. Not an attribute of the message: moto deep-copies
# every message it returns from a receive, and the copy must not drag the log along.
_OWNER: dict[Message, "MessageLog"] = {}


class MessageLog:
    """One queue's messages in send order, indexed by receipt handle; the members that may be
    invisible or delayed are kept apart, so counting them does not walk the waiting ones.

    It stands in for the list moto keeps in ``Queue._messages`` (append, remove, iteration,
    ``len``), so moto's own code that is not replaced keeps working on it.
    """

    def __init__(self, messages: Iterable[Message] = ()):
        self.lock = threading.RLock()
        self._members: dict[Message, None] = {}
        self._handles: dict[str, Message] = {}
        self._hidden: set[Message] = set()
        self.appended = 0  # appends so far: a long poll waits only if none came since it looked
        for message in messages:
            self.append(message)

    def __reduce__(self) -> tuple[type["MessageLog"], tuple[list[Message]]]:
        """Pickled as its messages (``local.aws.state_file``): the lock and the indexes are
        made anew from them."""
        return MessageLog, (list(self._members),)

    def append(self, message: Message) -> None:
        with self.lock:
            self.appended += 1
            self._members[message] = None
            _OWNER[message] = self
            for handle in message.all_receipt_handles:
                if handle is not None:
                    self._handles[handle] = message
            self._hidden.add(message)

    def remove(self, message: Message) -> None:
        with self.lock:
            if message not in self._members:
                raise ValueError("MessageLog.remove(x): x not in log")
            del self._members[message]
            self._forget(message)

    def _forget(self, message: Message) -> None:
        _OWNER.pop(message, None)
        self._hidden.discard(message)
        for handle in message.all_receipt_handles:
            if handle is not None and self._handles.get(handle) is message:
                del self._handles[handle]

    def release(self) -> None:
        """The queue dropped this log (a purge): its messages belong to no queue."""
        with self.lock:
            for message in self._members:
                self._forget(message)
            self._members.clear()

    def __iter__(self) -> Iterator[Message]:
        with self.lock:
            return iter(list(self._members))

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, message: object) -> bool:
        return message in self._members

    def changed(self, message: Message) -> None:
        """A member's visibility, delay or receipt handle changed."""
        with self.lock:
            if message.receipt_handle is not None:
                self._handles[message.receipt_handle] = message
            self._hidden.add(message)

    def find(self, receipt_handle: str) -> Message | None:
        """The member that has or had this receipt handle."""
        return self._handles.get(receipt_handle)

    def ready(self, now_ms: float) -> Iterator[Message]:
        """Visible, undelayed members, oldest first. The caller holds ``lock`` and removes
        nothing until it is done iterating."""
        return (message for message in self._members if _ready(message, now_ms))

    def counts(self) -> tuple[int, int, int]:
        """(visible, not visible, delayed), as moto's three attribute counts."""
        with self.lock:
            now = _now_ms()
            not_visible = delayed = unready = 0
            for message in list(self._hidden):
                invisible = not now > message.visible_at
                late = now < message.delayed_until
                if not (invisible or late):
                    self._hidden.discard(message)
                    continue
                unready += 1
                not_visible += invisible
                delayed += late
            return len(self._members) - unready, not_visible, delayed


def _log(queue: Queue) -> MessageLog:
    log: MessageLog = queue.__dict__["_message_log"]
    return log


def _set_messages(queue: Queue, messages: Iterable[Message]) -> None:
    old = queue.__dict__.get("_message_log")
    if old is not None:
        old.release()
    queue.__dict__["_message_log"] = (
        messages if isinstance(messages, MessageLog) else MessageLog(messages)
    )


def _notify_owner(method: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(method)
    def hooked(self: Message, *args: Any, **kwargs: Any) -> None:
        method(self, *args, **kwargs)
        owner = _OWNER.get(self)
        if owner is not None:
            owner.changed(self)

    return hooked


def _messages(queue: Queue) -> list[Message]:
    log = _log(queue)
    with log.lock:
        return list(log.ready(_now_ms()))


def _delete_message(queue: Queue, receipt_handle: str) -> None:
    if receipt_handle in queue.deleted_messages:
        return  # already deleted: moto accepts it again
    log = _log(queue)
    with log.lock:
        message = log.find(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        log.remove(message)


# What a request does while it blocks in a long poll (the emulator gives up the request's turn).
_while_waiting: Callable[[], AbstractContextManager[None]] = nullcontext


def _wait_for_messages(queue: Queue, timeout: int) -> None:
    log = _log(queue)

    def any_ready() -> bool:
        with log.lock:
            return next(log.ready(_now_ms()), None) is not None

    with _while_waiting(), queue._messages_lock:
        queue._messages_lock.wait_for(any_ready, timeout=timeout)


def _take(
    queue: Queue, count: int, visibility_timeout: int, attribute_names: list[str]
) -> tuple[list[Message], list[Message]]:
    """One pass of moto's receive loop: (copies to return, members due for the DLQ)."""
    result: list[Message] = []
    dead: list[Message] = []
    policy: dict[str, Any] | None = queue.redrive_policy
    max_receives = policy["maxReceiveCount"] if policy and queue.dead_letter_queue else None
    retention_seconds = queue.message_retention_period  # type: ignore[attr-defined]
    log = _log(queue)
    with log.lock:
        now = _now_ms()
        for message in log.ready(now):
            if message in queue.pending_messages:
                # Pending but visible again: the consumer that had it timed out.
                queue.pending_messages.remove(message)
            if max_receives is not None and message.approximate_receive_count >= max_receives:
                dead.append(message)
                continue
            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            copy = deepcopy(message)
            _filter_message_attributes(copy, attribute_names)
            if retention_seconds + message.sent_timestamp / 1000 <= now / 1000:  # type: ignore[operator]
                break  # past its retention period (moto marks it received, returns nothing more)
            result.append(copy)
            if len(result) >= count:
                break
        for message in dead:
            log.remove(message)
    return result, dead


_moto_receive_message = SQSBackend.receive_message


def _receive_message(
    backend: SQSBackend,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Message]:
    queue = backend.get_queue(queue_name)
    if queue.fifo_queue:  # message groups: moto's own code
        return _moto_receive_message(
            backend,
            queue_name,
            count,
            wait_seconds_timeout,
            visibility_timeout,
            message_attribute_names,
        )
    names = message_attribute_names or []
    polling_end = unix_time() + wait_seconds_timeout
    while True:
        log = _log(queue)
        with queue._messages_lock:
            seen = log.appended
            result, dead = _take(queue, count, visibility_timeout, names)
        for message in dead:
            queue.dead_letter_queue.add_message(message)  # type: ignore[union-attr]
        remaining = polling_end - unix_time()
        if result or not wait_seconds_timeout or remaining <= 0:
            return result
        if dead:
            continue
        # Nothing yet: wait for a send (it notifies) without holding anything; the 1 s bound
        # catches messages whose visibility ran out.
        with _while_waiting(), queue._messages_lock:
            if log.appended == seen:
                queue._messages_lock.wait(timeout=min(1.0, remaining))


def _change_message_visibility(
    backend: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
) -> None:
    queue = backend.get_queue(queue_name)
    log = _log(queue)
    with log.lock:
        message = log.find(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid
        visibility_timeout_msec = int(visibility_timeout) * 1000
        given_visibility_timeout = _now_ms() + visibility_timeout_msec
        if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:  # type: ignore[operator]
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)


def _counts(index: int) -> property:
    return property(lambda queue: _log(queue).counts()[index])


_installed = False


def install(
    while_waiting: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> None:
    """Replace moto's SQS paths in this process (idempotent). Call before any queue exists.
    ``while_waiting``: entered while a long poll blocks, e.g. to let other requests run."""
    global _installed, _while_waiting
    if _installed:
        return
    check_moto_version()
    _while_waiting = while_waiting
    queue_class: Any = Queue
    queue_class._messages = property(_log, _set_messages)
    queue_class.messages = property(_messages)
    queue_class.approximate_number_of_messages = _counts(0)
    queue_class.approximate_number_of_messages_not_visible = _counts(1)
    queue_class.approximate_number_of_messages_delayed = _counts(2)
    queue_class.delete_message = _delete_message
    queue_class.wait_for_messages = _wait_for_messages
    backend_class: Any = SQSBackend
    backend_class.receive_message = _receive_message
    backend_class.change_message_visibility = _change_message_visibility
    message_class: Any = Message
    for name in ("mark_received", "change_visibility", "delay"):
        setattr(message_class, name, _notify_owner(getattr(Message, name)))
    _installed = True
