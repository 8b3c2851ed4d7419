"""The Order API's validation of ``POST /order``, run on the phone before anything is sent.

The rules are the contract's, read at start from two files the API publishes (copied into
``resources/``, kept equal by a test): ``order_request.schema.json`` says which fields exist,
which are required and their types and bounds; ``client_rules.json`` says how text is read
(trimmed, no control characters) and gives the API's message for each kind of error. So the
app reports what the API would: the same field paths (``items[1].price``), the same messages.

Pure Python on purpose: a phone gets no pydantic-core or rpds-py wheels. Like the API, it
checks one thing per field and stops at that field's first error, in this order: type, length
or bounds (text counted after trimming), decimal places, then forbidden characters; an email
is checked by email-validator (RFC 5322 syntax, no DNS look-ups), the API's own library.
Amounts a client echoes (``subtotal``, ``totalAmount``) must equal quantity × price and their
sum (SPEC §3's pricing, ``pricing.py``).
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from email_validator import EmailNotValidError, validate_email

from orders_mobile.pricing import format_money, line_subtotal, order_total

BODY = "body"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def _resource(name: str) -> dict[str, Any]:
    text = resources.files("orders_mobile").joinpath("resources", name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return loaded


def _plain(value: Any) -> str:
    """A bound as the API writes it: ``999999.99``, ``0``, ``2``."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def json_path(parts: tuple[int | str, ...]) -> str:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path or BODY


class _Failed(Exception):
    def __init__(self, kind: str, **context: Any):
        super().__init__(kind)
        self.kind = kind
        self.context = context


