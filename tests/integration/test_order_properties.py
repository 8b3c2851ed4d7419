"""Properties 1, 3 and 4 through the real handler and moto: any valid order is accepted with a
fresh UUID4 and an ISO 8601 timestamp, stored as sent, and its complete event is published."""

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from local.aws.provision import Provisioned
from tests.support.api import Api, settings_for
from tests.support.aws import Boto, new_stack
from tests.support.moto_server import MotoServer
from tests.support.outbox import Outbox
from tests.unit.test_order_properties import encode, orders

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def module_stack(moto: MotoServer) -> Provisioned:
    return new_stack(moto.url)


@pytest.fixture(scope="module")
def module_api(module_stack: Provisioned, moto: MotoServer) -> Iterator[Api]:
    api = Api(settings_for(module_stack), moto.url)
    yield api
    api.close()


@pytest.fixture(scope="module")
def module_outbox(module_stack: Provisioned, moto: MotoServer) -> Iterator[Outbox]:
    relay = Outbox(module_stack, moto.url)
    yield relay
    relay.close()


seen_ids: set[str] = set()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=orders)
def test_any_valid_order_is_stored_and_published_whole(
    body: dict[str, Any],
    module_api: Api,
    module_stack: Provisioned,
    module_outbox: Outbox,
    moto: MotoServer,
) -> None:
    boto = Boto(moto.url)
    response = module_api.post(encode(body).decode())

    assert response.status == 200, response.text
    order_id = response.json["orderId"]
    assert UUID4.match(order_id)
    assert ISO_Z.match(response.json["createdAt"])
    assert order_id not in seen_ids
    seen_ids.add(order_id)

    stored = module_api.get(order_id).json
    assert stored["customerEmail"].lower() == body["customerEmail"].lower()  # domain is normalised
    assert stored["customerName"] == body["customerName"].strip()
    assert [Decimal(line["price"]) for line in stored["items"]] == [
        i["price"] for i in body["items"]
    ]
    assert [line["quantity"] for line in stored["items"]] == [i["quantity"] for i in body["items"]]

    assert module_outbox.drain() == 1  # its stream record, through the real publisher
    for queue in (module_stack.email.url, module_stack.audit.url):
        events = [json.loads(m["Body"]) for m in boto.receive_all(queue, expect=1)]
        assert [e["orderId"] for e in events] == [order_id]
        event = events[0]
        assert {k: event[k] for k in stored} == stored
