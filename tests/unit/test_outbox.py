"""The outbox's pure core: a stream record of the Orders table becomes the very event the API
published before the outbox existed (SPEC §4, §9)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.idempotency import order_id_for_key
from api.order_items import order_item
from api.outbox import NotAnOrder, event_from_record, is_insert, lag_ms, sequence_number
from api.publisher import MAX_ENTRIES, MAX_REQUEST_BYTES, _chunks
from api.validation import parse_order
from contracts.events import OrderCreated
from contracts.order import Order, build_order
from tests.unit.test_order_properties import encode, orders

CREATED = datetime(2026, 11, 27, 9, 0, 0, 123000, tzinfo=UTC)


def as_dynamodb_returns_it(value: Any) -> Any:
    """An item as a stream record carries it: DynamoDB normalises numbers ("0.30" -> "0.3")."""
    if isinstance(value, dict):
        if set(value) == {"N"}:
            return {"N": format(Decimal(value["N"]).normalize(), "f")}
        return {key: as_dynamodb_returns_it(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [as_dynamodb_returns_it(inner) for inner in value]
    return value


def record_of(order: Order, event_name: str = "INSERT", sequence: str = "100") -> dict[str, Any]:
    return {
        "eventID": "1",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"OrderId": {"S": order.order_id}},
            "NewImage": as_dynamodb_returns_it(order_item(order)),
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def an_order(**changes: Any) -> Order:
    request = parse_order(
        encode(
            {
                "customerName": "Ada Lovelace",
                "customerEmail": "ada@example.com",
                "items": [{"productId": "P1", "quantity": 3, "price": Decimal("0.10")}],
            }
            | changes
        )
    )
    return build_order(request, "0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10", CREATED)


@given(body=orders)
def test_for_any_order_the_stream_record_gives_the_event_of_the_order(body: dict[str, Any]) -> None:
    order = build_order(parse_order(encode(body)), "0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10", CREATED)

    event = event_from_record(record_of(order))

    expected = OrderCreated.from_order(order)
    assert event.model_dump_json(by_alias=True) == expected.model_dump_json(by_alias=True)


def test_the_request_hash_on_an_item_stays_out_of_the_event() -> None:
    order = an_order()
    record = record_of(order)
    record["dynamodb"]["NewImage"]["RequestHash"] = {"S": "ab" * 32}
    assert event_from_record(record) == OrderCreated.from_order(order)


@pytest.mark.parametrize("name", ["MODIFY", "REMOVE", None])
def test_only_inserts_are_orders_being_created(name: str | None) -> None:
    assert not is_insert(record_of(an_order(), event_name=str(name)))
    assert is_insert(record_of(an_order()))


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda image: image.pop("CustomerEmail"), "attribute CustomerEmail is missing"),
        (lambda image: image.update(TotalAmount={"S": "lots"}), "not an order item"),
        (lambda image: image.update(CreatedAt={"S": "yesterday"}), "not an order item"),
        (lambda image: image.update(Items={"L": []}), "not an order item"),
        (lambda image: image.update(CustomerEmail={"S": "not-an-email"}), "not an order item"),
        (lambda image: image.update(OrderId={"N": "7"}), "not an order item"),
        (lambda image: image.clear(), "no NewImage"),
    ],
)
def test_an_item_that_is_not_an_order_says_why(spoil: Any, reason: str) -> None:
    record = record_of(an_order())
    spoil(record["dynamodb"]["NewImage"])
    with pytest.raises(NotAnOrder, match=reason):
        event_from_record(record)


def test_a_record_without_dynamodb_is_not_an_order() -> None:
    with pytest.raises(NotAnOrder, match="no NewImage"):
        event_from_record({"eventName": "INSERT"})
    assert sequence_number({"eventName": "INSERT"}) == ""


def test_lag_is_from_the_stored_creation_time() -> None:
    event = OrderCreated.from_order(an_order())
    assert lag_ms(event, CREATED + timedelta(milliseconds=250)) == 250
    assert lag_ms(event, CREATED - timedelta(seconds=1)) == 0  # clocks apart: never negative


def test_publish_batches_hold_ten_entries_and_stay_under_the_request_limit() -> None:
    assert [len(group) for group in _chunks(["{}"] * 25)] == [10, 10, 5]
    big = "x" * 60_000
    groups = _chunks([big] * 9)
    assert all(sum(len(big) + 200 for _ in group) <= MAX_REQUEST_BYTES for group in groups)
    assert [index for group in groups for index in group] == list(range(9))
    assert max(len(group) for group in _chunks(["{}"] * 100)) == MAX_ENTRIES


@given(key=st.text(min_size=1, max_size=255), caller=st.text(max_size=40))
def test_key_derived_order_ids_are_uuid4_shaped_and_stable(key: str, caller: str) -> None:
    order_id = order_id_for_key(key, caller)
    assert order_id == order_id_for_key(key, caller)
    assert order_id[14] == "4"
    assert order_id[19] in "89ab"
    assert order_id != order_id_for_key(key, caller + "x")
