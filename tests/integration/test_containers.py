"""Lambda containers of the local stack started together (``local.lambda_runtime.container``)."""

import asyncio
import json
import os
from pathlib import Path

import pytest

from local.lambda_runtime.container import (
    ContainerTemplate,
    FunctionFailed,
    LambdaContainer,
    start_all,
)
from runtime.lambda_context import LocalLambdaContext

ROOT = Path(__file__).resolve().parents[2]


def template(tmp_path: Path, name: str, source: str) -> ContainerTemplate:
    """A function whose entry module is ``source``, importable from ``tmp_path``."""
    (tmp_path / f"{name}.py").write_text(source)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(ROOT)))}
    return ContainerTemplate(f"{name}:handler", name, 3.0, environment, tmp_path / "logs")


async def test_when_one_function_fails_to_start_no_other_is_left_half_started(
    tmp_path: Path,
) -> None:
    """A failing start cancels its siblings' and waits for them, so the error raised is the
    failing function's own and nothing it started is left running."""
    slow_started = tmp_path / "slow-started"
    slow = template(
        tmp_path,
        "slow_entry",
        f"import pathlib, time\npathlib.Path({str(slow_started)!r}).touch()\ntime.sleep(60)\n"
        "def handler(event, context):\n    return {{}}\n",
    )
    bad = template(
        tmp_path,
        "bad_entry",
        f"import pathlib, time\nwhile not pathlib.Path({str(slow_started)!r}).exists():\n"
        "    time.sleep(0.01)\nraise RuntimeError('EMAIL_FROM is invalid')\n",
    )
    containers = [LambdaContainer(slow), LambdaContainer(slow), LambdaContainer(bad)]
    with pytest.raises(FunctionFailed, match="bad_entry: RuntimeError: EMAIL_FROM is invalid"):
        await asyncio.wait_for(start_all(containers), timeout=50)
    assert not slow.running
    assert not bad.running
    await asyncio.gather(slow.stop(), bad.stop())


async def test_containers_started_together_answer_each_in_a_process_of_its_own(
    tmp_path: Path,
) -> None:
    echo = template(
        tmp_path,
        "echo_entry",
        "import os\ndef handler(event, context):\n    return {'pid': os.getpid(), **event}\n",
    )
    containers = [LambdaContainer(echo), LambdaContainer(echo)]
    try:
        await start_all(containers)
        answers = [
            await container.invoke({"n": n}, LocalLambdaContext("echo_entry", 3.0))
            for n, container in enumerate(containers)
        ]
        assert [answer["n"] for answer in answers] == [0, 1]
        assert answers[0]["pid"] != answers[1]["pid"]  # a process per container
    finally:
        await asyncio.gather(*(container.stop() for container in containers))
        await echo.stop()


async def test_a_raising_handler_and_a_timeout_are_written_in_the_functions_log(
    tmp_path: Path,
) -> None:
    """As Lambda logs them: the handler's error as one event (here one JSON line), and a
    timeout by the platform, since the container is killed."""
    source = (
        "import time\n"
        "def handler(event, context):\n"
        "    if event.get('sleep'):\n"
        "        time.sleep(event['sleep'])\n"
        "    raise ValueError('boom')\n"
    )
    (tmp_path / "failing_entry.py").write_text(source)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(ROOT)))}
    failing = ContainerTemplate(
        "failing_entry:handler", "failing_entry", 1.0, environment, tmp_path / "logs"
    )
    container = LambdaContainer(failing)
    try:
        with pytest.raises(FunctionFailed, match="ValueError: boom"):
            await container.invoke(
                {}, LocalLambdaContext("failing_entry", 1.0, aws_request_id="r1")
            )
        with pytest.raises(FunctionFailed, match="timed out after 1 s"):
            await container.invoke(
                {"sleep": 30}, LocalLambdaContext("failing_entry", 1.0, aws_request_id="r2")
            )
    finally:
        await container.stop()
        await failing.stop()
    lines = (tmp_path / "logs" / "functions.log").read_text().splitlines()
    [error] = [json.loads(line) for line in lines if line.startswith('{"level": "ERROR"')]
    assert (error["requestId"], error["errorType"], error["errorMessage"]) == (
        "r1",
        "ValueError",
        "boom",
    )
    assert "raise ValueError('boom')" in "".join(error["stackTrace"])
    assert any(line.endswith("r2 Task timed out after 1.00 seconds") for line in lines), lines


async def test_a_templates_answer_pipe_ends_after_ready_though_its_containers_live_on(
    tmp_path: Path,
) -> None:
    """A forked container does not hold the template's answer pipe: orders up's end of it
    closes at once, not when the last container ends (one outlived orders up's loop and its
    clean-up printed "Event loop is closed" over the error it was stopping for)."""
    echo = template(tmp_path, "pipe_entry", "def handler(event, context):\n    return {}\n")
    container = LambdaContainer(echo)
    try:
        await container.start()
        process = echo._process  # what orders up holds of the template
        assert process is not None
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.read(), 30) == b""  # EOF after READY
        answer = await container.invoke({}, LocalLambdaContext("pipe_entry", 3.0))
        assert answer == {}  # the container lives on
    finally:
        await container.stop()
        await echo.stop()
