"""Response bodies of the Order API, exactly as SPEC §3 gives them."""

from typing import Literal

from pydantic import BaseModel

from contracts.types import CamelModel, OrderId, Timestamp

ACCEPTED_MESSAGE: Literal["Order received successfully"] = "Order received successfully"


class OrderAccepted(CamelModel):
    order_id: OrderId
    message: Literal["Order received successfully"]
    created_at: Timestamp


class FieldError(BaseModel):
    field: str
    message: str


class ValidationFailed(BaseModel):
    error: Literal["Validation failed"]
    errors: list[FieldError]


class InternalError(CamelModel):
    error: Literal["Internal server error"]
    message: Literal["Failed to process order"]
    request_id: str


class ErrorResponse(BaseModel):
    """Every other error (404, 405, 409, 413, 415, 422): what went wrong, in words."""

    error: str
    message: str


class GatewayError(BaseModel):
    """API Gateway's own answers, before the function runs or when it could not: 429 (throttled),
    413 (body over 10 KB), 502 (the function failed), as ``{"message": "Too Many Requests"}``."""

    message: str
