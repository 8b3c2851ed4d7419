"""Time to live for the emulator's tables: expired items are deleted, as DynamoDB deletes them.

moto records a table's TTL setting and never acts on it, so the rows written to expire (the
email ledger's, 14 days) stayed for the emulator's lifetime. Here a sweep runs every
``SWEEP_SECONDS`` in the emulator, in a turn of its own (``local.aws.turns``, behind waiting
requests like any background one), and deletes the items of every TTL-enabled table whose TTL
attribute is a number of epoch seconds in the past. As on AWS: an item whose attribute is not
a number, or is more than five years in the past, is never expired; the deletion is free and
appears in the table's stream like any other removal; an expired item may still be read
until the sweep comes (AWS takes up to a few days).

Reads moto 5.2.5's ``Table.items``, ``Table.ttl`` and ``Table.delete_item``
(``local.aws.sqs_indexes.check_moto_version`` guards the emulator's fix modules).
"""

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb.models import dynamodb_backends

from local.aws.turns import Turns

SWEEP_SECONDS = 60.0
IGNORED_AFTER_SECONDS = 5 * 365 * 86_400  # AWS ignores TTL values more than 5 years old


def _items(table: Any) -> Iterator[tuple[Any, Any, Any]]:
    """(hash key, range key or None, item) of every item in the table."""
    for hash_key, stored in list(table.items.items()):
        if table.has_range_key:
            for range_key, item in list(stored.items()):
                yield hash_key, range_key, item
        else:
            yield hash_key, None, stored


def _expired(item: Any, attribute: str, now: float) -> bool:
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return False
    try:
        expires = float(value.value)
    except (TypeError, ValueError):
        return False
    return now - IGNORED_AFTER_SECONDS <= expires < now


def sweep(now: float | None = None) -> int:
    """Delete every expired item of every TTL-enabled table; returns how many."""
    now = time.time() if now is None else now
    deleted = 0
    for regions in list(dynamodb_backends.values()):
        for backend in list(regions.values()):
            for table in list(backend.tables.values()):
                if table.ttl.get("TimeToLiveStatus") != "ENABLED":
                    continue
                attribute = table.ttl.get("AttributeName")
                for hash_key, range_key, item in _items(table):  # snapshots: deleting is safe
                    if attribute and _expired(item, attribute, now):
                        table.delete_item(hash_key, range_key)
                        deleted += 1
    return deleted


async def run(
    turns: Turns, every: float = SWEEP_SECONDS, on_delete: Callable[[], None] | None = None
) -> None:
    """Sweep every ``every`` seconds, each sweep in a turn, never beside a request;
    ``on_delete`` is told when a sweep deleted something (the state changed)."""

    def in_turn() -> int:
        with turns.turn(foreground=False):
            return sweep()

    while True:
        await asyncio.sleep(every)
        try:
            if await asyncio.to_thread(in_turn) and on_delete is not None:
                on_delete()
        except Exception as exc:  # a sweep that fails must not stop the emulator: said, retried
            print(f"emulator: TTL sweep failed: {type(exc).__name__}: {exc}", file=sys.stderr)
