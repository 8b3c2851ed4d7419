"""The Order API against a real moto server over HTTP (SPEC §3, §4; properties 1, 2, 5, 8-13).

The API writes the order, once; its event comes from the Orders table's stream through the
real order publisher (``outbox.drain()``), as on AWS."""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts.sample_data import sample
from contracts.schemas import load
from local.aws.provision import Provisioned
from local.gateway.proxy_event import proxy_event
from tests.support.api import Api, settings_for
from tests.support.aws import Boto
from tests.support.fault_proxy import FaultProxy
from tests.support.outbox import Outbox

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CORS = {
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Methods",
}
EVENT_SCHEMA = Draft202012Validator(
    load("order_created"), format_checker=Draft202012Validator.FORMAT_CHECKER
)


def spec_order() -> dict[str, Any]:
    order: dict[str, Any] = sample("order_request.spec_example.json")
    return order


def assert_nothing_downstream(boto: Boto, stack: Provisioned, outbox: Outbox) -> None:
    assert boto.scan(stack.names.orders_table) == []
    assert outbox.drain() == 0
    assert boto.receive_all(stack.email.url) == []
    assert boto.receive_all(stack.audit.url) == []


def test_valid_order_is_stored_in_one_call_and_its_event_reaches_both_queues(
    api: Api, boto: Boto, stack: Provisioned, outbox: Outbox, faults: FaultProxy
) -> None:
    response = api.post(spec_order())

    assert response.status == 200
    body = response.json
    assert set(body) == {"orderId", "message", "createdAt"}
    assert body["message"] == "Order received successfully"
    assert UUID4.match(body["orderId"])
    assert ISO_Z.match(body["createdAt"])

    [item] = boto.scan(stack.names.orders_table)
    assert item == {
        "OrderId": {"S": body["orderId"]},
        "CustomerId": {"S": "CUST-12345"},
        "CustomerName": {"S": "John Doe"},
        "CustomerEmail": {"S": "john.doe@example.com"},
        "Items": {
            "L": [
                {
                    "M": {
                        "ProductId": {"S": "PROD-001"},
                        "ProductName": {"S": "Widget A"},
                        "Quantity": {"N": "2"},
                        "Price": {"N": "29.99"},
                        "Subtotal": {"N": "59.98"},
                    }
                },
                {
                    "M": {
                        "ProductId": {"S": "PROD-002"},
                        "ProductName": {"S": "Widget B"},
                        "Quantity": {"N": "1"},
                        "Price": {"N": "49.99"},
                        "Subtotal": {"N": "49.99"},
                    }
                },
            ]
        },
        "TotalAmount": {"N": "109.97"},
        "CreatedAt": {"S": body["createdAt"]},
    }
    assert dict(faults.seen) == {"PutItem": 1}  # the request's only AWS call
    assert outbox.drain() == 1

    expected_event = {
        "eventType": "ORDER_CREATED",
        "schemaVersion": 1,
        "orderId": body["orderId"],
        "customerId": "CUST-12345",
        "customerName": "John Doe",
        "customerEmail": "john.doe@example.com",
        "items": [
            {
                "productId": "PROD-001",
                "productName": "Widget A",
                "quantity": 2,
                "price": "29.99",
                "subtotal": "59.98",
            },
            {
                "productId": "PROD-002",
                "productName": "Widget B",
                "quantity": 1,
                "price": "49.99",
                "subtotal": "49.99",
            },
        ],
        "totalAmount": "109.97",
        "createdAt": body["createdAt"],
    }
    for queue in (stack.email.url, stack.audit.url):
        [message] = boto.receive_all(queue, expect=1)
        event = json.loads(message["Body"])  # raw delivery: the body is the event itself
        EVENT_SCHEMA.validate(event)
        assert event == expected_event


def test_get_returns_the_stored_order(api: Api) -> None:
    created = api.post(spec_order()).json

    response = api.get(created["orderId"])

    assert response.status == 200
    order = response.json
    assert order["orderId"] == created["orderId"]
    assert order["createdAt"] == created["createdAt"]
    assert order["totalAmount"] == "109.97"
    assert [line["subtotal"] for line in order["items"]] == ["59.98", "49.99"]
    Draft202012Validator(load("order")).validate(order)


