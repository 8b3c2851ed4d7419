"""Field types every contract shares: money, timestamps, identifiers and safe text.

Money is ``Decimal`` end to end. Requests carry it as JSON numbers (parsed as ``Decimal``, never
float); events and stored-order views carry it as decimal strings with exactly two places, so no
consumer ever sees a binary float.
"""

import re
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from contracts.client_rules import FORBIDDEN_TEXT, MESSAGES

CENT = Decimal("0.01")
MAX_PRICE = Decimal("999999.99")
# Up to 12 integer digits: the largest possible order total (50 × 1000 × 999999.99) has 11.
MONEY_PATTERN = r"^(0|[1-9][0-9]{0,11})\.[0-9]{2}$"
UUID4_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
_MONEY_RE = re.compile(MONEY_PATTERN)


class CamelModel(BaseModel):
    """Base for JSON-facing contracts: snake_case in Python, camelCase on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


def format_money(value: Decimal) -> str:
    """``Decimal('5')`` → ``'5.00'``: the wire form of money in events and views. The context is
    as wide as the value, so no amount is too large to format."""
    digits = len(value.as_tuple().digits) + max(0, int(value.as_tuple().exponent)) + 3
    return format(value.quantize(CENT, context=Context(prec=max(28, digits))), "f")


def format_timestamp(value: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``: ``2026-11-25T02:22:57.123Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _require_json_number(value: Any) -> Any:
    # JSON booleans are ints in Python and strings would be silently coerced: both are type errors.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError("number_type", MESSAGES["number_type"])
    return value


def reject_bool(value: Any) -> Any:
    """For an integer field with a fixed value: JSON ``true`` would pass as 1 in Python."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be an integer, not a boolean")
    return value


def _parse_money_string(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _MONEY_RE.match(value):
        raise PydanticCustomError(
            "money_string", "Input should be a decimal string with two places, e.g. '29.99'"
        )
    return Decimal(value)


def _reject_control_chars(value: str) -> str:
    if FORBIDDEN_TEXT.search(value):
        raise PydanticCustomError("control_characters", MESSAGES["control_characters"])
    return value


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError("timezone", "timestamp must carry a UTC offset")
    return value.astimezone(UTC)


# A price as the client sends it: a JSON number, > 0, <= 999999.99, at most two decimal places.
RequestPrice = Annotated[
    Decimal,
    BeforeValidator(_require_json_number),
    Field(gt=0, le=MAX_PRICE, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema(
        {"type": "number", "exclusiveMinimum": 0, "maximum": 999999.99, "multipleOf": 0.01}
    ),
]

# An amount the client may echo back (subtotal, totalAmount); the server checks it.
RequestAmount = Annotated[
    Decimal,
    BeforeValidator(_require_json_number),
    Field(ge=0, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema({"type": "number", "minimum": 0, "multipleOf": 0.01}),
]

# Money on the wire of events and views: a decimal string with exactly two places.
Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money_string),
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN}),
]

Timestamp = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]

OrderId = Annotated[str, StringConstraints(pattern=UUID4_PATTERN)]


# Client text is trimmed, held to its bounds (counted after trimming) and refused if it carries
# control characters.
NoControlChars = AfterValidator(_reject_control_chars)


def _text(min_length: int, max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


ProductId = Annotated[str, _text(1, 100), NoControlChars]
ProductName = Annotated[str, _text(0, 200), NoControlChars]
CustomerId = Annotated[str, _text(1, 100), NoControlChars]
CustomerName = Annotated[str, _text(2, 100), NoControlChars]
