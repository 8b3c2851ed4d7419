"""The local stack's clients send the same requests: the User-Agent header with cleaned parts
remembered, the same body without botocore's parameter validation.

The test stops each call at ``before-send`` (answering it there, so nothing leaves the process:
only the request itself is under test) and compares what botocore built each way.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import botocore.auth
import botocore.session
import botocore.useragent
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ParamValidationError

from local.lambda_runtime import client_costs


class Answered:
    """Answers every request at ``before-send`` with an empty 200, keeping its headers."""

    def __init__(self) -> None:
        self.user_agents: list[bytes] = []
        self.bodies: list[bytes] = []
        self.signatures: list[bytes] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.user_agents.append(request.headers["User-Agent"])
        self.bodies.append(request.body)
        self.signatures.append(request.headers["Authorization"])
        return AWSResponse(request.url, 200, HTTPHeaders(), RawBody(b"{}"))


class RawBody:
    """What an answer's raw stream offers botocore."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def restore() -> Iterator[None]:
    yield
    client_costs.install(on=False)


def user_agents(on: bool) -> list[bytes]:
    client_costs.install(on=on)
    session = botocore.session.get_session()
    answered = Answered()
    session.register("before-send", answered)  # type: ignore[arg-type]
    for service, operation in (("dynamodb", "list_tables"), ("sqs", "list_queues")):
        client = session.create_client(
            service,
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        for _ in range(3):
            getattr(client, operation)()
    return answered.user_agents


def test_the_user_agent_is_the_same_string_with_parts_remembered(restore: None) -> None:
    own = user_agents(on=False)
    remembered = user_agents(on=True)
    assert len(own) == 6
    assert remembered == own
    assert own[0].startswith(b"Botocore/")
    assert client_costs._remembered.cache_info().hits > 0


def test_a_botocore_it_was_not_written_for_is_left_as_it_ships(
    restore: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botocore, "__version__", "9.9.9")
    client_costs.install()
    assert botocore.useragent.sanitize_user_agent_string_component is client_costs._botocore_own


ORDER_ITEM = {
    "OrderId": {"S": "o-1"},
    "Items": {"L": [{"M": {"ProductId": {"S": "p"}, "Quantity": {"N": "2"}}}]},
    "Tags": {"SS": ["a", "b"]},
    "Gift": {"BOOL": False},
}


def put_items(on: bool, *items: dict[str, Any]) -> Answered:
    client_costs.install(on=on)
    session = botocore.session.get_session()
    answered = Answered()
    session.register("before-send", answered)  # type: ignore[arg-type]
    client: Any = session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    for item in items:
        client.put_item(
            TableName="Orders", Item=item, ConditionExpression="attribute_not_exists(OrderId)"
        )
    return answered


def test_a_valid_call_sends_the_same_body_without_parameter_validation(restore: None) -> None:
    assert put_items(True, ORDER_ITEM).bodies == put_items(False, ORDER_ITEM).bodies


def test_an_invalid_parameter_is_left_to_the_server_not_refused_by_the_client(
    restore: None,
) -> None:
    """What the local stack gives up: the emulator answers such a call (a ValidationException,
    as AWS would); botocore's own clients refuse it before sending."""
    bad = {"OrderId": {"S": 7}}
    with pytest.raises(ParamValidationError):
        put_items(False, bad)
    assert len(put_items(True, bad).bodies) == 1


def test_the_signature_is_the_same_with_signed_hosts_remembered(
    restore: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At one instant (the signature covers the time), for an endpoint with a port and one
    without, each signed twice."""
    instant = datetime(2026, 11, 28, 10, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: instant)

    def signatures(on: bool) -> list[bytes]:
        client_costs.install(on=on)
        session = botocore.session.get_session()
        answered = Answered()
        session.register("before-send", answered)  # type: ignore[arg-type]
        for endpoint in ("http://127.0.0.1:4566", "https://dynamodb.us-east-1.amazonaws.com"):
            client: Any = session.create_client(
                "dynamodb",
                region_name="us-east-1",
                endpoint_url=endpoint,
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            for _ in range(2):
                client.list_tables()
        return answered.signatures

    own, remembered = signatures(on=False), signatures(on=True)
    assert remembered == own
    assert len(set(own)) == 2  # the two hosts sign differently
    assert client_costs._remembered_hosts.cache_info().hits > 0
