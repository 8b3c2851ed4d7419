"""moto's state of the services the pipeline uses, captured as bytes and put back
(``local.aws.state_file`` keeps the bytes on disk).

What is captured is moto's own model of DynamoDB (with its streams), SQS and SNS, pickled
whole: every table item and stream record, every queue with its waiting, in-flight and
dead-lettered messages, every topic and subscription, so that an order, a message or a stream
position means after a restart exactly what it meant before. Locks are not kept: each is made
anew on restore.

The payload is read by an unpickler that finds only the classes of those services, of the fix
modules that stand in for parts of them, and the standard types their models hold, so a
crafted file cannot call a function of its choosing.

On restore, messages that were in flight (received, not yet deleted) are visible again at
once, as they would be after their visibility timeout: whoever received them is gone.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards it).
"""

import copyreg
import io
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from moto.core.base_backend import BackendDict
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.sns.models import sns_backends
from moto.sqs.models import SQSBackend, sqs_backends

BACKENDS: dict[str, BackendDict[Any]] = {
    "dynamodb": dynamodb_backends,
    "sqs": sqs_backends,
    "sns": sns_backends,
}
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
# What the payload may name: the classes of the services kept and of the fix modules that
# stand in for parts of them, and the standard types moto's models hold. Nothing else, so a
# crafted file cannot call a function of its choosing.
_ALLOWED = {
    "builtins": {"dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "str"},
    "collections": {"OrderedDict", "deque", "defaultdict", "Counter"},
    "copyreg": {"_reconstructor", "__newobj__", "__newobj_ex__"},
    "datetime": {"datetime", "date", "time", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "threading": {"RLock", "Condition", "Lock"},
    "uuid": {"UUID"},
    "local.aws.retention": {"RecentHandles"},
    "local.aws.sqs_indexes": {"MessageLog"},
}
_MOTO_MODULES = ("moto.core.", "moto.dynamodb.", "moto.sqs.", "moto.sns.")


def _fresh_lock(lock: Any) -> tuple[Callable[[], Any], tuple[()]]:
    return (threading.RLock if isinstance(lock, type(threading.RLock())) else threading.Lock), ()


def _fresh_condition(_: threading.Condition) -> tuple[type[threading.Condition], tuple[()]]:
    return threading.Condition, ()


def capture() -> bytes:
    """moto's state of ``BACKENDS``, pickled. Call it where no request runs (in a turn)."""
    state = {
        service: {account: dict(regions) for account, regions in backends.items()}
        for service, backends in BACKENDS.items()
    }
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    table = copyreg.dispatch_table.copy()
    for lock_type in _LOCK_TYPES:
        table[lock_type] = _fresh_lock
    table[threading.Condition] = _fresh_condition
    pickler.dispatch_table = table
    pickler.dump(state)
    return buffer.getvalue()


class _KnownClasses(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        if module.startswith(_MOTO_MODULES):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"it names {module}.{name}, which no emulator state holds")


@dataclass(frozen=True)
class Restored:
    tables: int
    items: int
    queues: int
    messages: int
    made_visible: int
    saved_at: str

    def line(self) -> str:
        return (
            f"restored: {self.items} items in {self.tables} tables, {self.messages} messages in "
            f"{self.queues} queues ({self.made_visible} in flight made visible again), "
            f"saved {self.saved_at}"
        )


def restore(payload: bytes, saved_at: str = "") -> Restored:
    """Put a ``capture()`` back in place of moto's current state (the emulator's start)."""
    state = _KnownClasses(io.BytesIO(payload)).load()
    if not isinstance(state, dict) or set(state) != set(BACKENDS):
        raise pickle.UnpicklingError("its payload is not the emulator's services")
    for service, backends in BACKENDS.items():
        backends.clear()
        for account, regions in state[service].items():
            for region, backend in regions.items():
                backends[account][region] = backend
    tables = items = queues = messages = made_visible = 0
    now_ms = datetime.now(UTC).timestamp() * 1000
    for _, _, dynamodb in dynamodb_backends.iter_backends():
        for table in cast(DynamoDBBackend, dynamodb).tables.values():
            tables += 1
            items += len(table)
    for _, _, sqs in sqs_backends.iter_backends():
        for queue in cast(SQSBackend, sqs).queues.values():
            queues += 1
            for message in queue._messages:
                messages += 1
                if message.visible_at > now_ms:
                    made_visible += 1
                    message.visible_at = 0.0
    return Restored(tables, items, queues, messages, made_visible, saved_at)
