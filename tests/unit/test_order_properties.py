"""Property-based checks of order validation (SPEC §11 properties 2 and 8-13)."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.validation import InvalidOrder, parse_order
from contracts.order import build_order

names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=2, max_size=100
)
emails = st.emails(domains=st.sampled_from(["example.com", "mail.example.org"])).filter(
    lambda e: len(e) <= 64 and len(e.split("@")[0]) <= 64
)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2)
items = st.fixed_dictionaries(
    {
        "productId": st.text(
            st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=100
        ),
        "quantity": st.integers(min_value=1, max_value=1000),
        "price": prices,
    },
    optional={
        "productName": st.text(
            st.characters(
                min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs", "Cc")
            ),
            max_size=50,
        )
    },
)
orders = st.fixed_dictionaries(
    {
        "customerName": names,
        "customerEmail": emails,
        "items": st.lists(items, min_size=1, max_size=50),
    },
    optional={
        "customerId": st.text(
            st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=100
        )
    },
)


def encode(body: dict[str, Any]) -> bytes:
    """JSON with prices as numbers (Decimal written out exactly, never through float)."""

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"__num__{value}__num__"
        raise TypeError(value)

    text = json.dumps(body, default=default)
    return text.replace('"__num__', "").replace('__num__"', "").encode()


@given(orders)
def test_any_valid_order_is_accepted_and_priced_exactly(body: dict[str, Any]) -> None:
    request = parse_order(encode(body))
    order = build_order(request, "0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10", datetime.now(UTC))
    assert order.total_amount == sum(Decimal(i["quantity"]) * i["price"] for i in body["items"])
    assert len(order.items) == len(body["items"])


Mutation = Callable[[dict[str, Any]], str]


def set_field(field: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> str:
        body[field] = value
        return field

    return mutate


def drop_field(field: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> str:
        del body[field]
        return field

    return mutate


def set_item_field(field: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> str:
        body["items"][0][field] = value
        return f"items[0].{field}"

    return mutate


def drop_item_field(field: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> str:
        del body["items"][0][field]
        return f"items[0].{field}"

    return mutate


MUTATIONS: list[Mutation] = [
    set_field("customerEmail", "not-an-email"),
    set_field("customerEmail", "john@"),
    set_field("customerName", "J"),
    set_field("customerName", " "),
    set_field("customerName", "x" * 101),
    set_field("items", []),
    set_field("items", "PROD-1"),
    drop_field("customerName"),
    drop_field("customerEmail"),
    drop_field("items"),
    drop_item_field("productId"),
    drop_item_field("quantity"),
    drop_item_field("price"),
    set_item_field("productId", "  "),
    set_item_field("quantity", 0),
    set_item_field("quantity", -3),
    set_item_field("quantity", 1001),
    set_item_field("quantity", 2.5),
    set_item_field("price", Decimal("0")),
    set_item_field("price", Decimal("-0.01")),
    set_item_field("price", Decimal("1000000")),
    set_item_field("price", Decimal("0.001")),
    set_item_field("price", "9.99"),
]


@given(orders, st.sampled_from(MUTATIONS))
def test_any_single_mutation_is_rejected_naming_the_field(
    body: dict[str, Any], mutate: Mutation
) -> None:
    field = mutate(body)
    with pytest.raises(InvalidOrder) as caught:
        parse_order(encode(body))
    assert [e.field for e in caught.value.errors] == [field]
