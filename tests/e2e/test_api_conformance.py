"""The API as its OpenAPI document describes it: schemathesis against a running ``orders up``,
a bounded number of generated requests per operation (valid and invalid ones, and stateful
sequences that create an order and read it back).

Its checks: no 5xx, every status documented, every response's content type, headers and body
as documented. Not "a body the schema allows is accepted": the API also trims text before
counting its length and checks that echoed amounts add up, which no JSON Schema says, so such a
body may rightly be answered 400.
"""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.openapi import PATH
from tests.support.commands import run
from tests.support.moto_server import free_port
from tests.support.stack_process import ONE_OF_EACH, StackProcess, start_orders_up

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="module")
def stack(workdir: Path) -> Iterator[StackProcess]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    process = start_orders_up(
        workdir,
        *("--aws-port", str(free_port()), "--outbox", str(workdir / "outbox")),
        *ONE_OF_EACH,
        env=env,
    )
    yield process
    code, output, _ = process.stop()
    assert code == 0, output


def test_every_answer_conforms_to_the_openapi_document(stack: StackProcess, workdir: Path) -> None:
    result = run(
        *(str(Path(sys.executable).with_name("schemathesis")), "run", str(PATH)),
        *("--url", stack.api, "--checks", ",".join(CHECKS)),
        *("--max-examples", "25", "--workers", "1", "--request-timeout", "10"),
        *("--generation-database", "none", "--no-color"),
        timeout=300,
        cwd=workdir,  # schemathesis keeps a cache folder where it runs
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
