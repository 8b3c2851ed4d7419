"""``OrderApi``: routes API Gateway proxy events to the order service and shapes every answer.

Routing is two routes written out rather than Powertools' ``APIGatewayRestResolver``: the
resolver's route functions are sync while this core is async, and it adds ~40 ms of imports to
every cold start for what is here a dictionary look-up.
"""

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from api.http import HttpError, ProxyRequest, cors_headers, json_body_bytes, json_response
from api.idempotency import is_valid_key
from api.observability import count, logger
from api.service import KeyReused, OrderService
from api.validation import InvalidOrder, parse_order
from contracts.api import ErrorResponse, FieldError, InternalError, ValidationFailed
from contracts.types import UUID4_PATTERN

Response = dict[str, Any]
ORDER = "/order"
ORDER_BY_ID = "/order/{orderId}"
_ALLOWED = {ORDER: "POST,OPTIONS", ORDER_BY_ID: "GET,OPTIONS"}
_ORDER_ID = re.compile(UUID4_PATTERN)


def _resource(request: ProxyRequest) -> tuple[str | None, dict[str, str]]:
    """The matched resource and its path parameters; derived from the path when the event
    comes without them (API Gateway always sets both)."""
    params = request.path_parameters
    if request.resource in _ALLOWED:
        return request.resource, params
    parts = request.path.strip("/").split("/")
    if parts == ["order"]:
        return ORDER, params
    if len(parts) == 2 and parts[0] == "order" and parts[1]:
        return ORDER_BY_ID, {"orderId": parts[1], **params}
    return None, params


class OrderApi:
    def __init__(self, service: OrderService, allow_origin: str):
        self._service = service
        self._cors = cors_headers(allow_origin)

    def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return json_response(status, body, self._cors, headers)

    async def handle(self, raw_event: dict[str, Any], request_id: str) -> Response:
        started = time.perf_counter()
        request = ProxyRequest.from_event(raw_event)
        resource, params = _resource(request)
        try:
            response = await self._dispatch(request, resource, params)
        except HttpError as exc:
            response = self._respond(exc.status, exc.body, exc.headers)
        except Exception:
            # The request id is on every line already, as Powertools' correlation_id.
            logger.exception("request failed", extra={"route": resource})
            if resource == ORDER:
                count("OrdersFailed")
            body = InternalError(
                error="Internal server error",
                message="Failed to process order",
                request_id=request_id,
            )
            response = self._respond(500, body)
        logger.info(
            "request handled",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response["statusCode"],
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
            },
        )
        return response

    async def _dispatch(
        self, request: ProxyRequest, resource: str | None, params: dict[str, str]
    ) -> Response:
        method = request.method
        if resource is None:
            raise HttpError(404, "Not found", f"No resource at {request.path}")
        if method == "OPTIONS":
            return self._respond(204, None)
        routes: dict[tuple[str, str], Callable[[], Awaitable[Response]]] = {
            ("POST", ORDER): lambda: self._create(request),
            ("GET", ORDER_BY_ID): lambda: self._get(params.get("orderId", "")),
        }
        route = routes.get((method, resource))
        if route is None:
            allowed = _ALLOWED[resource]
            raise HttpError(
                405,
                "Method not allowed",
                f"{method} is not allowed on {resource}; use {allowed}",
                {"Allow": allowed},
            )
        return await route()

    async def _create(self, request: ProxyRequest) -> Response:
        count("OrdersReceived")
        key = request.header("Idempotency-Key")
        errors: list[FieldError] = []
        if key is not None and not is_valid_key(key):
            errors.append(
                FieldError(
                    field="Idempotency-Key",
                    message="must be 1-255 printable ASCII characters without spaces",
                )
            )
        try:
            order = parse_order(json_body_bytes(request))
        except InvalidOrder as exc:
            errors = exc.errors + errors
        if errors:
            count("ValidationErrors")
            logger.warning("validation failed", extra={"errors": [e.model_dump() for e in errors]})
            return self._respond(400, ValidationFailed(error="Validation failed", errors=errors))
        outcome = await self._service.create(order, key, request.caller)
        if isinstance(outcome, KeyReused):
            return self._respond(
                422,
                ErrorResponse(
                    error="Idempotency key reused",
                    message="This Idempotency-Key was already used with a different request body",
                ),
            )
        if outcome.replayed:
            logger.info("replayed the first response of an Idempotency-Key")
        else:
            count("OrdersProcessed")
            logger.append_keys(orderId=outcome.order_id)  # on the "request handled" line
        return self._respond(200, outcome.body)

    async def _get(self, order_id: str) -> Response:
        if not _ORDER_ID.match(order_id):
            errors = [
                FieldError(field="orderId", message="must be an order id (a lowercase UUID4)")
            ]
            return self._respond(400, ValidationFailed(error="Validation failed", errors=errors))
        order = await self._service.get(order_id)
        if order is None:
            raise HttpError(404, "Not found", f"No order with id {order_id}")
        return self._respond(200, order)
