"""``api.handler.handler``, the Lambda entry: config from the environment, one loop per container."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import handler as entry
from contracts.sample_data import sample
from local.aws.provision import Provisioned
from runtime.lambda_context import LocalLambdaContext
from tests.support.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[2]


def lambda_env(stack: Provisioned, moto: MotoServer) -> dict[str, str]:
    return {
        "ORDER_TABLE_NAME": stack.names.orders_table,
        "AWS_ENDPOINT_URL": moto.url,
    }


def test_warm_invocations_reuse_the_loop_and_clients(
    stack: Provisioned, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in lambda_env(stack, moto).items():
        monkeypatch.setenv(name, value)
    entry.function_from_environment.cache_clear()
    try:
        first = entry.handler(sample("apigw.post_order.json"), LocalLambdaContext("order-api"))
        function = entry.function_from_environment()
        client = function._clients._clients["dynamodb"]
        second = entry.handler(sample("apigw.post_order.json"), LocalLambdaContext("order-api"))
        assert entry.function_from_environment() is function
        assert function._clients._clients["dynamodb"] is client
    finally:
        entry.function_from_environment().close()
        entry.function_from_environment.cache_clear()
    assert first["statusCode"] == second["statusCode"] == 200
    assert json.loads(first["body"])["orderId"] != json.loads(second["body"])["orderId"]


def run_cold(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = (
        "import json, sys\n"
        "from api.handler import handler\n"
        "from runtime.lambda_context import LocalLambdaContext\n"
        "from contracts.sample_data import sample\n"
        "r = handler(sample('apigw.post_order.json'), LocalLambdaContext('order-api'))\n"
        "print('RESULT', json.dumps(r))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_TABLE_NAME", "_TOPIC_ARN"))}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_cold_process_serves_its_first_request_from_environment_config(
    stack: Provisioned, moto: MotoServer
) -> None:
    result = run_cold(lambda_env(stack, moto))
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert json.loads(line.removeprefix("RESULT "))["statusCode"] == 200


@pytest.mark.parametrize(
    ("drop", "override", "named"),
    [
        ("ORDER_TABLE_NAME", {}, "ORDER_TABLE_NAME is required"),
        (None, {"ORDER_TABLE_NAME": "no spaces allowed"}, "ORDER_TABLE_NAME is invalid"),
        (None, {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL is invalid"),
        (None, {"REQUEST_BUDGET_SECONDS": "45"}, "REQUEST_BUDGET_SECONDS is invalid"),
    ],
)
def test_a_bad_variable_fails_at_start_naming_it(
    stack: Provisioned, moto: MotoServer, drop: str | None, override: dict[str, str], named: str
) -> None:
    env = lambda_env(stack, moto) | override
    if drop:
        del env[drop]
    result = run_cold(env)
    assert result.returncode != 0
    assert "ConfigError" in result.stderr
    assert named in result.stderr
    assert "RESULT" not in result.stdout
