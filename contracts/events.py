"""``OrderCreated``: the event the Order API publishes and both consumers read (SPEC §4).

Consumers ignore fields they do not know, so adding an optional field is not a breaking change;
anything else is, and needs a new ``schemaVersion`` (the contract gate, ``contracts.gate``).
"""

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field

from contracts.email_address import ContractEmail
from contracts.order import MAX_ITEMS, Order, OrderLine
from contracts.types import CamelModel, Money, OrderId, Timestamp, reject_bool

ORDER_CREATED: Literal["ORDER_CREATED"] = "ORDER_CREATED"
# Its name as a published contract (contracts/published.py, contract_uses.json files).
ORDER_CREATED_CONTRACT = "order-created"


class OrderCreated(CamelModel):
    # Fields spelled out rather than inherited from Order: the published contract must not
    # change when the stored-order view does.
    event_type: Literal["ORDER_CREATED"]
    schema_version: Annotated[Literal[1], BeforeValidator(reject_bool)]
    order_id: OrderId
    customer_id: str | None
    customer_name: Annotated[str, Field(min_length=1)]
    customer_email: ContractEmail
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_ITEMS)]
    total_amount: Money
    created_at: Timestamp

    @classmethod
    def from_order(cls, order: Order) -> "OrderCreated":
        """The event of an accepted order; the order is already valid, so it is not re-checked."""
        return cls.model_construct(event_type=ORDER_CREATED, schema_version=1, **dict(order))


# Every schemaVersion of OrderCreated that may be in flight, with the model that reads it. The
# producer emits OrderCreated's own; while a new version rolls out, the previous one stays here
# (frozen, as released) so that consumers read both. Each consumer declares which it reads.
ORDER_CREATED_MODELS: dict[int, type[OrderCreated]] = {1: OrderCreated}


def schema_version_of(model: type[BaseModel]) -> int:
    """The ``schemaVersion`` a model's events carry (its ``Literal``)."""
    (version,) = get_args(model.model_fields["schema_version"].annotation)
    return int(version)
