"""The order as a client submits it (``OrderRequest``) and as the pipeline stores it (``Order``).

Every rule of SPEC §3 lives here as a pydantic constraint, so one ``model_validate`` call reports
all violations at once, each located by its JSON path. Pricing (subtotals and the total) is
computed here too, because a client that echoes amounts must agree with it.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StrictInt, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from contracts.client_rules import MESSAGES
from contracts.email_address import ContractEmail, EmailAddress
from contracts.types import (
    CamelModel,
    CustomerId,
    CustomerName,
    Money,
    OrderId,
    ProductId,
    ProductName,
    RequestAmount,
    RequestPrice,
    Timestamp,
    format_money,
)

MAX_ITEMS = 50
MAX_QUANTITY = 1000


def line_subtotal(quantity: int, price: Decimal) -> Decimal:
    """quantity × price, exact: prices have at most two places, so no rounding is involved."""
    return Decimal(quantity) * price


def _check_echoed_amount(claimed: Decimal | None, expected: Decimal | None) -> Decimal | None:
    if claimed is not None and expected is not None and claimed != expected:
        raise PydanticCustomError(
            "amount_mismatch",
            MESSAGES["amount_mismatch"],
            {"expected": format_money(expected)},
        )
    return claimed


class OrderItemRequest(CamelModel, extra="forbid"):
    product_id: ProductId
    product_name: ProductName | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    price: RequestPrice
    subtotal: RequestAmount | None = None

    @field_validator("subtotal")
    @classmethod
    def _subtotal_matches(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        # info.data holds only the fields that validated: a bad price reports itself, not this.
        quantity, price = info.data.get("quantity"), info.data.get("price")
        expected = None if quantity is None or price is None else line_subtotal(quantity, price)
        return _check_echoed_amount(value, expected)


class OrderRequest(CamelModel, extra="forbid"):
    """``POST /order`` body. Unknown fields are rejected so a misspelt field is never ignored."""

    customer_id: CustomerId | None = None
    customer_name: CustomerName
    customer_email: EmailAddress
    items: Annotated[list[OrderItemRequest], Field(min_length=1, max_length=MAX_ITEMS)]
    total_amount: RequestAmount | None = None

    @field_validator("total_amount")
    @classmethod
    def _total_matches(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        items: list[OrderItemRequest] | None = info.data.get("items")
        expected = None if items is None else order_total(items)
        return _check_echoed_amount(value, expected)


def order_total(items: list[OrderItemRequest]) -> Decimal:
    return sum((line_subtotal(i.quantity, i.price) for i in items), Decimal("0.00"))


class OrderLine(CamelModel):
    product_id: Annotated[str, Field(min_length=1)]
    product_name: str | None
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    price: Money
    subtotal: Money


class Order(CamelModel):
    """An accepted order, priced by the server. Its JSON form is ``GET /order/{orderId}``."""

    order_id: OrderId
    customer_id: str | None
    customer_name: Annotated[str, Field(min_length=1)]
    customer_email: ContractEmail
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_ITEMS)]
    total_amount: Money
    created_at: Timestamp


def build_order(request: OrderRequest, order_id: str, created_at: datetime) -> Order:
    """Price a validated request into the order the pipeline stores and announces.

    Built with ``model_construct``: every value comes from a validated request, and validating
    it again (the email check above all) would triple the per-request cost for nothing."""
    lines = [
        OrderLine.model_construct(
            product_id=item.product_id,
            product_name=item.product_name,
            quantity=item.quantity,
            price=item.price,
            subtotal=line_subtotal(item.quantity, item.price),
        )
        for item in request.items
    ]
    return Order.model_construct(
        order_id=order_id,
        customer_id=request.customer_id,
        customer_name=request.customer_name,
        customer_email=request.customer_email,
        items=lines,
        total_amount=sum((line.subtotal for line in lines), Decimal("0.00")),
        created_at=created_at,
    )
