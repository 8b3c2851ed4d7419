"""Building the audit record of an event: pure, and keyed by the event itself, so that a
redelivered message maps to the very same item."""

from datetime import datetime

from contracts.audit import AuditOrderDetails, AuditRecord
from contracts.events import OrderCreated


def audit_id(event: OrderCreated) -> str:
    return f"{event.order_id}#{event.event_type}"


def audit_record(
    event: OrderCreated, recorded_at: datetime, published_at: datetime | None = None
) -> AuditRecord:
    return AuditRecord(
        audit_id=audit_id(event),
        timestamp=event.created_at,
        order_id=event.order_id,
        event_type=event.event_type,
        order_details=AuditOrderDetails(
            customer_id=event.customer_id,
            customer_name=event.customer_name,
            customer_email=event.customer_email,
            item_count=len(event.items),
            total_amount=event.total_amount,
        ),
        recorded_at=recorded_at,
        published_at=published_at,
    )
