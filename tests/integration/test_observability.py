"""Logs and metrics of the Order API (SPEC §8; properties 14-17), read from the real outputs."""

import json
from typing import Any

import pytest

from contracts.sample_data import sample
from tests.support.api import Api, captured_logs
from tests.support.fault_proxy import FaultProxy

EMAIL = "john.doe@example.com"


def emf_metrics(stdout: str) -> dict[str, float]:
    """Metric name → summed value over the EMF documents Powertools printed."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "OrderPipeline"
            for metric in directive["Metrics"]:
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    document[metric["Name"]]
                )
    return totals


def test_every_request_logs_its_request_id(api: Api) -> None:
    with captured_logs() as logs:
        response = api.post(sample("order_request.spec_example.json"))
        api.post({"customerName": "x"})
    assert response.status == 200
    lines = logs()
    handled = [line for line in lines if line["message"] == "request handled"]
    assert len(handled) == 2
    for line in lines:
        assert line["correlation_id"], line
        assert line["component"] == "api"
        assert line["level"]
        assert line["timestamp"]
        assert line["service"] == "order-api"
    assert {line["status"] for line in handled} == {200, 400}
    # The request id once a line (Powertools' correlation_id), not twice.
    assert all("requestId" not in line for line in lines)
    assert not {"function_arn", "function_memory_size", "location"} & set().union(*lines)
    accepted = next(line for line in handled if line["status"] == 200)
    assert accepted["orderId"] == response.json["orderId"]
    assert "orderId" not in next(line for line in handled if line["status"] == 400)


def test_a_validation_failure_logs_its_errors(api: Api) -> None:
    with captured_logs() as logs:
        api.post({"customerName": "J", "customerEmail": EMAIL, "items": []})
    [line] = [line for line in logs() if line["message"] == "validation failed"]
    assert line["level"] == "WARNING"
    assert {e["field"] for e in line["errors"]} == {"customerName", "items"}


def test_an_error_logs_message_and_stack_trace(api: Api, faults: FaultProxy) -> None:
    faults.inject("PutItem", "server_error")
    with captured_logs() as logs:
        response = api.post(sample("order_request.spec_example.json"))
    [line] = [line for line in logs() if line["level"] == "ERROR"]
    assert line["message"] == "request failed"
    assert "Traceback" in line["exception"]
    assert line["exception_name"] == "InternalServerError"  # botocore's modeled ClientError
    assert line["correlation_id"] == response.json["requestId"]
    retries = [line for line in logs() if line["message"] == "transient AWS error, retrying"]
    assert [r["attempt"] for r in retries] == [1, 2, 3]


@pytest.mark.parametrize(
    "body",
    [
        sample("order_request.spec_example.json"),
        {"customerName": "J", "customerEmail": EMAIL, "items": []},
        {
            "customerName": "John",
            "customerEmail": EMAIL,
            "items": [{"productId": "p", "quantity": 1, "price": 1}],
            EMAIL: 1,
        },
    ],
)
def test_no_log_line_carries_a_plain_email(api: Api, faults: FaultProxy, body: Any) -> None:
    faults.inject("Publish", "server_error", times=1)
    with captured_logs() as logs:
        api.post(body)
    assert logs()
    assert EMAIL not in json.dumps(logs())


def test_an_email_in_any_log_field_is_masked() -> None:
    from api.observability import logger

    with captured_logs() as logs:
        logger.info(f"sending to {EMAIL}", extra={"nested": {"to": [EMAIL]}})
        try:
            raise ValueError(f"bad address {EMAIL}")
        except ValueError:
            logger.exception("failed")
    text = json.dumps(logs())
    assert EMAIL not in text
    assert text.count("j***@example.com") >= 4


def test_metrics_count_received_processed_failed_and_invalid(
    api: Api, faults: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    order = sample("order_request.spec_example.json")
    api.post(order)
    api.post({"customerName": "J"})
    faults.inject("PutItem", "server_error")
    api.post(order)

    totals = emf_metrics(capsys.readouterr().out)

    assert totals["OrdersReceived"] == 3
    assert totals["OrdersProcessed"] == 1
    assert totals["ValidationErrors"] == 1
    assert totals["OrdersFailed"] == 1
