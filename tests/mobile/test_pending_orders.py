"""The device's store of unsent orders: kept across restarts, written atomically, and a file
it cannot read set aside, never lost and never a crash."""

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from orders_mobile.pending import PendingOrders, UnreadableStore

BODY = {
    "customerName": "Jo",
    "items": [{"productId": "P", "quantity": 1, "price": Decimal("0.10")}],
}


def test_orders_survive_a_restart_with_their_keys_and_exact_amounts(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pending-orders.json"
    first = PendingOrders(path).save(BODY)
    second = PendingOrders(path).save({**BODY, "customerName": "Ann"})
    assert str(uuid.UUID(first.idempotency_key)) == first.idempotency_key
    assert first.idempotency_key != second.idempotency_key
    after_restart = PendingOrders(path).load()  # a new instance: nothing held in memory
    assert [o.idempotency_key for o in after_restart] == [
        first.idempotency_key,
        second.idempotency_key,
    ]
    assert after_restart[0].body == BODY
    assert after_restart[0].body["items"][0]["price"] == Decimal("0.10")
    PendingOrders(path).remove(first.idempotency_key)
    assert [o.idempotency_key for o in PendingOrders(path).load()] == [second.idempotency_key]
    assert sorted(p.name for p in path.parent.iterdir()) == ["pending-orders.json"]


def test_no_file_is_no_orders(tmp_path: Path) -> None:
    assert PendingOrders(tmp_path / "none.json").load() == []


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[]",
        '{"version": 2, "orders": []}',
        '{"version": 1}',
        '{"version": 1, "orders": [{"idempotencyKey": "not-a-uuid", "body": {}, "savedAt": "x"}]}',
        '{"version": 1, "orders": [{"idempotencyKey": "'
        + str(uuid.uuid4())
        + '", "body": 1, "savedAt": "x"}]}',
    ],
)
def test_an_unreadable_file_is_set_aside_not_lost(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pending-orders.json"
    path.write_text(content)
    store = PendingOrders(path)
    with pytest.raises(UnreadableStore, match=r"kept as pending-orders\.json\.unreadable"):
        store.load()
    assert (tmp_path / "pending-orders.json.unreadable").read_text() == content
    assert store.load() == []
    store.save(BODY)  # and the app goes on
    assert len(store.load()) == 1