def test_money_is_decimal_end_to_end(
    api: Api, boto: Boto, stack: Provisioned, outbox: Outbox
) -> None:
    order = {
        "customerName": "Ada",
        "customerEmail": "ada@example.com",
        "items": [
            {"productId": "A", "quantity": 1, "price": 0.1},
            {"productId": "B", "quantity": 1, "price": 0.2},
        ],
        "totalAmount": 0.30,
    }
    assert api.post(order).status == 200
    outbox.drain()
    [message] = boto.receive_all(stack.email.url, expect=1)
    assert json.loads(message["Body"])["totalAmount"] == "0.30"
    [item] = boto.scan(stack.names.orders_table)
    assert Decimal(item["TotalAmount"]["N"]) == Decimal("0.3")


def test_get_unknown_order_is_404_and_a_malformed_id_is_400(api: Api) -> None:
    missing = api.get("0b8f6a52-3c1e-4d57-9a43-6a4c1f3e2b10")
    assert missing.status == 404
    assert missing.json["error"] == "Not found"

    bad = api.get("..%2F..%2Fetc")
    assert bad.status == 400
    assert bad.json["errors"][0]["field"] == "orderId"


@pytest.mark.parametrize("case", sample("order_requests.invalid.json"), ids=lambda c: c["name"])
def test_invalid_order_is_400_listing_every_field_and_writes_nothing(
    api: Api, boto: Boto, stack: Provisioned, outbox: Outbox, case: dict[str, Any]
) -> None:
    response = api.post(case["body"])

    assert response.status == 400
    assert response.json["error"] == "Validation failed"
    assert sorted(e["field"] for e in response.json["errors"]) == sorted(case["fields"])
    assert all(e["message"] for e in response.json["errors"])
    assert_nothing_downstream(boto, stack, outbox)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"customerName": "John",', "Malformed JSON"),
        ("[1, 2, 3]", "must be a JSON object"),
        ('"just a string"', "must be a JSON object"),
        ("", "Request body is required"),
        ('{"customerName": NaN}', "NaN"),
        ('{"a": 1, "a": 2}', "duplicate key"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"n": ' + "9" * 5000 + "}", "Malformed JSON"),
    ],
)
def test_unparseable_bodies_are_400_naming_the_body(api: Api, body: str, message: str) -> None:
    response = api.post(body)

    assert response.status == 400
    [error] = response.json["errors"]
    assert error["field"] == "body"
    assert message in error["message"]
    assert "Traceback" not in response.text


def test_body_over_10_kb_is_413_and_exactly_10_kb_is_accepted(api: Api) -> None:
    text = json.dumps(spec_order())
    at_limit = text + " " * (10 * 1024 - len(text.encode()))
    assert len(at_limit.encode()) == 10240
    assert api.post(at_limit).status == 200

    response = api.post(at_limit + " ")
    assert response.status == 413
    assert response.json == {
        "error": "Payload too large",
        "message": "Request body is 10241 bytes; the limit is 10240",
    }


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "application/json; charset=latin-1"]
)
def test_wrong_content_type_is_415(api: Api, content_type: str | None) -> None:
    response = api.post(spec_order(), content_type=content_type)
    assert response.status == 415
    assert response.json["error"] == "Unsupported media type"


def test_content_type_is_matched_case_insensitively_with_utf8_charset(api: Api) -> None:
    assert api.post(spec_order(), content_type="Application/JSON; charset=UTF-8").status == 200


def test_base64_encoded_body_is_decoded(api: Api) -> None:
    assert api.post(json.dumps(spec_order()).encode()).status == 200


def test_invalid_base64_body_is_400(api: Api) -> None:
    event = proxy_event("POST", "/order", "x", {"Content-Type": "application/json"})
    event["isBase64Encoded"] = True
    event["body"] = "not base64!!"
    assert api.invoke(event).status == 400


def test_non_ascii_names_are_kept(api: Api) -> None:
    order = spec_order() | {"customerName": "Zoë Ağaoğlu 山田"}
    created = api.post(order).json
    assert api.get(created["orderId"]).json["customerName"] == "Zoë Ağaoğlu 山田"


