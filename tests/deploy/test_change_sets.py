"""``python -m cfn.deploy``: change sets planned, shown and executed against moto's
CloudFormation over HTTP, and the command's answers to bad input."""

import http.server
import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from cfn.bundle import FUNCTIONS
from cfn.deploy import Change, StackDeployer, changes, markdown
from tests.support.commands import run
from tests.support.moto_server import MotoServer


def _template(queue: str, topic_name: str | None = None) -> str:
    resources: dict[str, Any] = {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue}},
    }
    if topic_name:
        resources["Topic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": topic_name}}
    return json.dumps(
        {
            "Parameters": {
                "CodeVersion": {"Type": "String"},
                "EnvironmentName": {"Type": "String"},
            },
            "Resources": resources,
            "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
        }
    )


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto keeps its resources per process, across servers: reset them for the next tests."""
    server = MotoServer().start()
    yield server
    requests.post(f"{server.url}/moto-api/reset", timeout=10).raise_for_status()
    server.stop()


@pytest.fixture
def cloudformation(moto: MotoServer) -> Any:
    return boto3.client(
        "cloudformation",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


PARAMS = [
    {"ParameterKey": "EnvironmentName", "ParameterValue": "dev"},
    {"ParameterKey": "CodeVersion", "ParameterValue": "abc"},
]


def test_plan_then_execute_creates_the_stack_and_a_second_plan_shows_the_change(
    cloudformation: Any, tmp_path: Path
) -> None:
    out = io.StringIO()
    deployer = StackDeployer(cloudformation, "dev-cs-one", out)
    template = tmp_path / "packaged.yaml"
    template.write_text(_template("dev-cs-one-queue"))
    summary = tmp_path / "summary.md"

    planned = deployer.plan(template, PARAMS, "first", summary=summary, poll_seconds=1)
    assert planned is not None
    assert [(c.action, c.logical_id) for c in planned] == [("Add", "Queue")]
    # Planned, not run: nothing exists yet.
    assert cloudformation.describe_stacks(StackName="dev-cs-one")["Stacks"][0]["StackStatus"] in (
        "REVIEW_IN_PROGRESS",
    )
    deployer.execute("first", poll_seconds=1)
    stack = cloudformation.describe_stacks(StackName="dev-cs-one")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    resources = cloudformation.list_stack_resources(StackName="dev-cs-one")
    assert [
        r["PhysicalResourceId"].rsplit("/", 1)[-1] for r in resources["StackResourceSummaries"]
    ] == ["dev-cs-one-queue"]

    template.write_text(_template("dev-cs-one-queue", topic_name="dev-cs-one-topic"))
    second = deployer.plan(template, PARAMS, "second", summary=summary, poll_seconds=1)
    assert second is not None
    assert ("Add", "Topic") in [(c.action, c.logical_id) for c in second]
    deployer.execute("second", poll_seconds=1)

    text = summary.read_text()
    assert "### Change set `first` for stack `dev-cs-one`" in text
    assert "| dev-cs-one | Add | Topic | AWS::SNS::Topic |" in text
    assert "change set second: executing" in out.getvalue()


def test_an_unchanged_template_plans_nothing_and_executes_nothing(
    cloudformation: Any, tmp_path: Path
) -> None:
    deployer = StackDeployer(cloudformation, "dev-cs-same", io.StringIO())
    template = tmp_path / "packaged.yaml"
    template.write_text(_template("dev-cs-same-queue"))
    assert deployer.plan(template, PARAMS, "first", poll_seconds=1)
    deployer.execute("first", poll_seconds=1)
    summary = tmp_path / "summary.md"
    assert deployer.plan(template, PARAMS, "again", summary=summary, poll_seconds=1) is None
    assert "No changes" in summary.read_text()


def test_executing_a_change_set_that_was_never_planned_says_so(cloudformation: Any) -> None:
    from cfn.deploy import DeployError

    deployer = StackDeployer(cloudformation, "dev-cs-none", io.StringIO())
    with pytest.raises(DeployError, match="has no change set gh-9-1: run plan first"):
        deployer.execute("gh-9-1")


class RecordedChangeSets:
    """Stands in for real CloudFormation, which moto does not match here: moto creates nested
    stacks but does not report the nested change sets of ``IncludeNestedStacks``. The answers
    below have the shape of real ``DescribeChangeSet`` responses (a nested stack's change
    carries its ``ChangeSetId``)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[dict[str, Any]]] = {
            ("prod-order-pipeline", "gh-7-1"): [
                {
                    "Changes": [
                        {
                            "Type": "Resource",
                            "ResourceChange": {
                                "Action": "Modify",
                                "LogicalResourceId": "Functions",
                                "PhysicalResourceId": "arn:stack/prod-order-pipeline-Functions-X",
                                "ResourceType": "AWS::CloudFormation::Stack",
                                "Replacement": "False",
                                "ChangeSetId": "arn:changeSet/nested-1",
                            },
                        }
                    ],
                    "NextToken": "page-2",
                },
                {"Changes": []},
            ],
            ("arn:stack/prod-order-pipeline-Functions-X", "arn:changeSet/nested-1"): [
                {
                    "Changes": [
                        {
                            "Type": "Resource",
                            "ResourceChange": {
                                "Action": "Modify",
                                "LogicalResourceId": "OrderApiFunction",
                                "ResourceType": "AWS::Lambda::Function",
                                "Replacement": "False",
                            },
                        },
                        {
                            "Type": "Resource",
                            "ResourceChange": {
                                "Action": "Add",
                                "LogicalResourceId": "OrderApiVersionabc",
                                "ResourceType": "AWS::Lambda::Version",
                            },
                        },
                    ]
                }
            ],
        }

    def describe_change_set(self, **kwargs: str) -> dict[str, Any]:
        pages = self.answers[(kwargs["StackName"], kwargs["ChangeSetName"])]
        return pages[1] if kwargs.get("NextToken") else pages[0]


