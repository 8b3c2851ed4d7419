"""The audit record the Audit consumer writes to the AuditLogs table (SPEC §6).

Attribute names are the table's own (PascalCase), since this model is the item's shape.
"""

from pydantic import BaseModel, ConfigDict, Field

from contracts.types import Money, OrderId, Timestamp


class AuditOrderDetails(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    customer_id: str | None = Field(alias="customerId")
    customer_name: str = Field(alias="customerName")
    customer_email: str = Field(alias="customerEmail")
    item_count: int = Field(alias="itemCount", ge=1)
    total_amount: Money = Field(alias="totalAmount")


class AuditRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    audit_id: str = Field(alias="AuditId", min_length=1)
    timestamp: Timestamp = Field(alias="Timestamp")
    order_id: OrderId = Field(alias="OrderId")
    event_type: str = Field(alias="EventType")
    order_details: AuditOrderDetails = Field(alias="OrderDetails")
    # When the Audit consumer wrote it: with the order's createdAt, the pipeline's own measure
    # of how long an order takes to be audited (the load harness reports it).
    recorded_at: Timestamp = Field(alias="RecordedAt")
    # When SNS delivered the event to the audit queue: with createdAt, how long the outbox took
    # to publish the order (the load harness reports it as the publish lag).
    published_at: Timestamp | None = Field(default=None, alias="PublishedAt")