def test_routes_cors_and_methods(api: Api) -> None:
    responses = {
        "200": api.post(spec_order()),
        "400": api.post({}),
        "404 route": api.invoke(proxy_event("GET", "/nowhere")),
        "405": api.invoke(proxy_event("DELETE", "/order")),
        "413": api.post("x" * 20000),
        "415": api.post(spec_order(), content_type="text/plain"),
        "options": api.invoke(proxy_event("OPTIONS", "/order")),
    }
    for name, response in responses.items():
        assert set(response.headers) >= CORS, name
        assert response.headers["Access-Control-Allow-Origin"] == "*", name
    assert responses["404 route"].status == 404
    assert responses["405"].status == 405
    assert responses["405"].headers["Allow"] == "POST,OPTIONS"
    assert responses["options"].status == 204


def test_failing_dynamodb_write_is_500_after_bounded_retries_and_publishes_nothing(
    api: Api, boto: Boto, stack: Provisioned, faults: FaultProxy, outbox: Outbox
) -> None:
    faults.inject("PutItem", "server_error")

    response = api.post(spec_order())

    assert response.status == 500
    assert response.json == {
        "error": "Internal server error",
        "message": "Failed to process order",
        "requestId": response.json["requestId"],
    }
    assert response.json["requestId"]
    assert faults.seen["PutItem"] == 4  # RetryPolicy.max_attempts
    assert_nothing_downstream(boto, stack, outbox)


def test_non_transient_dynamodb_error_is_not_retried(
    stack: Provisioned, faults: FaultProxy, boto: Boto
) -> None:
    api = Api(settings_for(stack, ORDER_TABLE_NAME="no-such-table"), faults.url)
    try:
        response = api.post(spec_order())
    finally:
        api.close()
    assert response.status == 500
    assert faults.seen["PutItem"] == 1
    assert boto.receive_all(stack.email.url) == []


def test_the_api_answers_200_whatever_sns_does(
    api: Api, boto: Boto, stack: Provisioned, faults: FaultProxy
) -> None:
    """The request path publishes nothing: an SNS outage cannot turn into a 5xx."""
    for operation in ("Publish", "PublishBatch"):
        faults.inject(operation, "server_error")

    response = api.post(spec_order())

    assert response.status == 200
    assert faults.seen["Publish"] == faults.seen["PublishBatch"] == 0
    assert len(boto.scan(stack.names.orders_table)) == 1


@pytest.mark.parametrize("kind", ["throttle", "disconnect", "server_error"])
def test_a_transient_error_then_success_is_retried_and_succeeds(
    api: Api, boto: Boto, stack: Provisioned, faults: FaultProxy, outbox: Outbox, kind: Any
) -> None:
    faults.inject("PutItem", kind, times=1)

    response = api.post(spec_order())

    assert response.status == 200
    assert faults.seen["PutItem"] == 2
    assert len(boto.scan(stack.names.orders_table)) == 1
    assert outbox.drain() == 1
    assert len(boto.receive_all(stack.email.url, expect=1)) == 1


def test_retries_stop_at_the_request_budget(stack: Provisioned, faults: FaultProxy) -> None:
    """An endpoint that never answers in time: the 500 comes at the budget, not after the
    endpoint's delay nor at the Lambda timeout (bounds with room for a machine 3x slower)."""
    faults.inject("PutItem", "slow", delay=30)
    api = Api(settings_for(stack, REQUEST_BUDGET_SECONDS="1.5"), faults.url)
    try:
        started = time.monotonic()
        response = api.post(spec_order())
        elapsed = time.monotonic() - started
    finally:
        api.close()
    assert response.status == 500
    assert 1.5 <= elapsed < 10


def test_order_ids_are_unique(api: Api) -> None:
    ids = {api.post(spec_order()).json["orderId"] for _ in range(20)}
    assert len(ids) == 20


