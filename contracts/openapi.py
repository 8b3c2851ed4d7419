"""The Order API as OpenAPI 3.1, generated from the contract models: ``contracts/openapi.yaml``.

    python -m contracts.openapi --write    # after a deliberate change to the API
    python -m contracts.openapi --check    # exit 1 when the committed file has drifted

Every answer of SPEC §3 is described, the API's own and API Gateway's (429, 413 and 502 come
from the gateway with its own body), with the CORS headers every response carries. The request
schema says what a JSON Schema can: the API also trims text before counting its length and
checks that echoed amounts add up, so a body the schema allows may still be answered 400.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from contracts.api import (
    ErrorResponse,
    GatewayError,
    InternalError,
    OrderAccepted,
    ValidationFailed,
)
from contracts.order import Order, OrderRequest

PATH = Path(__file__).parent / "openapi.yaml"
MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (OrderRequest, "validation"),
    (OrderAccepted, "serialization"),
    (Order, "serialization"),
    (ValidationFailed, "serialization"),
    (ErrorResponse, "serialization"),
    (InternalError, "serialization"),
    (GatewayError, "serialization"),
]
CORS_HEADERS = {
    name: {"schema": {"type": "string"}, "description": description}
    for name, description in (
        ("Access-Control-Allow-Origin", "CORS: on every answer"),
        ("Access-Control-Allow-Headers", "CORS: on every answer"),
        ("Access-Control-Allow-Methods", "CORS: on every answer"),
    )
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _answer(
    description: str, *models: type[BaseModel], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "headers": {**CORS_HEADERS, **(headers or {})},
    }
    if models:
        schema = _ref(models[0]) if len(models) == 1 else {"oneOf": [_ref(m) for m in models]}
        answer["content"] = {"application/json": {"schema": schema}}
    return answer


def _common(*, body: bool) -> dict[str, Any]:
    """The answers every operation may give: the gateway's and the function's failures."""
    answers = {
        "429": _answer(
            "Throttled: the stage rate, or every function container busy (API Gateway)",
            GatewayError,
        ),
        "500": _answer(
            "The order could not be processed; never any internal detail", InternalError
        ),
        "502": _answer("The function itself failed (API Gateway)", GatewayError),
    }
    if body:
        answers["413"] = _answer(
            "Body over 10 KB (API Gateway, or the API)", ErrorResponse, GatewayError
        )
    return answers


def _preflight(allowed: str) -> dict[str, Any]:
    return {
        "summary": "CORS preflight",
        "responses": {"204": _answer(f"Allowed: {allowed}")},
    }


def document() -> dict[str, Any]:
    _, definitions = models_json_schema(MODELS, ref_template="#/components/schemas/{model}")
    idempotency_key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "A retry with the same key returns the first answer and creates nothing",
        "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Order API",
            "version": "1",
            "description": "Orders in; SPEC §3 of the order pipeline.",
        },
        "servers": [{"url": "http://127.0.0.1:8000", "description": "orders up"}],
        "paths": {
            "/order": {
                "post": {
                    "operationId": "createOrder",
                    "summary": "Validate, store and announce an order",
                    "parameters": [idempotency_key],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(OrderRequest)}},
                    },
                    "responses": {
                        "200": _answer("Stored and published", OrderAccepted),
                        "400": _answer(
                            "Every violation, by JSON path; or a body that is not JSON text",
                            ValidationFailed,
                            ErrorResponse,
                        ),
                        "409": _answer(
                            "The same Idempotency-Key is still being processed",
                            ErrorResponse,
                            headers={"Retry-After": {"schema": {"type": "string"}}},
                        ),
                        "415": _answer("Not application/json", ErrorResponse),
                        "422": _answer(
                            "The Idempotency-Key was used with another body", ErrorResponse
                        ),
                        **_common(body=True),
                    },
                },
                "options": _preflight("POST,OPTIONS"),
            },
            "/order/{orderId}": {
                "parameters": [
                    {
                        "name": "orderId",
                        "in": "path",
                        "required": True,
                        "description": "An order id (a lowercase UUID4); anything else is a 400",
                        "schema": {"type": "string"},
                    }
                ],
                "get": {
                    "operationId": "getOrder",
                    "summary": "An order as stored",
                    "responses": {
                        "200": _answer("The order", Order),
                        "400": _answer("Not an order id", ValidationFailed),
                        "404": _answer("No such order", ErrorResponse),
                        **_common(body=False),
                    },
                },
                "options": _preflight("GET,OPTIONS"),
            },
        },
        "components": {"schemas": definitions["$defs"]},
    }


def render() -> str:
    import yaml

    class Plain(yaml.SafeDumper):
        """Every repeated part written out in full, not as a YAML anchor and alias."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    text: str = yaml.dump(document(), Dumper=Plain, sort_keys=False, allow_unicode=True, width=100)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.openapi", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help=f"regenerate {PATH.name}")
    group.add_argument("--check", action="store_true", help="exit 1 if it has drifted")
    args = parser.parse_args(argv)
    if args.write:
        PATH.write_text(render(), encoding="utf-8")
        return 0
    if not PATH.exists() or PATH.read_text(encoding="utf-8") != render():
        print(f"{PATH} differs from the models; run python -m contracts.openapi --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
