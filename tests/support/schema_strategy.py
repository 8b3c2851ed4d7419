"""Hypothesis strategies generated from the committed JSON Schema files.

Covers the keywords those files use (type, number bounds and multipleOf, const, enum, anyOf, $ref/$defs, properties/required,
items, min/maxItems, min/maxLength, minimum/maximum, pattern, format); ``format`` is honoured as
a format-asserting validator would (a date-time is a real instant, an email an address).
Written here because hypothesis-jsonschema 0.23.1, the latest release, calls a hypothesis
internal that newer hypothesis versions no longer have.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from contracts.types import format_timestamp


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    fmt = schema.get("format")
    if fmt == "date-time":
        return st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ).map(format_timestamp)
    if fmt == "email":
        strategy: st.SearchStrategy[str] = st.emails()
    elif "pattern" in schema:
        strategy = st.from_regex(schema["pattern"], fullmatch=True)
    else:
        strategy = st.text(
            min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 40)
        )
    # Keep every constraint the schema states, whichever generator made the value.

    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    return strategy.filter(
        lambda s: (
            len(s) >= low
            and (high is None or len(s) <= high)
            and (pattern is None or pattern.search(s))
        )
    )


def _number(schema: dict[str, Any]) -> st.SearchStrategy[Decimal]:
    """Decimals (how the API reads JSON numbers) in the bounds, on the ``multipleOf`` grid."""
    step = Decimal(str(schema.get("multipleOf", "0.01")))
    low = Decimal(str(schema.get("minimum", schema.get("exclusiveMinimum", 0))))
    if "exclusiveMinimum" in schema:
        low += step
    high = Decimal(str(schema.get("maximum", "1000000")))
    places = -int(step.as_tuple().exponent)
    return st.decimals(min_value=low, max_value=high, places=places, allow_nan=False)


def from_schema(
    schema: dict[str, Any], root: dict[str, Any] | None = None
) -> st.SearchStrategy[Any]:
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return from_schema(root["$defs"][name], root)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of(*(from_schema(option, root) for option in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return _number(schema)
    if kind == "array":
        return st.lists(
            from_schema(schema["items"], root),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 5), 5),
        )
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {name: from_schema(sub, root) for name, sub in properties.items() if name in required},
            optional={
                name: from_schema(sub, root)
                for name, sub in properties.items()
                if name not in required
            },
        )
    raise NotImplementedError(f"schema keyword set not covered: {sorted(schema)}")