class TestIdempotencyKey:
    def test_a_repeat_returns_the_first_response_and_creates_nothing_new(
        self, api: Api, boto: Boto, stack: Provisioned, faults: FaultProxy, outbox: Outbox
    ) -> None:
        headers = {"Idempotency-Key": "order-abc-1"}
        first = api.post(spec_order(), headers)
        again = api.post(spec_order(), headers)
        reformatted = api.post(json.dumps(spec_order(), indent=4), headers)

        assert first.status == again.status == reformatted.status == 200
        assert first.text == again.text == reformatted.text
        assert dict(faults.seen) == {"PutItem": 3}  # one call a request, repeat or not
        assert len(boto.scan(stack.names.orders_table)) == 1
        assert outbox.drain() == 1
        assert len(boto.receive_all(stack.email.url, expect=1)) == 1
        assert len(boto.receive_all(stack.audit.url, expect=1)) == 1

    def test_the_same_key_with_another_body_is_422(
        self, api: Api, boto: Boto, stack: Provisioned, faults: FaultProxy
    ) -> None:
        headers = {"Idempotency-Key": "order-abc-2"}
        assert api.post(spec_order(), headers).status == 200

        response = api.post(spec_order() | {"customerName": "Jane Doe"}, headers)

        assert response.status == 422
        assert "Idempotency-Key" in response.json["message"]
        assert dict(faults.seen) == {"PutItem": 2}
        assert len(boto.scan(stack.names.orders_table)) == 1

    def test_keys_are_the_callers_own(self, api: Api, boto: Boto, stack: Provisioned) -> None:
        """The same key from two API keys names two orders; from one API key, one order."""

        def post(api_key_id: str) -> str:
            event = proxy_event(
                "POST",
                "/order",
                json.dumps(spec_order()),
                {"Content-Type": "application/json", "Idempotency-Key": "shared-key"},
            )
            event["requestContext"]["identity"]["apiKeyId"] = api_key_id
            response = api.invoke(event)
            assert response.status == 200
            order_id: str = response.json["orderId"]
            return order_id

        assert post("key-a") == post("key-a") != post("key-b")
        assert len(boto.scan(stack.names.orders_table)) == 2

    @pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tkey", "ключ"])
    def test_a_malformed_key_is_400(self, api: Api, key: str) -> None:
        response = api.post(spec_order(), {"Idempotency-Key": key})
        assert response.status == 400
        assert response.json["errors"][-1]["field"] == "Idempotency-Key"

    def test_a_retry_after_a_lost_answer_returns_the_first_order(
        self, stack: Provisioned, boto: Boto, faults: FaultProxy, outbox: Outbox
    ) -> None:
        """The write lands but its answer comes too late (the container would have died or
        timed out): the client's retry gets the order that was stored, and nothing doubles."""
        headers = {"Idempotency-Key": "order-abc-3"}
        faults.inject("PutItem", "slow", times=1, delay=2.0)
        api = Api(settings_for(stack, REQUEST_BUDGET_SECONDS="0.5"), faults.url)
        try:
            assert api.post(spec_order(), headers).status == 500
            stored = boto.wait_for_items(stack.names.orders_table, 1)[0]
            retried = api.post(spec_order(), headers)
        finally:
            api.close()

        assert retried.status == 200
        assert retried.json["orderId"] == stored["OrderId"]["S"]
        assert retried.json["createdAt"] == stored["CreatedAt"]["S"]
        assert len(boto.scan(stack.names.orders_table)) == 1
        assert outbox.drain() == 1
        [message] = boto.receive_all(stack.email.url, expect=1)
        assert json.loads(message["Body"])["orderId"] == stored["OrderId"]["S"]

    def test_concurrent_repeats_get_one_order_and_one_answer(
        self, stack: Provisioned, faults: FaultProxy, boto: Boto, outbox: Outbox
    ) -> None:
        headers = {"Idempotency-Key": "order-abc-4"}
        containers = [Api(settings_for(stack), faults.url) for _ in range(4)]
        try:
            with ThreadPoolExecutor(len(containers)) as pool:
                answers = list(pool.map(lambda c: c.post(spec_order(), headers), containers))
        finally:
            for container in containers:
                container.close()

        assert {answer.status for answer in answers} == {200}
        assert len({answer.text for answer in answers}) == 1
        assert len(boto.scan(stack.names.orders_table)) == 1
        assert outbox.drain() == 1
