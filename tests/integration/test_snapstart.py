"""SnapStart hooks: before the snapshot a function loads botocore's models and lets go of its
loop and clients; after a restore it makes a new loop and serves as before.

Lambda's ``snapshot_restore_py`` exists only in Lambda's runtime: a stand-in module records the
hooks registered with it, and the test calls them as the runtime would. Everything else is
real: the handler, its clients and moto over HTTP.
"""

import json
import os
import random
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from botocore.loaders import JSONFileLoader

from consumers.audit.handler import AuditFunction
from contracts.sample_data import sample_text
from local.aws.provision import Provisioned
from runtime.aws import AwsClients
from runtime.snapstart import prepare_at_init
from tests.support.api import Api, settings_for
from tests.support.consumers import audit_settings
from tests.support.moto_server import MotoServer


class LambdaRuntime:
    """Records what a function registers with ``snapshot_restore_py``."""

    def __init__(self) -> None:
        self.before: list[Callable[[], None]] = []
        self.after: list[Callable[[], None]] = []

    def module(self) -> types.ModuleType:
        module = types.ModuleType("snapshot_restore_py")
        module.register_before_snapshot = self.before.append  # type: ignore[attr-defined]
        module.register_after_restore = self.after.append  # type: ignore[attr-defined]
        return module


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> LambdaRuntime:
    recorded = LambdaRuntime()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", recorded.module())
    return recorded


class ModelLoads:
    """Counts the botocore JSON files read from disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files: list[str] = []
        original = JSONFileLoader.load_file

        def counting(loader: JSONFileLoader, file_path: str) -> Any:
            self.files.append(file_path)
            return original(loader, file_path)

        monkeypatch.setattr(JSONFileLoader, "load_file", counting)


def test_without_snapstart_nothing_is_registered(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    built: list[str] = []

    def function() -> Any:
        built.append("built")

    assert prepare_at_init(function) is False
    assert built == []
    assert runtime.before == []
    assert runtime.after == []


def test_the_order_api_serves_after_a_restore_without_loading_a_model_again(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch, stack: Provisioned, moto: MotoServer
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    api = Api(settings_for(stack), moto.url)
    assert prepare_at_init(lambda: api.function) is True
    [before], [after] = runtime.before, runtime.after

    before()  # Lambda: init done, snapshot now
    runner = vars(api.function)["_runner"]
    assert runner.loop.is_closed()  # no loop, selector or connection in the snapshot
    assert vars(api.function)["_clients"]._clients == {}

    loads = ModelLoads(monkeypatch)
    state = random.getstate()
    after()  # a new container resumes from the snapshot
    assert random.getstate() != state
    assert not runner.loop.is_closed()
    response = api.post(json.loads(sample_text("order_request.spec_example.json")))
    assert response.status == 200, response.text
    assert [f for f in loads.files if "service-2" in f or "endpoints" in f] == []
    assert api.get(response.json["orderId"]).status == 200
    api.close()


def test_a_consumer_serves_after_a_restore(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch, stack: Provisioned, moto: MotoServer
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    function = AuditFunction(audit_settings(stack), clients=AwsClients(endpoint_url=moto.url))
    prepare_at_init(lambda: function)
    runtime.before[0]()
    loads = ModelLoads(monkeypatch)
    runtime.after[0]()
    record = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": sample_text("order_created.v1.valid.json"),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": stack.audit.arn,
    }
    assert function({"Records": [record]}, None) == {"batchItemFailures": []}
    assert [f for f in loads.files if "service-2" in f] == []
    function.close()


def test_an_init_without_snapstart_makes_the_clients_before_the_first_request(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch, stack: Provisioned, moto: MotoServer
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    api = Api(settings_for(stack), moto.url)
    assert prepare_at_init(lambda: api.function) is True
    assert runtime.before == runtime.after == []  # no SnapStart hooks
    assert set(vars(api.function)["_clients"]._clients) == {"dynamodb"}

    loads = ModelLoads(monkeypatch)
    response = api.post(json.loads(sample_text("order_request.spec_example.json")))
    assert response.status == 200, response.text
    assert [f for f in loads.files if "service-2" in f or "endpoints" in f] == []
    api.close()


@pytest.mark.parametrize(
    ("module", "unset"),
    [
        ("api.handler", "ORDER_TABLE_NAME"),
        ("api.publisher_function", "ORDER_TOPIC_ARN"),
        ("consumers.audit.handler", "AUDIT_TABLE_NAME"),
        ("consumers.email.handler", "IDEMPOTENCY_TABLE_NAME"),
    ],
)
def test_a_bad_setting_fails_an_init_without_snapstart_naming_it(module: str, unset: str) -> None:
    """Lambda's init is the import of the handler's module: run it as Lambda does."""
    env = {
        **os.environ,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "ORDER_TABLE_NAME": "t",
        "ORDER_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
        "POISON_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/poison",
        "AUDIT_TABLE_NAME": "t",
        "IDEMPOTENCY_TABLE_NAME": "t",
        "EMAIL_FROM": "orders@shop.example.com",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    }
    del env[unset]
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("runtime.config.ConfigError: "), result.stderr
    assert unset in last
