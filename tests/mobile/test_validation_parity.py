"""The app's validation (mobile/, pure Python) answers exactly what the Order API answers
(pydantic): the same field paths and messages, for SPEC §3's boundary cases and for any body
generated from the request schema, valid or broken. And the app's rule files are the contract's."""

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.validation import InvalidOrder, validate_order
from contracts.sample_data import sample
from orders_mobile.rules import OrderRules
from tests.support.schema_strategy import from_schema

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "mobile" / "src" / "orders_mobile" / "resources"
RULES = OrderRules.from_contract()


def api_answer(body: Any) -> list[tuple[str, str]]:
    try:
        validate_order(body)
    except InvalidOrder as invalid:
        return sorted((e.field, e.message) for e in invalid.errors)
    return []


def app_answer(body: Any) -> list[tuple[str, str]]:
    return sorted((e.field, e.message) for e in RULES.check(body))


@pytest.mark.parametrize(
    "name", ["order_request.schema.json", "client_rules.json"], ids=lambda n: n.split(".")[0]
)
def test_the_apps_rules_are_the_contracts_files(name: str) -> None:
    source = ROOT / "contracts" / ("schemas" if name.endswith("schema.json") else "") / name
    assert (RESOURCES / name).read_bytes() == source.read_bytes(), (
        f"mobile/src/orders_mobile/resources/{name} differs from the contract: copy {source}"
    )


def _base() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        json.dumps(sample("order_request.spec_example.json")), parse_float=Decimal
    )
    return body


def _with(**fields: Any) -> dict[str, Any]:
    return _base() | fields


def _item(**fields: Any) -> dict[str, Any]:
    body = _base()
    body["items"][1].update(fields)
    return body


def _without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in _base().items() if k not in names}


ITEM = _base()["items"][0]
D = Decimal
# SPEC §3, field by field, at and beyond each bound; plus wrong types and hostile text.
BOUNDARY_CASES: list[Any] = [
    _base(),
    [],
    "order",
    None,
    {},
    _without("customerName"),
    _without("customerEmail", "items"),
    _with(customerName="Jo"),
    _with(customerName="J"),
    _with(customerName=" J "),
    _with(customerName="  Jo  "),
    _with(customerName="x" * 100),
    _with(customerName="x" * 101),
    _with(customerName=5),
    _with(customerName=None),
    _with(customerName="Jo\x00hn"),
    _with(customerName="John\nBcc: x@example.com"),
    _with(customerName="<script>alert(1)</script>"),
    _with(customerEmail="john.doe@example.com"),
    _with(customerEmail="not-an-address"),
    _with(customerEmail="two@@example.com"),
    _with(customerEmail=" john@example.com"),
    _with(customerEmail="john@localhost"),
    _with(customerEmail="a" * 65 + "@example.com"),
    _with(customerEmail="x@" + "d" * 250 + ".com"),
    _with(customerEmail=42),
    _with(customerId=None),
    _with(customerId=""),
    _with(customerId="  "),
    _with(customerId="x" * 101),
    _with(customerId=7),
    _with(items=[]),
    _with(items=[ITEM]),
    _with(items=[ITEM] * 50),
    _with(items=[ITEM] * 51),
    _with(items=[*([ITEM] * 50), 1]),
    _with(items="items"),
    _with(items=[1, ITEM]),
    _with(items=[{}]),
    _item(productId=""),
    _item(productId="   "),
    _item(productId="x" * 101),
    _item(productId=12),
    _item(productName=None),
    _item(productName=""),
    _item(productName="x" * 201),
    _item(quantity=1),
    _item(quantity=1000),
    _item(quantity=0),
    _item(quantity=1001),
    _item(quantity=-1),
    _item(quantity=True),
    _item(quantity=D("2.0")),
    _item(quantity=D("2.5")),
    _item(quantity="2"),
    _item(quantity=None),
    _item(price=D("0.01")),
    _item(price=D("999999.99")),
    _item(price=0),
    _item(price=D("-0.01")),
    _item(price=D("1000000")),
    _item(price=D("1000000.001")),
    _item(price=D("1.001")),
    _item(price=D("1.10")),
    _item(price=D("1.000")),
    _item(price=D("1E+2")),
    _item(price=D("1E-400")),
    _item(price=D("1E+400")),
    _item(price="29.99"),
    _item(price=True),
    _item(price=None),
    _item(price=[1]),
    _item(subtotal=D("49.99")),
    _item(subtotal=D("50")),
    _item(subtotal=D("-1")),
    _item(subtotal="49.99"),
    _item(subtotal=D("49.999")),
    _item(price=D("0"), subtotal=D("1")),
    _with(totalAmount=D("109.97")),
    _with(totalAmount=D("109.96")),
    _with(totalAmount=D("-1")),
    _with(totalAmount=D("1"), items=[{**ITEM, "price": 0}]),
    _with(
        items=[{**ITEM, "price": D("0.1")}, {**ITEM, "price": D("0.2"), "quantity": 1}],
        totalAmount=D("0.80"),
    ),
    _item(discount=1),
    _with(coupon="FREE"),
    _with(**{"customer name": "x"}),
    _with(customerName="", customerEmail="", items=[{"quantity": 0, "price": 0}], extra=1),
]


@pytest.mark.parametrize(
    "body", BOUNDARY_CASES, ids=lambda body: json.dumps(body, default=str)[:60]
)
def test_boundary_cases_get_the_same_answer_from_the_app_and_the_api(body: Any) -> None:
    assert app_answer(copy.deepcopy(body)) == api_answer(copy.deepcopy(body))


def test_the_boundary_cases_cover_every_kind_of_answer() -> None:
    """So the comparison above cannot pass by both sides answering little."""
    messages = {message for body in BOUNDARY_CASES for _, message in api_answer(body)}
    for expected in RULES._messages.values():  # every message the contract defines
        head = expected.split("{", 1)[0]
        if head.startswith("must be a JSON object") or head.startswith("Request body"):
            continue
        assert any(m.startswith(head) for m in messages), expected


_ORDER_SCHEMA = json.loads((RESOURCES / "order_request.schema.json").read_text())
_FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=1_200),
    st.decimals(min_value=-10, max_value=D("1000001"), places=3, allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["", "  ", "x" * 101, "Jo\x00", "a@b.co", "@", "x" * 201]),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def broken_bodies(draw: st.DrawFn) -> Any:
    """A schema-valid body with a few fields replaced, dropped or added, at any depth."""
    body = copy.deepcopy(draw(from_schema(_ORDER_SCHEMA)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        target = body
        if body.get("items") and isinstance(body["items"], list) and draw(st.booleans()):
            index = draw(st.integers(min_value=0, max_value=len(body["items"]) - 1))
            if isinstance(body["items"][index], dict):
                target = body["items"][index]
        names = [*target, "extra"]
        name = draw(st.sampled_from(names))
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            target.pop(name, None)
        else:
            target[name] = draw(_FIELD_VALUES)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_bodies())
def test_for_any_body_the_app_and_the_api_agree(body: Any) -> None:
    assert app_answer(copy.deepcopy(body)) == api_answer(copy.deepcopy(body))
