"""moto's JSON request parser with members looked up once (``local.aws.json_requests``) reads
every body as moto's own walk does: the same dict, key for key and in the same order, and the
same failure for a body of the wrong shape."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.parse import JSONParser
from moto.core.utils import get_service_model

from local.aws import json_requests

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=20)),
    st.builds(lambda n: {"N": str(n)}, st.integers() | st.decimals(allow_nan=False, places=3)),
    st.builds(lambda b: {"B": b}, st.sampled_from(["aGk=", "", "AAEC"])),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda s: {"SS": s}, st.lists(st.text(max_size=5), min_size=1, max_size=3)),
    st.builds(lambda s: {"NS": s}, st.lists(st.integers().map(str), min_size=1, max_size=3)),
    st.just({"Unknown": "x"}),  # not a member: dropped
    st.just({"S": None}),  # a null value: dropped
    st.just({"S": "a", "N": "1"}),  # two members: both kept, in the shape's order
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        st.builds(lambda members: {"M": members}, st.dictionaries(names, inner, max_size=3)),
    ),
    max_leaves=12,
)
items = st.dictionaries(names, values, min_size=1, max_size=6)


def parsed(operation: str, body: Any, on: bool) -> Any:
    json_requests.install(on)
    try:
        model = get_service_model("dynamodb").operation_model(operation)
        parser = JSONParser(model)
        request = {"method": "POST", "values": {}, "headers": {}, "url_path": "/", "url_params": {}}
        try:
            return parser.parse({**request, "body": json.dumps(body).encode()})  # type: ignore[typeddict-item]
        except Exception as exc:  # the failure itself is compared
            return type(exc)
    finally:
        json_requests.install(False)


def ordered(value: Any) -> Iterator[Any]:
    """Every key and value, depth first: dicts equal but ordered differently differ here."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from ordered(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from ordered(inner)
    else:
        yield value


@settings(max_examples=100, deadline=None)
@given(item=items, condition=st.booleans())
def test_a_put_item_reads_as_moto_reads_it(item: dict[str, Any], condition: bool) -> None:
    body: dict[str, Any] = {"TableName": "Orders", "Item": item, "ReturnValues": "NONE"}
    if condition:
        body["ConditionExpression"] = "attribute_not_exists(#k)"
        body["ExpressionAttributeNames"] = {"#k": "OrderId"}
        body["Unknown"] = 1
    ours, moto_own = parsed("PutItem", body, True), parsed("PutItem", body, False)
    assert ours == moto_own
    assert list(ordered(ours)) == list(ordered(moto_own))


@pytest.mark.parametrize(
    "body",
    [
        {"TableName": "Orders", "Item": ["not", "a", "map"]},
        {"TableName": "Orders", "Item": {"Id": "a string, not an AttributeValue"}},
        {"TableName": "Orders", "Item": {"Id": {"L": {"not": "a list"}}}},
        {"TableName": "Orders", "Item": {"Id": {"M": []}}},
        ["a", "list"],
        {"TableName": ["a", "list"]},
    ],
)
def test_a_body_of_the_wrong_shape_fails_as_in_moto(body: Any) -> None:
    assert parsed("PutItem", body, True) == parsed("PutItem", body, False)


def test_sqs_batches_read_as_moto_reads_them() -> None:
    model_body = {
        "QueueUrl": "http://localhost/123456789012/q",
        "Entries": [{"Id": str(n), "ReceiptHandle": f"h{n}"} for n in range(10)],
    }
    json_requests.install(True)
    try:
        parser = JSONParser(get_service_model("sqs").operation_model("DeleteMessageBatch"))
        request = {"method": "POST", "values": {}, "headers": {}, "url_path": "/", "url_params": {}}
        ours = parser.parse({**request, "body": json.dumps(model_body).encode()})  # type: ignore[typeddict-item]
    finally:
        json_requests.install(False)
    assert ours == model_body