class OrderRules:
    """``check(body)`` → every ``FieldError`` the API would answer with (empty: acceptable)."""

    def __init__(self, schema: dict[str, Any], rules: dict[str, Any]):
        self._schema = schema
        self._messages: dict[str, str] = rules["messages"]
        self._trimmed = bool(rules["text"]["trimmed"])
        self._whitespace: str = rules["text"]["whitespace"]
        self._forbidden = re.compile(rules["text"]["forbidden"])

    @classmethod
    def from_contract(cls) -> "OrderRules":
        return cls(_resource("order_request.schema.json"), _resource("client_rules.json"))

    def message(self, kind: str, **context: Any) -> str:
        template = self._messages[kind]
        return template.format(**{key: _plain(value) for key, value in context.items()})

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if ref is None:
            return schema
        node: Any = self._schema
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        resolved: dict[str, Any] = node
        return resolved

    def check(self, body: Any) -> list[FieldError]:
        if not isinstance(body, dict):
            return [FieldError(BODY, self._messages["body_object"])]
        errors: list[FieldError] = []
        self._object(self._schema, body, (), errors)
        return errors

    # -- objects and arrays: keep going, collecting every field's error ---------------------

    def _object(
        self,
        schema: dict[str, Any],
        value: dict[str, Any],
        path: tuple[int | str, ...],
        errors: list[FieldError],
    ) -> dict[str, Any]:
        """Checks each declared field; returns the fields that passed, with their values as the
        API reads them (trimmed text)."""
        valid: dict[str, Any] = {}
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        for name, field_schema in properties.items():
            if name not in value:
                if name in required:
                    errors.append(FieldError(json_path((*path, name)), self.message("missing")))
                continue
            try:
                valid[name] = self._value(
                    self._resolve(field_schema), value[name], (*path, name), errors
                )
            except _Failed as failed:
                errors.append(
                    FieldError(
                        json_path((*path, name)), self.message(failed.kind, **failed.context)
                    )
                )
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in properties:
                    errors.append(
                        FieldError(json_path((*path, name)), self.message("extra_forbidden"))
                    )
        self._echoed_amounts(value, valid, path, errors)
        return valid

    def _echoed_amounts(
        self,
        value: dict[str, Any],
        valid: dict[str, Any],
        path: tuple[int | str, ...],
        errors: list[FieldError],
    ) -> None:
        """A client may send subtotal and totalAmount; the API checks them against its own
        pricing, once the fields they depend on are valid."""
        expected: Decimal | None = None
        field = ""
        if valid.get("subtotal") is not None and "quantity" in valid and "price" in valid:
            field, expected = "subtotal", line_subtotal(valid["quantity"], valid["price"])
        elif valid.get("totalAmount") is not None and isinstance(valid.get("items"), list):
            field = "totalAmount"
            expected = order_total((i["quantity"], i["price"]) for i in valid["items"])
        if expected is not None and valid[field] != expected:
            errors.append(
                FieldError(
                    json_path((*path, field)),
                    self.message("amount_mismatch", expected=format_money(expected)),
                )
            )

    def _array(
        self,
        schema: dict[str, Any],
        value: Any,
        path: tuple[int | str, ...],
        errors: list[FieldError],
    ) -> list[Any]:
        if not isinstance(value, list):
            raise _Failed("list_type")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _Failed("too_long", max_length=schema["maxItems"])  # its items go unread
        item_schema = self._resolve(schema["items"])
        before = len(errors)
        checked = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                errors.append(FieldError(json_path((*path, index)), self.message("model_type")))
                continue
            checked.append(self._object(item_schema, item, (*path, index), errors))
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise _Failed("too_short", min_length=schema["minItems"])
        if len(errors) > before:
            raise _ItemsInvalid
        return checked

    # -- one value: the first failing rule ends its checks ----------------------------------

    def _value(
        self,
        schema: dict[str, Any],
        value: Any,
        path: tuple[int | str, ...],
        errors: list[FieldError],
    ) -> Any:
        if "anyOf" in schema:
            branches = [self._resolve(b) for b in schema["anyOf"]]
            if value is None and any(b.get("type") == "null" for b in branches):
                return None
            schema = next(b for b in branches if b.get("type") != "null")
        kind = schema.get("type")
        if kind == "array":
            try:
                return self._array(schema, value, path, errors)
            except _ItemsInvalid:
                return _ITEMS_INVALID
        if kind == "string":
            return self._string(schema, value)
        if kind == "integer":
            return self._integer(schema, value)
        if kind == "number":
            return self._number(schema, value)
        raise ValueError(
            f"the schema's type {kind!r} at {json_path(path)} is not one this app reads"
        )

    def _string(self, schema: dict[str, Any], value: Any) -> str:
        if not isinstance(value, str):
            raise _Failed("string_type")
        if schema.get("format") == "email":
            # The API's check; the schema's pattern and maxLength hold for what it accepts.
            try:
                return validate_email(value, check_deliverability=False, strict=True).normalized
            except EmailNotValidError as exc:
                raise _Failed("email", reason=str(exc)) from None
        text = value.strip(self._whitespace) if self._trimmed else value
        if "minLength" in schema and len(text) < schema["minLength"]:
            raise _Failed("string_too_short", min_length=schema["minLength"])
        if "maxLength" in schema and len(text) > schema["maxLength"]:
            raise _Failed("string_too_long", max_length=schema["maxLength"])
        if self._forbidden.search(text):
            raise _Failed("control_characters")
        return text

    def _integer(self, schema: dict[str, Any], value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Failed("int_type")
        self._bounds(schema, Decimal(value))
        return value

    def _number(self, schema: dict[str, Any], value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise _Failed("number_type")
        number = Decimal(value)
        if not number.is_finite():
            raise _Failed("number_type")
        self._bounds(schema, number)
        step = schema.get("multipleOf")
        if step is not None:
            # multipleOf 0.01: at most 2 decimal places, trailing zeros not counted (1.10 is fine).
            places = -int(Decimal(step).as_tuple().exponent)
            exponent = number.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > places:
                raise _Failed("decimal_max_places", decimal_places=places)
        return number

    def _bounds(self, schema: dict[str, Any], number: Decimal) -> None:
        if "exclusiveMinimum" in schema and not number > schema["exclusiveMinimum"]:
            raise _Failed("greater_than", gt=schema["exclusiveMinimum"])
        if "minimum" in schema and number < schema["minimum"]:
            raise _Failed("greater_than_equal", ge=schema["minimum"])
        if "maximum" in schema and number > schema["maximum"]:
            raise _Failed("less_than_equal", le=schema["maximum"])


class _ItemsInvalid(Exception):
    """Some item of an array failed (each already reported); the array as a whole is not valid."""


_ITEMS_INVALID = object()
