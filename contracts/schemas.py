"""The committed JSON Schema files (draft 2020-12) and the models they are generated from.

``python -m contracts.schemas --write`` regenerates the files after a deliberate model change;
``--check`` (and the drift test) fails when a model and its committed file disagree. These are
what the code does today; whether that still agrees with what was released is the contract
gate's question (``contracts.gate``).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from contracts.api import ErrorResponse, InternalError, OrderAccepted, ValidationFailed
from contracts.events import OrderCreated
from contracts.order import Order, OrderRequest

SCHEMA_DIR = Path(__file__).parent / "schemas"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# file stem → (model, whether the schema describes what is received or what is sent)
SCHEMAS: dict[str, tuple[type[BaseModel], Literal["validation", "serialization"]]] = {
    "order_request": (OrderRequest, "validation"),
    "order_accepted": (OrderAccepted, "serialization"),
    "validation_failed": (ValidationFailed, "serialization"),
    "internal_error": (InternalError, "serialization"),
    "error_response": (ErrorResponse, "serialization"),
    "order": (Order, "serialization"),
    "order_created": (OrderCreated, "serialization"),
}


def schema_of(
    model: type[BaseModel], mode: Literal["validation", "serialization"], schema_id: str
) -> dict[str, Any]:
    """A model's JSON Schema, the project's way: by alias, draft 2020-12, with an ``$id``."""
    body = model.model_json_schema(by_alias=True, mode=mode)
    return {"$schema": DRAFT_2020_12, "$id": schema_id, **body}


def render(name: str) -> dict[str, Any]:
    model, mode = SCHEMAS[name]
    return schema_of(model, mode, f"urn:order-pipeline:{name}")


def path_of(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path_of(name).read_text(encoding="utf-8"))
    return loaded


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def drifted() -> list[str]:
    """Names whose committed file differs from what the model generates today."""
    return [
        name
        for name in SCHEMAS
        if not path_of(name).exists()
        or path_of(name).read_text(encoding="utf-8") != dump(render(name))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate every schema file")
    group.add_argument("--check", action="store_true", help="exit 1 if any file has drifted")
    args = parser.parse_args(argv)
    if args.write:
        for name in SCHEMAS:
            path_of(name).write_text(dump(render(name)), encoding="utf-8")
        return 0
    stale = drifted()
    for name in stale:
        print(f"{path_of(name)} differs from its model; run python -m contracts.schemas --write")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
