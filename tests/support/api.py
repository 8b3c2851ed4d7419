"""Driving the real Order API handler with API Gateway proxy events, as API Gateway would."""

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from api.config import ApiSettings
from api.handler import OrderApiFunction, make_handler
from api.observability import logger
from local.aws.provision import Provisioned
from local.gateway.proxy_event import proxy_event
from runtime.lambda_context import LocalLambdaContext
from tests.support.aws import aws_clients


def settings_for(stack: Provisioned, **overrides: Any) -> ApiSettings:
    env = {
        "ORDER_TABLE_NAME": stack.names.orders_table,
        **overrides,
    }
    return ApiSettings.model_validate(env)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class Api:
    """One Order API 'container' (its own loop and clients), invoked through the real handler."""

    def __init__(self, settings: ApiSettings, endpoint_url: str, timeout_seconds: float = 30.0):
        self.function = OrderApiFunction(settings, clients=aws_clients(endpoint_url))
        self.handler = make_handler(lambda: self.function)
        self.timeout_seconds = timeout_seconds

    def invoke(self, event: dict[str, Any]) -> Response:
        context = LocalLambdaContext("order-api", timeout_seconds=self.timeout_seconds)
        raw = self.handler(event, context)
        return Response(raw["statusCode"], raw["headers"], raw["body"])

    def post(
        self,
        body: Any,
        headers: dict[str, str] | None = None,
        content_type: str | None = "application/json",
    ) -> Response:
        text = body if isinstance(body, str | bytes) else json.dumps(body)
        all_headers = {"Content-Type": content_type} if content_type else {}
        return self.invoke(proxy_event("POST", "/order", text, {**all_headers, **(headers or {})}))

    def get(self, order_id: str) -> Response:
        return self.invoke(proxy_event("GET", f"/order/{order_id}"))

    def close(self) -> None:
        self.function.close()


@contextmanager
def captured_logs(source: Logger = logger) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A component's log lines (the Order API's by default) as parsed JSON, read from the real
    Powertools handler."""
    handler = source.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    finally:
        handler.setStream(previous)