def test_the_plan_lists_the_changes_inside_nested_stacks() -> None:
    found = changes(RecordedChangeSets(), "prod-order-pipeline", "gh-7-1")
    assert [c.row() for c in found] == [
        ("prod-order-pipeline", "Modify", "Functions", "AWS::CloudFormation::Stack", "False"),
        (
            "prod-order-pipeline / Functions",
            "Modify",
            "OrderApiFunction",
            "AWS::Lambda::Function",
            "False",
        ),
        (
            "prod-order-pipeline / Functions",
            "Add",
            "OrderApiVersionabc",
            "AWS::Lambda::Version",
            "-",
        ),
    ]
    text = markdown("prod-order-pipeline", "gh-7-1", found)
    assert "| prod-order-pipeline / Functions | Modify | OrderApiFunction |" in text
    assert "1 add, 2 modify, 0 remove" in text


def test_markdown_cells_cannot_break_the_table() -> None:
    row = Change("s", "Add", "A|B", "AWS::X::Y", "-")
    assert "A\\|B" in markdown("s", "c", [row])


def _deploy_command(*args: str, env: dict[str, str] | None = None) -> Any:
    return run(sys.executable, "-m", "cfn.deploy", *args, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "--stack", "x"], "the following arguments are required: --template, --params"),
        (["plan", "--stack", "two words", "--template", "t", "--params", "p"], "not a stack name"),
        (["execute", "--stack", "dev-x"], "--name of the planned change set is required"),
        (["execute", "--stack", "dev-x", "--name", "$(touch pwned)"], "not a change set name"),
        (["execute", "--stack", "dev-x", "--name", "a", "--poll", "0"], "from 1 to 60"),
        (
            ["plan", "--stack", "s", "--template", "t", "--params", "p", "--role-arn", "admin"],
            "not an IAM role ARN",
        ),
    ],
)
def test_bad_arguments_get_one_clear_line(args: list[str], message: str) -> None:
    result = _deploy_command(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_template_or_missing_zips_stop_before_any_aws_call(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    params = Path("cfn/params/dev.json")
    no_template = _deploy_command(
        "plan",
        "--stack",
        "dev-x",
        "--template",
        str(tmp_path / "nope.yaml"),
        "--params",
        str(params),
        "--code",
        str(tmp_path),
        env=env,
    )
    assert no_template.returncode == 1
    assert "no packaged template at" in no_template.stderr
    (tmp_path / "packaged.yaml").write_text("{}")
    no_zips = _deploy_command(
        "plan",
        "--stack",
        "dev-x",
        "--template",
        str(tmp_path / "packaged.yaml"),
        "--params",
        str(params),
        "--code",
        str(tmp_path),
        env=env,
    )
    assert no_zips.returncode == 1
    assert f"lacks {FUNCTIONS[0].zip_name}" in no_zips.stderr
    assert "Traceback" not in no_template.stderr + no_zips.stderr


def test_an_answer_that_cannot_be_read_is_one_line_not_a_traceback() -> None:
    """Seen rehearsing a deploy against an emulator: a plain-text 500 from ExecuteChangeSet."""

    class PlainText500(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"Internal Server Error"
            self.send_response(500)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PlainText500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = _deploy_command(
            "execute", "--stack", "dev-x", "--name", "a",
            env={
                **os.environ,
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_MAX_ATTEMPTS": "1",
            },
        )  # fmt: skip
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "python -m cfn.deploy execute: CloudFormation's answer could not be read"
    )
    assert "Internal Server Error" in line
