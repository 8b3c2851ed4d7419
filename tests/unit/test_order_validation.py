"""Every rule of SPEC §3 at and beyond its boundary, through the same parser the API uses."""

import json
from decimal import Decimal
from typing import Any

import pytest

from api.validation import InvalidOrder, json_path, parse_order
from contracts.order import OrderRequest


def order(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "customerName": "John Doe",
        "customerEmail": "john.doe@example.com",
        "items": [{"productId": "PROD-001", "quantity": 2, "price": 29.99}],
    }
    return base | changes


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"productId": "PROD-001", "quantity": 1, "price": 1}
    return base | changes


def parse(body: dict[str, Any] | str) -> OrderRequest:
    return parse_order((body if isinstance(body, str) else json.dumps(body)).encode())


def error_fields(body: dict[str, Any] | str) -> list[str]:
    with pytest.raises(InvalidOrder) as caught:
        parse(body)
    return [e.field for e in caught.value.errors]


@pytest.mark.parametrize(("length", "ok"), [(1, False), (2, True), (100, True), (101, False)])
def test_customer_name_length(length: int, ok: bool) -> None:
    body = order(customerName="n" * length)
    if ok:
        assert parse(body).customer_name == "n" * length
    else:
        assert error_fields(body) == ["customerName"]


def test_customer_name_is_counted_after_trimming() -> None:
    assert error_fields(order(customerName="  J  ")) == ["customerName"]
    assert parse(order(customerName="  Jo  ")).customer_name == "Jo"


@pytest.mark.parametrize("count", [0, 51])
def test_item_count_out_of_bounds(count: int) -> None:
    assert error_fields(order(items=[item()] * count)) == ["items"]


@pytest.mark.parametrize("count", [1, 50])
def test_item_count_in_bounds(count: int) -> None:
    assert len(parse(order(items=[item()] * count)).items) == count


@pytest.mark.parametrize(
    ("quantity", "ok"),
    [
        (0, False),
        (1, True),
        (1000, True),
        (1001, False),
        (1.5, False),
        (-1, False),
        ("2", False),
        (True, False),
    ],
)
def test_quantity(quantity: Any, ok: bool) -> None:
    body = order(items=[item(quantity=quantity)])
    if ok:
        assert parse(body).items[0].quantity == quantity
    else:
        assert error_fields(body) == ["items[0].quantity"]


@pytest.mark.parametrize(
    ("price", "ok"),
    [
        ("0", False),
        ("0.01", True),
        ("999999.99", True),
        ("1000000", False),
        ("1.234", False),
        ("-1", False),
        ("1e2", True),
        ("1.50", True),
    ],
)
def test_price(price: str, ok: bool) -> None:
    body = json.dumps(order(items=[item(price="PRICE")])).replace('"PRICE"', price)
    if ok:
        assert parse(body).items[0].price == Decimal(price)
    else:
        assert error_fields(body) == ["items[0].price"]


@pytest.mark.parametrize("price", ['"29.99"', "true", "null", "[1]"])
def test_price_must_be_a_json_number(price: str) -> None:
    body = json.dumps(order(items=[item(price="PRICE")])).replace('"PRICE"', price)
    assert error_fields(body) == ["items[0].price"]


@pytest.mark.parametrize("product_id", ["", "   ", "\t"])
def test_blank_product_id(product_id: str) -> None:
    assert error_fields(order(items=[item(productId=product_id)])) == ["items[0].productId"]


def test_product_name_is_optional() -> None:
    assert parse(order(items=[item()])).items[0].product_name is None
    assert parse(order(items=[item(productName="Widget")])).items[0].product_name == "Widget"


def test_customer_id_is_optional_but_must_be_a_string() -> None:
    assert parse(order()).customer_id is None
    assert parse(order(customerId="CUST-1")).customer_id == "CUST-1"
    assert error_fields(order(customerId=12345)) == ["customerId"]


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "@example.com",
        "john@",
        "john doe@example.com",
        "john@@example.com",
        "john@example",
        "a" * 65 + "@example.com",
        "",
    ],
)
def test_invalid_email(email: str) -> None:
    assert error_fields(order(customerEmail=email)) == ["customerEmail"]


@pytest.mark.parametrize(
    "email", ["john.doe@example.com", "o'brien+orders@mail.example.co.uk", "zoë@exämple.de"]
)
def test_valid_email(email: str) -> None:
    assert parse(order(customerEmail=email)).customer_email


@pytest.mark.parametrize("field", ["customerName", "customerEmail", "items"])
def test_required_fields(field: str) -> None:
    body = order()
    del body[field]
    with pytest.raises(InvalidOrder) as caught:
        parse(body)
    [error] = caught.value.errors
    assert (error.field, error.message) == (field, "is required")


def test_missing_item_fields_are_each_named() -> None:
    assert error_fields(order(items=[{}])) == [
        "items[0].productId",
        "items[0].quantity",
        "items[0].price",
    ]


def test_total_amount_matching_and_not() -> None:
    items = [item(quantity=2, price=29.99), item(quantity=1, price=49.99)]
    assert parse(order(items=items, totalAmount=109.97)).total_amount == Decimal("109.97")
    assert error_fields(order(items=items, totalAmount=109.96)) == ["totalAmount"]


def test_subtotal_matching_and_not() -> None:
    assert parse(order(items=[item(quantity=3, price=0.1, subtotal=0.3)])).items[
        0
    ].subtotal == Decimal("0.3")
    assert error_fields(order(items=[item(quantity=3, price=0.1, subtotal=0.31)])) == [
        "items[0].subtotal"
    ]


def test_money_sums_exactly() -> None:
    request = parse(order(items=[item(price=0.1), item(price=0.2)], totalAmount=0.30))
    assert sum(i.price for i in request.items) == Decimal("0.3")


def test_all_violations_are_reported_at_once() -> None:
    body = order(
        customerName="J",
        customerEmail="nope",
        items=[item(quantity=0, price=0), item(productId="")],
    )
    assert error_fields(body) == [
        "customerName",
        "customerEmail",
        "items[0].quantity",
        "items[0].price",
        "items[1].productId",
    ]


def test_unknown_fields_are_rejected_by_name() -> None:
    assert error_fields(order(discount=10)) == ["discount"]
    assert error_fields(order(items=[item(colour="red")])) == ["items[0].colour"]


@pytest.mark.parametrize("name", ["Jo\x00hn", "John\nBcc: x@example.com", "Jo\x7fhn"])
def test_control_characters_are_rejected(name: str) -> None:
    assert error_fields(order(customerName=name)) == ["customerName"]


def test_hostile_text_is_kept_verbatim_for_later_escaping() -> None:
    name = '<script>alert("x")</script>'
    assert parse(order(customerName=name)).customer_name == name


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("items", 0, "quantity"), "items[0].quantity"),
        (("customerName",), "customerName"),
        (("a.b",), '["a.b"]'),
        ((), "body"),
    ],
)
def test_json_path(loc: tuple[int | str, ...], path: str) -> None:
    assert json_path(loc) == path
