"""From request bytes to a validated ``OrderRequest``, or to every reason it is not one.

JSON numbers are parsed as ``Decimal`` (never float), ``NaN``/``Infinity`` and duplicate keys are
refused, and each pydantic error becomes a ``FieldError`` whose ``field`` is a JSON path such as
``items[0].quantity``.
"""

import json
import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from contracts.api import FieldError
from contracts.client_rules import MESSAGES
from contracts.order import OrderRequest

BODY = "body"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Clearer words than pydantic's defaults, where a client may not know the jargon; shared with
# the mobile app through the contract (contracts/client_rules.json).
_MESSAGES = MESSAGES


class InvalidOrder(Exception):
    """The request body is not an acceptable order; ``errors`` lists every reason."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class _DuplicateKey(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(f"duplicate key {json.dumps(key)}")
        obj[key] = value
    return obj


def _body_error(message: str) -> InvalidOrder:
    return InvalidOrder([FieldError(field=BODY, message=message)])


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise _body_error("Request body is required")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _body_error("Request body is not valid UTF-8") from None
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise _body_error(
            f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _body_error("Malformed JSON: nested too deeply") from None
    except ValueError as exc:  # duplicate keys, NaN/Infinity, integers beyond Python's digit limit
        raise _body_error(f"Malformed JSON: {exc}") from None


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('items', 0, 'quantity')`` → ``items[0].quantity``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path or BODY


_DECIMAL_REPR = re.compile(r"^Decimal\('([^']*)'\)$")


def _plain(value: Any) -> str:
    """Constraint values as a client would write them (pydantic reports ``Decimal('1')``)."""
    text = str(value)
    match = _DECIMAL_REPR.match(text)
    return match.group(1) if match else text


def _message(err: ErrorDetails) -> str:
    template = _MESSAGES.get(err["type"])
    if template is None:
        return err["msg"]
    context = {key: _plain(value) for key, value in err.get("ctx", {}).items()}
    try:
        return template.format(**context)
    except KeyError:
        return err["msg"]


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=json_path(err["loc"]), message=_message(err))
        for err in exc.errors(include_url=False, include_input=False)
    ]


def validate_order(data: Any) -> OrderRequest:
    if not isinstance(data, dict):
        raise _body_error(MESSAGES["body_object"])
    try:
        return OrderRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidOrder(field_errors(exc)) from None


def parse_order(body: bytes) -> OrderRequest:
    return validate_order(decode_json(body))
