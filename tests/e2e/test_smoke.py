"""``orders smoke`` against a real ``orders up``: a PASS with every check, and a FAIL line that
names the step when the consumers are stopped or the API is down."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.moto_server import free_port
from tests.support.stack_process import (
    ONE_OF_EACH,
    ROOT,
    StackProcess,
    descendants,
    start_with_emulator,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackProcess, str]]:
    started, aws = start_with_emulator(tmp_path_factory.mktemp("smoke"), *ONE_OF_EACH)
    yield started, aws
    started.stop()


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "local.cli", "smoke", *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_smoke_passes_against_the_local_stack_checking_every_step(
    stack: tuple[StackProcess, str],
) -> None:
    running, aws = stack
    result = smoke("--api", running.api, "--env", "dev", "--aws", aws, "--within", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("smoke: POST /order -> 200, order ")
    assert lines[1].startswith("smoke: GET /order/")
    assert "the order as sent" in lines[1]
    assert lines[2].startswith("smoke: an audit record in dev-AuditLogs after ")
    assert lines[3].startswith("smoke: its email marked sent in dev-Idempotency after ")
    assert lines[4].startswith(f"smoke: PASS against {running.api} in ")
    assert result.stderr == ""


def test_without_aws_access_it_checks_the_api_and_says_what_it_skipped(
    stack: tuple[StackProcess, str],
) -> None:
    running, _ = stack
    result = smoke("--api", running.api)
    assert result.returncode == 0, result.stdout
    assert "audit record, email: not checked (no AWS access given" in result.stdout


def _consumers(pid: int) -> list[int]:
    """The consumer fleet process (a child of orders up) and its function containers."""
    for child in descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"local.lambda_runtime.consumer_fleet" in command:
            return [child, *descendants(child)]
    return []


def test_smoke_fails_with_a_clear_line_when_the_consumers_are_stopped(
    stack: tuple[StackProcess, str],
) -> None:
    running, aws = stack
    consumers = _consumers(running.process.pid)
    assert len(consumers) >= 3  # the fleet and its email and audit containers
    for pid in consumers:
        os.kill(pid, signal.SIGSTOP)
    try:
        result = smoke("--api", running.api, "--env", "dev", "--aws", aws, "--within", "3")
    finally:
        for pid in consumers:
            os.kill(pid, signal.SIGCONT)
    assert result.returncode == 1
    last = result.stdout.splitlines()[-1]
    assert last.startswith("smoke: FAIL: order ")
    assert (
        "has no audit record in dev-AuditLogs after 3 s: the audit consumer is not processing"
        in last
    )
    assert "dev-OrderAuditDLQ" in last
    assert "Traceback" not in result.stdout + result.stderr


def test_smoke_against_a_stopped_api_fails_with_one_line() -> None:
    result = smoke("--api", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stdout.startswith("smoke: FAIL: POST /order: cannot reach http://127.0.0.1:")
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "one of the arguments --api --stack is required"),
        (["--api", "ftp://x"], "--api"),
        (["--api", "http://x", "--stack", "s"], "not allowed with argument"),
        (["--stack", "two words"], "not a CloudFormation stack name"),
        (["--api", "http://x", "--api-key", "short"], "20-128 printable ASCII"),
        (["--api", "http://x", "--api-key", "k" * 30 + "\n"], "20-128 printable ASCII"),
        (["--api", "http://x", "--env", "../etc"], "not an environment name"),
        (["--api", "http://x", "--within", "-1"], "out of range"),
        (["--api", "http://x", "--within", "soon"], "not a number of seconds"),
    ],
)
def test_bad_smoke_arguments_get_one_clear_line(args: list[str], message: str) -> None:
    result = smoke(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_smoke_reads_a_deployed_stack_for_its_url_key_and_environment(
    stack: tuple[StackProcess, str],
) -> None:
    """A stack made in the local emulator stands for a deployed one: its outputs point at the
    local API, its API key is a real API Gateway key of the emulator."""
    running, aws = stack
    clients = {
        "endpoint_url": aws,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    key = boto3.client("apigateway", **clients).create_api_key(
        name="smoke-test", value="k" * 24, enabled=True
    )
    body = {
        "Parameters": {"EnvironmentName": {"Type": "String"}},
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "ApiUrl": {"Value": running.api + "/"},
            "ApiKeyId": {"Value": key["id"]},
        },
    }
    boto3.client("cloudformation", **clients).create_stack(
        StackName="dev-order-pipeline",
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "EnvironmentName", "ParameterValue": "dev"}],
    )
    result = smoke("--stack", "dev-order-pipeline", "--aws", aws, "--within", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "an audit record in dev-AuditLogs after" in result.stdout
    assert f"PASS against {running.api} in" in result.stdout

    missing = smoke("--stack", "prod-order-pipeline", "--aws", aws)
    assert missing.returncode == 1
    assert missing.stdout.startswith("smoke: FAIL: AWS call failed: ")
    assert "prod-order-pipeline" in missing.stdout
