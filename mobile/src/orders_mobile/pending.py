"""Orders saved on the device until the API has them (SPEC §10).

An order is saved with its idempotency key *before* its first attempt and removed only when
the API has answered for good (accepted, or refused for a reason sending again cannot fix).
So an app that is killed mid-request, or a phone without network, keeps the order, and the next
attempt, after any restart, reuses the same key: the API never stores it twice.

One JSON file, replaced atomically (write a temporary file, fsync, rename): a crash leaves the
old file or the new one, never half of one. A file that cannot be read is set aside (renamed
``*.unreadable``) rather than lost or crashing the app, and the app says so.
"""

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from orders_mobile.client import encode

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PendingOrder:
    idempotency_key: str
    body: dict[str, Any]
    saved_at: str


class UnreadableStore(Exception):
    """The file was not a store this app wrote; it has been set aside under ``moved_to``."""

    def __init__(self, moved_to: Path, reason: str):
        super().__init__(f"saved orders could not be read ({reason}); kept as {moved_to.name}")
        self.moved_to = moved_to


def _is_key(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


class PendingOrders:
    def __init__(self, path: Path):
        self.path = path

    def load(self) -> list[PendingOrder]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            data = json.loads(text, parse_float=Decimal)
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError(f"not version {FORMAT_VERSION} of this app's store")
            orders = [
                PendingOrder(entry["idempotencyKey"], entry["body"], entry["savedAt"])
                for entry in data["orders"]
            ]
            if not all(_is_key(o.idempotency_key) and isinstance(o.body, dict) for o in orders):
                raise ValueError("an entry without a key or an order")
        except (ValueError, KeyError, TypeError) as exc:
            moved = self.path.with_name(self.path.name + ".unreadable")
            os.replace(self.path, moved)
            raise UnreadableStore(moved, str(exc)) from None
        return orders

    def _write(self, orders: list[PendingOrder]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries = [
            {"idempotencyKey": o.idempotency_key, "body": o.body, "savedAt": o.saved_at}
            for o in orders
        ]
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as file:
            file.write(encode({"version": FORMAT_VERSION, "orders": entries}))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    def save(self, body: dict[str, Any]) -> PendingOrder:
        """Keeps a new order with a new key, before it is sent for the first time."""
        order = PendingOrder(str(uuid.uuid4()), body, datetime.now(UTC).isoformat())
        self._write([*self.load(), order])
        return order

    def remove(self, idempotency_key: str) -> None:
        self._write([o for o in self.load() if o.idempotency_key != idempotency_key])
